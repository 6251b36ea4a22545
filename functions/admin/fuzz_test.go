package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// The seeds run as ordinary tests under `make test` (Postgres and moto);
// scripts/fuzz.sh explores from them.

// fzAdminSetup wires the admin function over its real use cases
// (Postgres) for a fuzz target: its mux, an org admin, root, and an org
// and a user (a viewer of admin's org) made for the fuzzer to change.
func fzAdminSetup(f *testing.F) (mux *apigw.Mux, admin, root apptest.Member, victimOrg domain.Org, victim apptest.Member) {
	f.Helper()
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	_, admin = env.NewOrg(f)
	root = env.NewRoot(f)
	victimOrg, _ = env.NewOrg(f)
	victim = env.NewUser(f, admin, domain.RoleViewer)
	mux = newMux(handler{admin: env.Admin}, apigw.NewMux(routes.FnAdmin, apptest.Quiet))
	return mux, admin, root, victimOrg, victim
}

// FuzzAdminBodies sends arbitrary bodies and content types to every POST
// and PATCH route of the admin function, through its real mux and use
// cases (Postgres): orgs as root, users and service accounts as an org
// admin. The PATCH routes target an org and a user made for the fuzzer,
// so a valid body the fuzzer finds (suspending the org, demoting or
// disabling the user) changes nothing the other routes depend on.
// Garbage gets a 4xx in the contract's shape, never a 5xx or a leak.
func FuzzAdminBodies(f *testing.F) {
	mux, admin, root, victimOrg, victim := fzAdminSetup(f)
	rts := []apitest.FuzzRoute{
		{Key: "POST /api/v1/orgs", Principal: &root.Principal},
		{Key: "PATCH /api/v1/orgs/{org_id}", Params: map[string]string{"org_id": victimOrg.ID}, Principal: &root.Principal},
		{Key: "POST /api/v1/users", Principal: &admin.Principal},
		{Key: "PATCH /api/v1/users/{user_id}", Params: map[string]string{"user_id": victim.UserID}, Principal: &admin.Principal},
		{Key: "POST /api/v1/service-accounts", Principal: &admin.Principal},
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
	apitest.RequireRoutes(f, rts...)
	for i := range rts {
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
		apitest.ServeFuzz(t, mux, apitest.FuzzEvent(r, ctype, b64, body), body)
	})
}

// FuzzAdminFields fills the string fields of well-formed admin bodies
// with arbitrary strings (control characters, NUL, invalid UTF-8, huge),
// so the use cases and the database see values that raw-byte mutation of
// JSON rarely produces. Same routes and assertions as FuzzAdminBodies.
func FuzzAdminFields(f *testing.F) {
	mux, admin, root, victimOrg, victim := fzAdminSetup(f)
	forms := []struct {
		r    apitest.FuzzRoute
		body func(a, b, c string) any
	}{
		{apitest.FuzzRoute{Key: "POST /api/v1/orgs", Principal: &root.Principal},
			func(a, b, c string) any { return map[string]string{"name": a, "admin_email": b, "admin_password": c} }},
		{apitest.FuzzRoute{Key: "PATCH /api/v1/orgs/{org_id}", Params: map[string]string{"org_id": victimOrg.ID}, Principal: &root.Principal},
			func(a, _, _ string) any { return map[string]string{"status": a} }},
		{apitest.FuzzRoute{Key: "POST /api/v1/users", Principal: &admin.Principal},
			func(a, b, c string) any { return map[string]any{"email": a, "password": b, "roles": []string{c}} }},
		{apitest.FuzzRoute{Key: "PATCH /api/v1/users/{user_id}", Params: map[string]string{"user_id": victim.UserID}, Principal: &admin.Principal},
			func(a, b, _ string) any { return map[string]any{"roles": []string{a, b}} }},
		{apitest.FuzzRoute{Key: "POST /api/v1/service-accounts", Principal: &admin.Principal},
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
		apitest.ServeFuzz(t, mux, apitest.FuzzEvent(fm.r, "application/json", false, body), body)
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
		apitest.CheckDecodeErr(t, b, apigw.DecodeStrict(b, v))
	})
}
