package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// The seeds run as ordinary tests under `make test` (Postgres and moto);
// scripts/fuzz.sh explores from them.

// FuzzAdminBodies sends arbitrary bodies and content types to every POST
// and PATCH route of the admin function, through its real mux and use
// cases (Postgres): orgs as root, users and service accounts as an org
// admin. The PATCH routes target an org and a user made for the fuzzer,
// so a valid body the fuzzer finds (suspending the org, demoting or
// disabling the user) changes nothing the other routes depend on.
// Garbage gets a 4xx in the contract's shape, never a 5xx or a leak.
func FuzzAdminBodies(f *testing.F) {
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	_, admin := env.NewOrg(f)
	root := env.NewRoot(f)
	victimOrg, _ := env.NewOrg(f)
	victim := env.NewUser(f, admin, domain.RoleViewer)
	mux := newMux(handler{admin: env.Admin}, apigw.NewMux(routes.FnAdmin, apptest.Quiet))
	rts := []fzRoute{
		{key: "POST /api/v1/orgs", principal: &root.Principal},
		{key: "PATCH /api/v1/orgs/{org_id}", params: map[string]string{"org_id": victimOrg.ID}, principal: &root.Principal},
		{key: "POST /api/v1/users", principal: &admin.Principal},
		{key: "PATCH /api/v1/users/{user_id}", params: map[string]string{"user_id": victim.UserID}, principal: &admin.Principal},
		{key: "POST /api/v1/service-accounts", principal: &admin.Principal},
	}
	j := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	common := []string{`{}`, `null`, `[]`, `"x"`, `{"name":`, `{} {}`, `{}]`, `{"unknown":1}`, strings.Repeat("[", 1000),
		`{"roles":"admin"}`, `{"roles":[1]}`, `{"name":7}`}
	seeds := [][]string{
		{j(map[string]string{"name": "acme " + domain.NewID()[:8], "admin_email": apptest.NewEmail("fz"), "admin_password": apptest.TestPassword}),
			`{"name":"acme","admin_email":"not an email","admin_password":"short"}`, `{"name":"a/b"}`, `{"name":"` + strings.Repeat("n", 201) + `"}`,
			`{"name":"\t"}`, `{"name":"\u0041cme","admin_email":"\u0061@example.org","admin_password":"\u0041` + apptest.TestPassword + `"}`, `{"name":"x","admin_email":"a@b.c","admin_password":"` + strings.Repeat("p", 300) + `"}`},
		{`{"status":"suspended"}`, `{"status":"\u0061ctive"}`, `{"status":"active"}`, `{"status":"deleted"}`, `{"status":null}`,
			`{"quotas":{"max_active_jobs":5,"max_storage_bytes":1073741824}}`, `{"quotas":{"max_active_jobs":-1}}`,
			`{"quotas":{"max_active_jobs":9223372036854775807}}`, `{"quotas":{"max_storage_bytes":1e30}}`, `{"quotas":null}`,
			`{"quotas":{"max_jobs":1}}`, `{"status":"active","quotas":{}}`},
		{j(map[string]any{"email": apptest.NewEmail("fz"), "password": apptest.TestPassword, "roles": []string{"standard"}}),
			`{"email":"a@b.c","password":"` + apptest.TestPassword + `","roles":["root"]}`,
			`{"email":"a@b.c","password":"` + apptest.TestPassword + `","roles":["admin","admin"]}`,
			`{"email":"a@b.c","password":"` + apptest.TestPassword + `","roles":[]}`,
			`{"email":"a@b.c","password":"` + apptest.TestPassword + `","roles":null}`,
			`{"email":"\u0061@b.c","password":"\u0041` + apptest.TestPassword + `","roles":["\u0061dmin"]}`, `{"email":"a@b.c","password":"x","roles":["viewer"]}`},
		{`{"roles":["operator"]}`, `{"roles":["root"]}`, `{"roles":[]}`, `{"roles":null}`, `{"enabled":false}`, `{"enabled":true}`,
			`{"enabled":"no"}`, `{"roles":["viewer"],"enabled":true}`, `{"email":"x@y.z"}`},
		{`{"name":"ci","roles":["standard"]}`, `{"name":"\u0041","roles":["\u0076iewer"]}`, `{"name":"ci","roles":["admin"]}`, `{"name":"ci","roles":[]}`, `{"name":"","roles":["viewer"]}`,
			`{"name":"ci","roles":["viewer"],"client_secret":"mine"}`},
	}
	for i, r := range rts {
		if _, ok := routes.ByKey(r.key); !ok {
			f.Fatalf("route %s is not in the table", r.key)
		}
		for _, s := range append(seeds[i], common...) {
			f.Add(uint8(i), "application/json", false, []byte(s))
		}
		f.Add(uint8(i), "text/plain", false, []byte(`{}`))
		f.Add(uint8(i), "application/json", true, []byte(`{"name":"x"}`))
		f.Add(uint8(i), "", false, []byte("\xff{}"))
		f.Add(uint8(i), "", false, []byte(""))
	}

	f.Fuzz(func(t *testing.T, route uint8, ctype string, b64 bool, body []byte) {
		r := rts[int(route)%len(rts)]
		resp := mux.Serve(context.Background(), fzEvent(r, ctype, b64, body))
		fzCheck(t, r.key, body, resp)
	})
}

