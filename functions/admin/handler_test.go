package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// ---- sample events and contract checks (the same in every API function's test)

const eventsDir = "../../events"

func decodeStrict(t testing.TB, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s into %T: %v", b, v, err)
	}
}

// apiEvent loads an API Gateway sample event into the exact type the
// function receives, replaces the sample's fixed ids (old, new pairs),
// puts p's authorizer context in (nil: as in the file) and gives it a
// fresh x-request-id.
func apiEvent(t testing.TB, rel string, p *domain.Principal, replace ...string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(eventsDir + "/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	if len(replace) > 0 {
		b = []byte(strings.NewReplacer(replace...).Replace(string(b)))
	}
	var ev events.APIGatewayV2HTTPRequest
	decodeStrict(t, b, &ev)
	if p != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: apigw.PrincipalContext(*p)}
	}
	ev.Headers["x-request-id"] = domain.NewID()
	return ev
}

func setBody(ev *events.APIGatewayV2HTTPRequest, body string) {
	ev.Body, ev.IsBase64Encoded = body, false
	ev.Headers["content-length"] = strconv.Itoa(len(body))
}

func setJSON(t testing.TB, ev *events.APIGatewayV2HTTPRequest, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	setBody(ev, string(b))
}

func setQuery(ev *events.APIGatewayV2HTTPRequest, q map[string]string) {
	v := url.Values{}
	for k, x := range q {
		v.Set(k, x)
	}
	ev.QueryStringParameters, ev.RawQueryString = q, v.Encode()
}

// serve invokes the function's Lambda handler and checks what every
// response carries: the client's X-Request-Id echoed (or a generated
// UUID), Cache-Control: no-store, nosniff, and the contract's error shape
// on every error.
func serve(t testing.TB, mux *apigw.Mux, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := mux.Lambda(context.Background(), ev)
	if err != nil {
		t.Fatalf("Lambda returned an error: %v", err)
	}
	rid := resp.Headers["X-Request-Id"]
	if sent := ev.Headers["x-request-id"]; domain.IsID(sent) && !strings.EqualFold(rid, sent) {
		t.Fatalf("X-Request-Id %q, want the client's %q", rid, sent)
	}
	if !domain.IsID(rid) || resp.Headers["Cache-Control"] != "no-store" || resp.Headers["X-Content-Type-Options"] != "nosniff" {
		t.Fatalf("%s: headers %v", ev.RouteKey, resp.Headers)
	}
	if resp.StatusCode == http.StatusInternalServerError {
		t.Fatalf("%s answered 500: %s", ev.RouteKey, resp.Body)
	}
	if resp.StatusCode >= 400 {
		requireErrorShape(t, resp)
	}
	return resp
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details *struct {
			Fields map[string]string `json:"fields"`
		} `json:"details,omitempty"`
	} `json:"error"`
}

func requireErrorShape(t testing.TB, resp events.APIGatewayV2HTTPResponse) errorBody {
	t.Helper()
	var e errorBody
	decodeStrict(t, []byte(resp.Body), &e)
	if e.Error.Code == "" || e.Error.Message == "" || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("error %d %s is not in the contract's shape", resp.StatusCode, resp.Body)
	}
	if got := apigw.StatusOf(domain.Code(e.Error.Code)); got != resp.StatusCode {
		t.Fatalf("status %d with code %s, which maps to %d", resp.StatusCode, e.Error.Code, got)
	}
	return e
}

// requireError checks status and code and, when fields are given, that
// details.fields names each of them.
func requireError(t testing.TB, resp events.APIGatewayV2HTTPResponse, status int, code domain.Code, fields ...string) errorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d %s: %s", resp.StatusCode, status, code, resp.Body)
	}
	e := requireErrorShape(t, resp)
	if e.Error.Code != string(code) {
		t.Fatalf("code %s, want %s: %s", e.Error.Code, code, resp.Body)
	}
	for _, f := range fields {
		if e.Error.Details == nil || e.Error.Details.Fields[f] == "" {
			t.Fatalf("details.fields does not name %q: %s", f, resp.Body)
		}
	}
	return e
}

// decodeResp checks the status and decodes the body strictly: a field
// the contract does not list fails.
func decodeResp[T any](t testing.TB, resp events.APIGatewayV2HTTPResponse, status int) T {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
	var v T
	decodeStrict(t, []byte(resp.Body), &v)
	return v
}

// ---- the admin function

