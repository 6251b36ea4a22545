package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

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
	mux := apitest.RequireMux(t, newMux(handler{admin: env.Admin}, apigw.NewMux(routes.FnAdmin, apptest.Quiet)))
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
		apitest.SetQuery(&ev, q)
		apitest.RequireError(t, apitest.Serve(t, mux, ev), http.StatusBadRequest, domain.CodeValidation, "limit")
	}
	for _, c := range []string{"garbage", "djE6bm90LWEtdXVpZA", strings.Repeat("A", 3000)} {
		apitest.SetQuery(&ev, map[string]string{"cursor": c})
		apitest.RequireError(t, apitest.Serve(t, mux, ev), http.StatusBadRequest, domain.CodeValidation, "cursor")
	}
}

func TestOrgs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	root := &f.root.Principal
	name, adminEmail := "Acme "+domain.NewID(), apptest.NewEmail("admin")

	ev := apitest.APIEvent(t, "apigw/admin/create-org.json", root, sampleOrgName, name, sampleAdminEmail, adminEmail)
	created := apitest.DecodeResp[createdOrgJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	if !domain.IsID(created.OrgID) || created.Name != name || created.Status != "active" || !domain.IsID(created.AdminUserID) {
		t.Fatalf("created org %+v", created)
	}
	requireTime(t, created.CreatedAt)
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusConflict, domain.CodeConflict) // the name is taken
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/create-org.json", &f.admin.Principal)), http.StatusForbidden, domain.CodeForbidden)
	apitest.SetJSON(t, &ev, map[string]any{"name": "x" + name, "admin_email": apptest.NewEmail("a"), "admin_password": apptest.TestPassword, "status": "suspended"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "status")
	apitest.SetJSON(t, &ev, map[string]any{"name": "y" + name, "admin_email": "not an email", "admin_password": "short"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "admin_email", "admin_password")

	// The new org's admin can log in with the password of the request.
	if _, err := f.env.Auth.Login(context.Background(), app.PasswordLogin{Email: adminEmail, Password: apptest.TestPassword}); err != nil {
		t.Fatalf("login as the new org's admin: %v", err)
	}

	lst := apitest.APIEvent(t, "apigw/admin/list-orgs.json", root)
	orgs := apitest.DecodeResp[list[orgOutJSON]](t, apitest.Serve(t, f.mux, lst), http.StatusOK)
	if !slices.ContainsFunc(orgs.Items, func(o orgOutJSON) bool { return o.OrgID == created.OrgID }) {
		t.Fatalf("list of orgs lacks the new org")
	}
	apitest.SetQuery(&lst, map[string]string{"limit": "1"})
	page := apitest.DecodeResp[list[orgOutJSON]](t, apitest.Serve(t, f.mux, lst), http.StatusOK)
	if len(page.Items) != 1 || page.NextCursor == nil {
		t.Fatalf("limit=1: %d items, cursor %v", len(page.Items), page.NextCursor)
	}
	apitest.SetQuery(&lst, map[string]string{"limit": "1", "cursor": *page.NextCursor})
	next := apitest.DecodeResp[list[orgOutJSON]](t, apitest.Serve(t, f.mux, lst), http.StatusOK)
	if len(next.Items) != 1 || next.Items[0].OrgID == page.Items[0].OrgID {
		t.Fatalf("second page %+v after %+v", next.Items, page.Items)
	}
	checkPaging(t, f.mux, lst)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/list-orgs.json", &f.admin.Principal)), http.StatusForbidden, domain.CodeForbidden)

	get := apitest.APIEvent(t, "apigw/admin/get-org.json", root, sampleOrg, f.org.ID)
	o := apitest.DecodeResp[orgOutJSON](t, apitest.Serve(t, f.mux, get), http.StatusOK)
	if o.OrgID != f.org.ID || o.Status != "active" || o.Quotas.MaxActiveJobs != domain.DefaultQuotas.MaxActiveJobs {
		t.Fatalf("org %+v", o)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/get-org.json", root, sampleOrg, domain.NewID())), http.StatusNotFound, domain.CodeOrgNotFound)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/get-org.json", root, sampleOrg, "acme")), http.StatusBadRequest, domain.CodeValidation, "org_id")
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/get-org.json", &f.admin.Principal, sampleOrg, f.org.ID)), http.StatusForbidden, domain.CodeForbidden)

	upd := apitest.APIEvent(t, "apigw/admin/update-org.json", root, sampleOrg, created.OrgID)
	o = apitest.DecodeResp[orgOutJSON](t, apitest.Serve(t, f.mux, upd), http.StatusOK)
	if o.Status != "active" || o.Quotas.MaxActiveJobs != 10 || o.Quotas.MaxStorageBytes != 10737418240 {
		t.Fatalf("updated org %+v", o)
	}
	apitest.SetJSON(t, &upd, map[string]any{"status": "frozen"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "status")
	apitest.SetJSON(t, &upd, map[string]any{"quotas": map[string]any{"max_active_jobs": -1}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "quotas.max_active_jobs")
	apitest.SetJSON(t, &upd, map[string]any{"name": "renamed"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "name")
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/update-org.json", root, sampleOrg, domain.NewID())), http.StatusNotFound, domain.CodeOrgNotFound)
}

func TestUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := &f.admin.Principal
	_, otherAdmin := f.env.NewOrg(t)
	email := apptest.NewEmail("grace")

	ev := apitest.APIEvent(t, "apigw/admin/create-user.json", admin, sampleUserEmail, email)
	u := apitest.DecodeResp[userOutJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	if !domain.IsID(u.UserID) || u.Email != email || u.OrgID != f.org.ID || !slices.Equal(u.Roles, []string{"standard"}) || !u.Enabled {
		t.Fatalf("created user %+v", u)
	}
	requireTime(t, u.CreatedAt)
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusConflict, domain.CodeConflict)
	apitest.SetJSON(t, &ev, map[string]any{"email": apptest.NewEmail("r"), "password": apptest.TestPassword, "roles": []string{"root"}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "roles")
	apitest.SetJSON(t, &ev, map[string]any{"email": apptest.NewEmail("p"), "password": "short", "roles": []string{"viewer"}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "password")
	apitest.SetJSON(t, &ev, map[string]any{"email": apptest.NewEmail("o"), "password": apptest.TestPassword, "roles": []string{"viewer"}, "org_id": otherAdmin.OrgID})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "org_id")
	std := f.env.NewUser(t, f.admin, domain.RoleStandard)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/create-user.json", &std.Principal)), http.StatusForbidden, domain.CodeForbidden)

	lst := apitest.APIEvent(t, "apigw/admin/list-users.json", admin)
	users := apitest.DecodeResp[list[userOutJSON]](t, apitest.Serve(t, f.mux, lst), http.StatusOK)
	if len(users.Items) < 3 || !slices.ContainsFunc(users.Items, func(x userOutJSON) bool { return x.UserID == u.UserID }) {
		t.Fatalf("users %+v", users.Items)
	}
	for _, x := range users.Items {
		if x.OrgID != f.org.ID {
			t.Fatalf("a user of org %s listed in org %s", x.OrgID, f.org.ID)
		}
	}
	checkPaging(t, f.mux, lst)

	got := apitest.DecodeResp[userOutJSON](t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/get-user.json", admin, sampleUser, u.UserID)), http.StatusOK)
	if got.UserID != u.UserID || got.Email != email {
		t.Fatalf("get user %+v", got)
	}
	// Another org's admin: not found, exactly like a missing user.
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/get-user.json", &otherAdmin.Principal, sampleUser, u.UserID)), http.StatusNotFound, domain.CodeUserNotFound)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/get-user.json", admin, sampleUser, domain.NewID())), http.StatusNotFound, domain.CodeUserNotFound)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/get-user.json", admin, sampleUser, "grace")), http.StatusBadRequest, domain.CodeValidation, "user_id")

	upd := apitest.APIEvent(t, "apigw/admin/update-user.json", admin, sampleUser, u.UserID)
	got = apitest.DecodeResp[userOutJSON](t, apitest.Serve(t, f.mux, upd), http.StatusOK)
	if !slices.Equal(got.Roles, []string{"operator"}) || !got.Enabled {
		t.Fatalf("updated user %+v", got)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/update-user.json", &otherAdmin.Principal, sampleUser, u.UserID)), http.StatusNotFound, domain.CodeUserNotFound)
	// The last enabled admin can be neither demoted nor disabled.
	self := apitest.APIEvent(t, "apigw/admin/update-user.json", admin, sampleUser, f.admin.UserID)
	apitest.SetJSON(t, &self, map[string]any{"roles": []string{"standard"}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, self), http.StatusConflict, domain.CodeConflict)
	apitest.SetJSON(t, &self, map[string]any{"enabled": false})
	apitest.RequireError(t, apitest.Serve(t, f.mux, self), http.StatusConflict, domain.CodeConflict)
	apitest.SetJSON(t, &upd, map[string]any{"roles": []string{"root"}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "roles")
	apitest.SetJSON(t, &upd, map[string]any{"email": "x@y.z"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, upd), http.StatusBadRequest, domain.CodeValidation, "email")
}

func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := &f.admin.Principal
	_, otherAdmin := f.env.NewOrg(t)

	ev := apitest.APIEvent(t, "apigw/admin/create-service-account.json", admin)
	sa := apitest.DecodeResp[saOutJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	if !domain.IsID(sa.ServiceAccountID) || sa.Name != "ci-pipeline" || !strings.HasPrefix(sa.ClientID, "mad_sa_") ||
		!strings.HasPrefix(sa.ClientSecret, "mad_sk_") || !slices.Equal(sa.Roles, []string{"standard"}) {
		t.Fatalf("service account %+v", sa)
	}
	apitest.SetJSON(t, &ev, map[string]any{"name": "ops", "roles": []string{"admin"}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "roles")

	lst := apitest.APIEvent(t, "apigw/admin/list-service-accounts.json", admin)
	sas := apitest.DecodeResp[list[saListJSON]](t, apitest.Serve(t, f.mux, lst), http.StatusOK) // no client_secret
	if len(sas.Items) != 1 || sas.Items[0].ServiceAccountID != sa.ServiceAccountID {
		t.Fatalf("service accounts %+v", sas.Items)
	}
	checkPaging(t, f.mux, lst)

	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/delete-service-account.json", &otherAdmin.Principal, sampleSA, sa.ServiceAccountID)),
		http.StatusNotFound, domain.CodeServiceAccountNotFound)
	del := apitest.APIEvent(t, "apigw/admin/delete-service-account.json", admin, sampleSA, sa.ServiceAccountID)
	if resp := apitest.Serve(t, f.mux, del); resp.StatusCode != http.StatusNoContent || resp.Body != "" {
		t.Fatalf("delete = %d %s", resp.StatusCode, resp.Body)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, del), http.StatusNotFound, domain.CodeServiceAccountNotFound)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/delete-service-account.json", admin, sampleSA, "ci")), http.StatusBadRequest, domain.CodeValidation, "service_account_id")
}

func TestAudit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	admin := &f.admin.Principal

	// An entry written while serving a request carries its request id.
	create := apitest.APIEvent(t, "apigw/admin/create-user.json", admin, sampleUserEmail, apptest.NewEmail("grace"))
	u := apitest.DecodeResp[userOutJSON](t, apitest.Serve(t, f.mux, create), http.StatusCreated)

	ev := apitest.APIEvent(t, "apigw/admin/list-audit.json", admin)
	apitest.SetQuery(&ev, map[string]string{"action": "user.created", "since": "2025-01-01T00:00:00Z"})
	entries := apitest.DecodeResp[list[auditOutJSON]](t, apitest.Serve(t, f.mux, ev), http.StatusOK)
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
		apitest.SetQuery(&ev, q)
		resp := apitest.Serve(t, f.mux, ev)
		apitest.RequireError(t, resp, http.StatusBadRequest, domain.CodeValidation)
	}
	checkPaging(t, f.mux, ev)
	// An admin asking for another org's log: not found.
	apitest.SetQuery(&ev, map[string]string{"org_id": domain.NewID()})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusNotFound, domain.CodeOrgNotFound)

	// Root reads any org's log with ?org_id=.
	rootEv := apitest.APIEvent(t, "apigw/admin/list-audit.json", &f.root.Principal)
	apitest.SetQuery(&rootEv, map[string]string{"org_id": f.org.ID, "action": "user.created"})
	entries = apitest.DecodeResp[list[auditOutJSON]](t, apitest.Serve(t, f.mux, rootEv), http.StatusOK)
	if !slices.ContainsFunc(entries.Items, func(e auditOutJSON) bool { return e.TargetID == u.UserID }) {
		t.Fatal("root does not see the org's entry")
	}

	std := f.env.NewUser(t, f.admin, domain.RoleStandard)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/admin/list-audit.json", &std.Principal)), http.StatusForbidden, domain.CodeForbidden)
}