// FuzzAdminFields fills the string fields of well-formed admin bodies
// with arbitrary strings (control characters, NUL, invalid UTF-8, huge),
// so the use cases and the database see values that raw-byte mutation of
// JSON rarely produces. Same routes and assertions as FuzzAdminBodies.
func FuzzAdminFields(f *testing.F) {
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	_, admin := env.NewOrg(f)
	root := env.NewRoot(f)
	victimOrg, _ := env.NewOrg(f)
	victim := env.NewUser(f, admin, domain.RoleViewer)
	mux := newMux(handler{admin: env.Admin}, apigw.NewMux(routes.FnAdmin, apptest.Quiet))
	forms := []struct {
		r    fzRoute
		body func(a, b, c string) any
	}{
		{fzRoute{key: "POST /api/v1/orgs", principal: &root.Principal},
			func(a, b, c string) any { return map[string]string{"name": a, "admin_email": b, "admin_password": c} }},
		{fzRoute{key: "PATCH /api/v1/orgs/{org_id}", params: map[string]string{"org_id": victimOrg.ID}, principal: &root.Principal},
			func(a, _, _ string) any { return map[string]string{"status": a} }},
		{fzRoute{key: "POST /api/v1/users", principal: &admin.Principal},
			func(a, b, c string) any { return map[string]any{"email": a, "password": b, "roles": []string{c}} }},
		{fzRoute{key: "PATCH /api/v1/users/{user_id}", params: map[string]string{"user_id": victim.UserID}, principal: &admin.Principal},
			func(a, b, _ string) any { return map[string]any{"roles": []string{a, b}} }},
		{fzRoute{key: "POST /api/v1/service-accounts", principal: &admin.Principal},
			func(a, b, _ string) any { return map[string]any{"name": a, "roles": []string{b}} }},
	}
	for i := range forms {
		for _, s := range [][3]string{{"acme", "fz@example.org", apptest.TestPassword}, {"active", "viewer", ""},
			{"fz2@example.org", apptest.TestPassword, "standard"}, {"ci", "viewer", ""}, {"", "", ""}, {"\x01", "\x01", "\x01"}} {
			f.Add(uint8(i), s[0], s[1], s[2])
		}
	}
	f.Fuzz(func(t *testing.T, form uint8, a, b, c string) {
		fm := forms[int(form)%len(forms)]
		body, err := json.Marshal(fm.body(a, b, c))
		if err != nil {
			t.Fatal(err)
		}
		resp := mux.Serve(context.Background(), fzEvent(fm.r, "application/json", false, body))
		fzCheck(t, fm.r.key, body, resp)
	})
}

// FuzzAdminDecode decodes arbitrary bytes into each body type of the
// admin function with apigw.DecodeStrict: every refusal is
// VALIDATION_FAILED naming one field of bounded length. No services.
func FuzzAdminDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","admin_email":"b","admin_password":"c"}`, `{"status":"active","quotas":{"max_active_jobs":1,"max_storage_bytes":2}}`,
		`{"email":"a","password":"b","roles":["viewer"]}`, `{"roles":["x"],"enabled":true}`, `{"name":"n","roles":[]}`,
		`{"quotas":{"max_active_jobs":1.5}}`, `{"quotas":{"max_storage_bytes":"1"}}`, `{"roles":[null]}`, `{"x":1}`, `{}]`, ``} {
		for k := range 5 {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var v any
		switch kind % 5 {
		case 0:
			v = new(createOrgRequest)
		case 1:
			v = new(updateOrgRequest)
		case 2:
			v = new(createUserRequest)
		case 3:
			v = new(updateUserRequest)
		default:
			v = new(createSARequest)
		}
		fzDecodeErr(t, b, apigw.DecodeStrict(b, v))
	})
}

// fzRoute is one POST/PATCH route of the function as the fuzzer calls it.
type fzRoute struct {
	key       string
	params    map[string]string
	principal *domain.Principal // nil: no authorizer context (public route)
}