// Fixed ids and values of the sample events (events/README.md).
const (
	sampleOrg        = "0193d2a0-0000-7000-8000-000000000001"
	sampleUser       = "0193d2a0-0000-7000-8000-00000000000d"
	sampleSA         = "0193d2a0-0000-7000-8000-00000000000a"
	sampleOrgName    = "Acme Bio"
	sampleAdminEmail = "admin@acme.example"
	sampleUserEmail  = "grace@acme.example"
)

type fixture struct {
	env   *apptest.Env
	mux   *apigw.Mux
	root  apptest.Member
	org   domain.Org
	admin apptest.Member
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := apptest.New(t, apptest.Options{})
	mux := newMux(handler{admin: env.Admin}, apigw.NewMux(routes.FnAdmin, apptest.Quiet))
	if err := mux.Check(); err != nil {
		t.Fatal(err)
	}
	org, admin := env.NewOrg(t)
	return &fixture{env: env, mux: mux, root: env.NewRoot(t), org: org, admin: admin}
}

type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

type quotasJSONOut struct {
	MaxActiveJobs   int   `json:"max_active_jobs"`
	MaxStorageBytes int64 `json:"max_storage_bytes"`
}

type orgOutJSON struct {
	OrgID     string        `json:"org_id"`
	Name      string        `json:"name"`
	Status    string        `json:"status"`
	Quotas    quotasJSONOut `json:"quotas"`
	CreatedAt string        `json:"created_at"`
}

type createdOrgJSON struct {
	OrgID       string `json:"org_id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	AdminUserID string `json:"admin_user_id"`
	CreatedAt   string `json:"created_at"`
}

type userOutJSON struct {
	UserID    string   `json:"user_id"`
	Email     string   `json:"email"`
	OrgID     string   `json:"org_id"`
	Roles     []string `json:"roles"`
	Enabled   bool     `json:"enabled"`
	CreatedAt string   `json:"created_at"`
}

type saOutJSON struct {
	ServiceAccountID string   `json:"service_account_id"`
	Name             string   `json:"name"`
	ClientID         string   `json:"client_id"`
	ClientSecret     string   `json:"client_secret"`
	Roles            []string `json:"roles"`
	CreatedAt        string   `json:"created_at"`
}

// saListJSON has no client_secret: a listing that showed it fails to decode.
type saListJSON struct {
	ServiceAccountID string   `json:"service_account_id"`
	Name             string   `json:"name"`
	ClientID         string   `json:"client_id"`
	Roles            []string `json:"roles"`
	CreatedAt        string   `json:"created_at"`
}

type auditOutJSON struct {
	ID         string         `json:"id"`
	TS         string         `json:"ts"`
	OrgID      *string        `json:"org_id"`
	ActorID    string         `json:"actor_id"`
	ActorType  string         `json:"actor_type"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	JobID      *string        `json:"job_id"`
	Outcome    string         `json:"outcome"`
	RequestID  string         `json:"request_id"`
	Detail     map[string]any `json:"detail"`
}

func requireTime(t *testing.T, s string) {
	t.Helper()
	if ts, err := time.Parse(time.RFC3339, s); err != nil || ts.Location() != time.UTC {
		t.Fatalf("%q is not an RFC 3339 UTC time", s)
	}
}

// checkPaging runs the contract's list parameter checks on a list event.
func checkPaging(t *testing.T, mux *apigw.Mux, ev events.APIGatewayV2HTTPRequest) {
	t.Helper()
	for _, q := range []map[string]string{{"limit": "0"}, {"limit": "201"}, {"limit": "ten"}, {"limit": "-1"}} {
		setQuery(&ev, q)
		requireError(t, serve(t, mux, ev), http.StatusBadRequest, domain.CodeValidation, "limit")
	}
	for _, c := range []string{"garbage", "djE6bm90LWEtdXVpZA", strings.Repeat("A", 3000)} {
		setQuery(&ev, map[string]string{"cursor": c})
		requireError(t, serve(t, mux, ev), http.StatusBadRequest, domain.CodeValidation, "cursor")
	}
}

func TestOrgs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := &f.root.Principal
	name, adminEmail := "Acme "+domain.NewID(), apptest.NewEmail("admin")

	ev := apiEvent(t, "apigw/admin/create-org.json", root, sampleOrgName, name, sampleAdminEmail, adminEmail)
	created := decodeResp[createdOrgJSON](t, serve(t, f.mux, ev), http.StatusCreated)
	if !domain.IsID(created.OrgID) || created.Name != name || created.Status != "active" || !domain.IsID(created.AdminUserID) {
		t.Fatalf("created org %+v", created)
	}
	requireTime(t, created.CreatedAt)
	requireError(t, serve(t, f.mux, ev), http.StatusConflict, domain.CodeConflict) // the name is taken
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/create-org.json", &f.admin.Principal)), http.StatusForbidden, domain.CodeForbidden)
	setJSON(t, &ev, map[string]any{"name": "x" + name, "admin_email": apptest.NewEmail("a"), "admin_password": apptest.TestPassword, "status": "suspended"})
	requireError(t, serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "status")
	setJSON(t, &ev, map[string]any{"name": "y" + name, "admin_email": "not an email", "admin_password": "short"})
	requireError(t, serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "admin_email", "admin_password")

	// The new org's admin can log in with the password of the request.
	if _, err := f.env.Auth.Login(context.Background(), app.PasswordLogin{Email: adminEmail, Password: apptest.TestPassword}); err != nil {
		t.Fatalf("login as the new org's admin: %v", err)
	}

	lst := apiEvent(t, "apigw/admin/list-orgs.json", root)
	orgs := decodeResp[list[orgOutJSON]](t, serve(t, f.mux, lst), http.StatusOK)
	if !slices.ContainsFunc(orgs.Items, func(o orgOutJSON) bool { return o.OrgID == created.OrgID }) {
		t.Fatalf("list of orgs lacks the new org")
	}
	setQuery(&lst, map[string]string{"limit": "1"})
	page := decodeResp[list[orgOutJSON]](t, serve(t, f.mux, lst), http.StatusOK)
	if len(page.Items) != 1 || page.NextCursor == nil {
		t.Fatalf("limit=1: %d items, cursor %v", len(page.Items), page.NextCursor)
	}
	setQuery(&lst, map[string]string{"limit": "1", "cursor": *page.NextCursor})
	next := decodeResp[list[orgOutJSON]](t, serve(t, f.mux, lst), http.StatusOK)
	if len(next.Items) != 1 || next.Items[0].OrgID == page.Items[0].OrgID {
		t.Fatalf("second page %+v after %+v", next.Items, page.Items)
	}
	checkPaging(t, f.mux, lst)
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/list-orgs.json", &f.admin.Principal)), http.StatusForbidden, domain.CodeForbidden)

	get := apiEvent(t, "apigw/admin/get-org.json", root, sampleOrg, f.org.ID)
	o := decodeResp[orgOutJSON](t, serve(t, f.mux, get), http.StatusOK)
	if o.OrgID != f.org.ID || o.Status != "active" || o.Quotas.MaxActiveJobs != domain.DefaultQuotas.MaxActiveJobs {
		t.Fatalf("org %+v", o)
	}
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/get-org.json", root, sampleOrg, domain.NewID())), http.StatusNotFound, domain.CodeOrgNotFound)
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/get-org.json", root, sampleOrg, "acme")), http.StatusBadRequest, domain.CodeValidation, "org_id")
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/get-org.json", &f.admin.Principal, sampleOrg, f.org.ID)), http.StatusForbidden, domain.CodeForbidden)

	upd := apiEvent(t, "apigw/admin/update-org.json", root, sampleOrg, created.OrgID)
	o = decodeResp[orgOutJSON](t, serve(t, f.mux, upd), http.StatusOK)
	if o.Status != "active" || o.Quotas.MaxActiveJobs != 10 || o.Quotas.MaxStorageBytes != 10737418240 {
		t.Fatalf("updated org %+v", o)
	}
	setJSON(t, &upd, map[string]any{"status": "frozen"})
	requireError(t, serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "status")
	setJSON(t, &upd, map[string]any{"quotas": map[string]any{"max_active_jobs": -1}})
	requireError(t, serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "quotas.max_active_jobs")
	setJSON(t, &upd, map[string]any{"name": "renamed"})
	requireError(t, serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "name")
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/update-org.json", root, sampleOrg, domain.NewID())), http.StatusNotFound, domain.CodeOrgNotFound)
}

func TestUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := &f.admin.Principal
	_, otherAdmin := f.env.NewOrg(t)
	email := apptest.NewEmail("grace")

	ev := apiEvent(t, "apigw/admin/create-user.json", admin, sampleUserEmail, email)
	u := decodeResp[userOutJSON](t, serve(t, f.mux, ev), http.StatusCreated)
	if !domain.IsID(u.UserID) || u.Email != email || u.OrgID != f.org.ID || !slices.Equal(u.Roles, []string{"standard"}) || !u.Enabled {
		t.Fatalf("created user %+v", u)
	}
	requireTime(t, u.CreatedAt)
	requireError(t, serve(t, f.mux, ev), http.StatusConflict, domain.CodeConflict)
	setJSON(t, &ev, map[string]any{"email": apptest.NewEmail("r"), "password": apptest.TestPassword, "roles": []string{"root"}})
	requireError(t, serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "roles")
	setJSON(t, &ev, map[string]any{"email": apptest.NewEmail("p"), "password": "short", "roles": []string{"viewer"}})
	requireError(t, serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "password")
	setJSON(t, &ev, map[string]any{"email": apptest.NewEmail("o"), "password": apptest.TestPassword, "roles": []string{"viewer"}, "org_id": otherAdmin.OrgID})
	requireError(t, serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "org_id")
	std := f.env.NewUser(t, f.admin, domain.RoleStandard)
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/create-user.json", &std.Principal)), http.StatusForbidden, domain.CodeForbidden)

	lst := apiEvent(t, "apigw/admin/list-users.json", admin)
	users := decodeResp[list[userOutJSON]](t, serve(t, f.mux, lst), http.StatusOK)
	if len(users.Items) < 3 || !slices.ContainsFunc(users.Items, func(x userOutJSON) bool { return x.UserID == u.UserID }) {
		t.Fatalf("users %+v", users.Items)
	}
	for _, x := range users.Items {
		if x.OrgID != f.org.ID {
			t.Fatalf("a user of org %s listed in org %s", x.OrgID, f.org.ID)
		}
	}
	checkPaging(t, f.mux, lst)

	got := decodeResp[userOutJSON](t, serve(t, f.mux, apiEvent(t, "apigw/admin/get-user.json", admin, sampleUser, u.UserID)), http.StatusOK)
	if got.UserID != u.UserID || got.Email != email {
		t.Fatalf("get user %+v", got)
	}
	// Another org's admin: not found, exactly like a missing user.
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/get-user.json", &otherAdmin.Principal, sampleUser, u.UserID)), http.StatusNotFound, domain.CodeUserNotFound)
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/get-user.json", admin, sampleUser, domain.NewID())), http.StatusNotFound, domain.CodeUserNotFound)
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/get-user.json", admin, sampleUser, "grace")), http.StatusBadRequest, domain.CodeValidation, "user_id")

	upd := apiEvent(t, "apigw/admin/update-user.json", admin, sampleUser, u.UserID)
	got = decodeResp[userOutJSON](t, serve(t, f.mux, upd), http.StatusOK)
	if !slices.Equal(got.Roles, []string{"operator"}) || !got.Enabled {
		t.Fatalf("updated user %+v", got)
	}
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/update-user.json", &otherAdmin.Principal, sampleUser, u.UserID)), http.StatusNotFound, domain.CodeUserNotFound)
	// The last enabled admin can be neither demoted nor disabled.
	self := apiEvent(t, "apigw/admin/update-user.json", admin, sampleUser, f.admin.UserID)
	setJSON(t, &self, map[string]any{"roles": []string{"standard"}})
	requireError(t, serve(t, f.mux, self), http.StatusConflict, domain.CodeConflict)
	setJSON(t, &self, map[string]any{"enabled": false})
	requireError(t, serve(t, f.mux, self), http.StatusConflict, domain.CodeConflict)
	setJSON(t, &upd, map[string]any{"roles": []string{"root"}})
	requireError(t, serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "roles")
	setJSON(t, &upd, map[string]any{"email": "x@y.z"})
	requireError(t, serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "email")
}