// fzEvent builds the API Gateway v2 event of route r carrying body with
// content type ctype (none when empty), base64-encoded when b64 or when
// body is not UTF-8 (as API Gateway does for binary bodies).
func fzEvent(r fzRoute, ctype string, b64 bool, body []byte) *events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(r.key, " ")
	ev := &events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: r.key, RawPath: path, PathParameters: r.params,
		Headers: map[string]string{"x-request-id": domain.NewID()},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: domain.NewID(), HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
	if ctype != "" {
		ev.Headers["content-type"] = ctype
	}
	if b64 || !utf8.Valid(body) {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	} else {
		ev.Body = string(body)
	}
	if r.principal != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			Lambda: apigw.PrincipalContext(*r.principal)}
	}
	return ev
}

// fzMaxField bounds the field names of VALIDATION_FAILED, in characters:
// a client's unknown field is named truncated to 64 bytes plus an
// ellipsis (a rune cut by the truncation reaches the client as U+FFFD).
const fzMaxField = 64 + len("...")

// fzLeaks are what no error response may carry unless the client sent it:
// panics, stack traces, SQL errors, driver and Go type names, fmt's
// complaints.
var fzLeaks = []string{"panic", "goroutine", "SQLSTATE", "pgx", "pgconn", "postgres", "runtime error",
	"nil pointer", "json: ", "Go value", "Go struct", "main.", "app.", "domain.", "apigw.", "wire.", "*string",
	"[]string", "int64", "float64", "map[", "struct {", "interface {", "%!", ".go:"}

// fzSent is everything the client sent in readable form: the raw body and
// every key and string value in it when it is JSON, so that an error that
// names a field the client invented is not taken for a leak.
func fzSent(body []byte) string {
	var b strings.Builder
	b.Write(body)
	var v any
	if json.Unmarshal(body, &v) == nil {
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case string:
				b.WriteString("\n" + x)
			case []any:
				for _, y := range x {
					walk(y)
				}
			case map[string]any:
				for k, y := range x {
					b.WriteString("\n" + k)
					walk(y)
				}
			}
		}
		walk(v)
	}
	return strings.ToLower(b.String())
}

// fzCheck asserts what every answer to a body must satisfy: never 5xx;
// the wrapper's headers; on 4xx the contract's error shape, field names of
// bounded length, and nothing leaked.
func fzCheck(t *testing.T, route string, body []byte, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if resp.StatusCode < 200 || resp.StatusCode >= 500 {
		t.Fatalf("%s %q: %d %s", route, body, resp.StatusCode, resp.Body)
	}
	if !domain.IsID(resp.Headers["X-Request-Id"]) || resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("%s: headers %v", route, resp.Headers)
	}
	if resp.StatusCode < 400 {
		return
	}
	var e struct {
		Error struct {
			Code    domain.Code `json:"code"`
			Message string      `json:"message"`
			Details *struct {
				Fields map[string]string `json:"fields"`
			} `json:"details"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" ||
		resp.Headers["Content-Type"] != "application/json" || apigw.StatusOf(e.Error.Code) != resp.StatusCode {
		t.Fatalf("%s %q: %d %s is not in the contract's error shape (%v)", route, body, resp.StatusCode, resp.Body, err)
	}
	if e.Error.Code == domain.CodeValidation && (e.Error.Details == nil || len(e.Error.Details.Fields) == 0) {
		t.Fatalf("%s %q: VALIDATION_FAILED names no field: %s", route, body, resp.Body)
	}
	if e.Error.Details != nil {
		for f := range e.Error.Details.Fields {
			if utf8.RuneCountInString(f) > fzMaxField {
				t.Fatalf("%s %q: %d-byte field name %.100q", route, body, len(f), f)
			}
		}
	}
	sent := fzSent(body)
	for _, w := range fzLeaks {
		if strings.Contains(strings.ToLower(resp.Body), strings.ToLower(w)) && !strings.Contains(sent, strings.ToLower(w)) {
			t.Fatalf("%s %q: error response carries %q: %s", route, body, w, resp.Body)
		}
	}
}

// fzDecodeErr checks a DecodeStrict result: nil only for valid JSON,
// otherwise VALIDATION_FAILED naming one field of bounded length with a
// bounded message.
func fzDecodeErr(t *testing.T, b []byte, err error) {
	t.Helper()
	if err == nil {
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		return
	}
	de, ok := domain.AsError(err)
	if !ok || de.Code != domain.CodeValidation || len(de.Fields) != 1 || apigw.StatusOf(de.Code) != http.StatusBadRequest {
		t.Fatalf("%q: %v, want VALIDATION_FAILED naming one field", b, err)
	}
	for field, msg := range de.Fields {
		if utf8.RuneCountInString(field) > fzMaxField || len(msg) > 100 {
			t.Fatalf("%q: field %.100q message %.100q", b, field, msg)
		}
	}
}