func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := &f.admin.Principal
	_, otherAdmin := f.env.NewOrg(t)

	ev := apiEvent(t, "apigw/admin/create-service-account.json", admin)
	sa := decodeResp[saOutJSON](t, serve(t, f.mux, ev), http.StatusCreated)
	if !domain.IsID(sa.ServiceAccountID) || sa.Name != "ci-pipeline" || !strings.HasPrefix(sa.ClientID, "mad_sa_") ||
		!strings.HasPrefix(sa.ClientSecret, "mad_sk_") || !slices.Equal(sa.Roles, []string{"standard"}) {
		t.Fatalf("service account %+v", sa)
	}
	setJSON(t, &ev, map[string]any{"name": "ops", "roles": []string{"admin"}})
	requireError(t, serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "roles")

	lst := apiEvent(t, "apigw/admin/list-service-accounts.json", admin)
	sas := decodeResp[list[saListJSON]](t, serve(t, f.mux, lst), http.StatusOK) // no client_secret
	if len(sas.Items) != 1 || sas.Items[0].ServiceAccountID != sa.ServiceAccountID {
		t.Fatalf("service accounts %+v", sas.Items)
	}
	checkPaging(t, f.mux, lst)

	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/delete-service-account.json", &otherAdmin.Principal, sampleSA, sa.ServiceAccountID)),
		http.StatusNotFound, domain.CodeServiceAccountNotFound)
	del := apiEvent(t, "apigw/admin/delete-service-account.json", admin, sampleSA, sa.ServiceAccountID)
	if resp := serve(t, f.mux, del); resp.StatusCode != http.StatusNoContent || resp.Body != "" {
		t.Fatalf("delete = %d %s", resp.StatusCode, resp.Body)
	}
	requireError(t, serve(t, f.mux, del), http.StatusNotFound, domain.CodeServiceAccountNotFound)
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/delete-service-account.json", admin, sampleSA, "ci")), http.StatusBadRequest, domain.CodeValidation, "service_account_id")
}

func TestAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := &f.admin.Principal

	// An entry written while serving a request carries its request id.
	create := apiEvent(t, "apigw/admin/create-user.json", admin, sampleUserEmail, apptest.NewEmail("grace"))
	u := decodeResp[userOutJSON](t, serve(t, f.mux, create), http.StatusCreated)

	ev := apiEvent(t, "apigw/admin/list-audit.json", admin)
	setQuery(&ev, map[string]string{"action": "user.created", "since": "2025-01-01T00:00:00Z"})
	entries := decodeResp[list[auditOutJSON]](t, serve(t, f.mux, ev), http.StatusOK)
	i := slices.IndexFunc(entries.Items, func(e auditOutJSON) bool { return e.TargetID == u.UserID })
	if i < 0 {
		t.Fatalf("no user.created entry for %s in %+v", u.UserID, entries.Items)
	}
	e := entries.Items[i]
	if e.Action != "user.created" || e.OrgID == nil || *e.OrgID != f.org.ID || e.ActorID != f.admin.UserID ||
		e.Outcome != "success" || e.RequestID != create.Headers["x-request-id"] {
		t.Fatalf("audit entry %+v, want request id %s", e, create.Headers["x-request-id"])
	}
	requireTime(t, e.TS)
	for _, x := range entries.Items {
		if x.Action != "user.created" || x.OrgID == nil || *x.OrgID != f.org.ID {
			t.Fatalf("filtered listing returned %+v", x)
		}
	}

	for _, q := range []map[string]string{{"since": "yesterday"}, {"until": "2025-13-01T00:00:00Z"},
		{"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, {"action": "DROP TABLE"}, {"org_id": "acme"}} {
		setQuery(&ev, q)
		resp := serve(t, f.mux, ev)
		requireError(t, resp, http.StatusBadRequest, domain.CodeValidation)
	}
	checkPaging(t, f.mux, ev)
	// An admin asking for another org's log: not found.
	setQuery(&ev, map[string]string{"org_id": domain.NewID()})
	requireError(t, serve(t, f.mux, ev), http.StatusNotFound, domain.CodeOrgNotFound)

	// Root reads any org's log with ?org_id=.
	rootEv := apiEvent(t, "apigw/admin/list-audit.json", &f.root.Principal)
	setQuery(&rootEv, map[string]string{"org_id": f.org.ID, "action": "user.created"})
	entries = decodeResp[list[auditOutJSON]](t, serve(t, f.mux, rootEv), http.StatusOK)
	if !slices.ContainsFunc(entries.Items, func(e auditOutJSON) bool { return e.TargetID == u.UserID }) {
		t.Fatal("root does not see the org's entry")
	}

	std := f.env.NewUser(t, f.admin, domain.RoleStandard)
	requireError(t, serve(t, f.mux, apiEvent(t, "apigw/admin/list-audit.json", &std.Principal)), http.StatusForbidden, domain.CodeForbidden)
}
