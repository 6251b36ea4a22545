package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// The seeds run as ordinary tests under `make test` (Postgres and moto);
// scripts/fuzz.sh explores from them.

// fzAuthSetup wires the auth function over its real use cases (Postgres,
// Secrets Manager on moto) for a fuzz target: its mux, a standard user,
// and the replacer of the placeholders the seeds name credentials by.
//
// Seeds name this process's credentials by placeholder: the fuzzing
// coordinator and its workers each run this setup, with their own
// database and keys, and share only the corpus.
func fzAuthSetup(f *testing.F) (*apigw.Mux, apptest.Member, *strings.Replacer) {
	f.Helper()
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	_, admin := env.NewOrg(f)
	u := env.NewUser(f, admin, domain.RoleStandard)
	sa, err := env.Admin.CreateServiceAccount(context.Background(), admin.Principal,
		app.NewServiceAccountInput{Name: "fuzz", Roles: []string{"viewer"}})
	if err != nil {
		f.Fatal(err)
	}
	mux := newMux(handler{auth: env.Auth}, apigw.NewMux(routes.FnAuth, apptest.Quiet))
	placeholders := strings.NewReplacer("$EMAIL", u.Email, "$ORG", u.OrgID, "$ACCESS", u.Tokens.AccessToken,
		"$REFRESH", u.Tokens.RefreshToken, "$CLIENT_ID", sa.ClientID, "$CLIENT_SECRET", sa.ClientSecret)
	return mux, u, placeholders
}

// FuzzAuthBodies sends arbitrary bodies and content types to every POST
// route of the auth function, through its real mux and use cases
// (Postgres, Secrets Manager on moto). A body may log in, refresh or log
// out when the fuzzer finds a valid one; garbage gets a 4xx in the
// contract's shape, never a 5xx or a leak.
func FuzzAuthBodies(f *testing.F) {
	mux, u, placeholders := fzAuthSetup(f)
	rts := []apitest.FuzzRoute{
		{Key: "POST /api/v1/auth/token"},
		{Key: "POST /api/v1/auth/refresh"},
		{Key: "POST /api/v1/auth/logout", Principal: &u.Principal},
	}
	apitest.RequireRoutes(f, rts...)
	for i := range rts {
		for _, s := range fzAuthSeeds[i] {
			f.Add(uint8(i), "application/json", false, []byte(s))
		}
	}
	for i := range rts {
		for _, ct := range []string{"", "text/plain", "application/json; charset=utf-8", "APPLICATION/JSON", "application/jsonx", "multipart/form-data; boundary=x", ";;;"} {
			f.Add(uint8(i), ct, false, []byte(`{}`))
		}
		f.Add(uint8(i), "application/json", true, []byte(`{"refresh_token":"x"}`))
		f.Add(uint8(i), "application/json", false, []byte("\xff\xfe{}"))
		f.Add(uint8(i), "application/json", false, []byte(""))
	}

	f.Fuzz(func(t *testing.T, route uint8, ctype string, b64 bool, body []byte) {
		r := rts[int(route)%len(rts)]
		body = []byte(placeholders.Replace(string(body)))
		apitest.ServeFuzz(t, mux, apitest.FuzzEvent(r, ctype, b64, body), body)
	})
}

// fzAuthSeeds are bodies for the token, refresh and logout routes, with
// placeholders for the credentials FuzzAuthBodies makes.
var fzAuthSeeds = func() [3][]string {
	pw := apptest.TestPassword
	common := []string{`{}`, `null`, `[]`, `"x"`, `{"email":`, `{} {}`, `{}]`, `{"unknown":1}`, strings.Repeat("[", 1000)}
	return [3][]string{
		append([]string{
			`{"email":"$EMAIL","password":"` + pw + `"}`,
			`{"email":"$EMAIL","password":"` + pw + `","org_id":"$ORG"}`,
			`{"email":"$EMAIL","password":"wrong password, long enough"}`,
			`{"email":"$EMAIL","password":"` + pw + `","org_id":"acme"}`,
			`{"client_id":"$CLIENT_ID","client_secret":"$CLIENT_SECRET"}`,
			`{"client_id":"$CLIENT_ID","client_secret":"mad_sk_wrong"}`,
			`{"client_id":"$CLIENT_ID","client_secret":"$CLIENT_SECRET","email":"$EMAIL"}`,
			// \u escapes, which the fuzzer can turn into any code point.
			`{"email":"\u0061$EMAIL","password":"\u0041"}`, `{"client_id":"\u0041$CLIENT_ID","client_secret":"\u0041"}`, `{"client_id":"\u0001","client_secret":"\u0001"}`,
			`{"email":null,"password":null}`, `{"email":7}`, `{"org_id":[]}`, `{"client_id":""}`,
			`{"email":"a@b.c","password":"` + strings.Repeat("p", 300) + `"}`,
			`{"client_id":"` + strings.Repeat("c", 300) + `","client_secret":"s"}`,
		}, common...),
		append([]string{
			`{"refresh_token":"$REFRESH"}`, `{"refresh_token":"$ACCESS"}`,
			`{"refresh_token":""}`, `{"refresh_token":"\u0041"}`, `{"refresh_token":5}`, `{"refresh_token":"a.b.c"}`, `{"refresh_token":"x","family":"y"}`,
		}, common...),
		append([]string{
			`{"refresh_token":"$REFRESH"}`, `{"refresh_token":""}`, `{"all":true}`, `{"refresh_token":null}`,
		}, common...),
	}
}()

// FuzzAuthFields fills the string fields of well-formed auth bodies with
// arbitrary strings (control characters, NUL, invalid UTF-8, huge), so
// the use cases and the database see values that raw-byte mutation of
// JSON rarely produces. Same assertions as FuzzAuthBodies.
func FuzzAuthFields(f *testing.F) {
	mux, u, placeholders := fzAuthSetup(f)
	token, refresh := apitest.FuzzRoute{Key: "POST /api/v1/auth/token"}, apitest.FuzzRoute{Key: "POST /api/v1/auth/refresh"}
	logout := apitest.FuzzRoute{Key: "POST /api/v1/auth/logout", Principal: &u.Principal}
	forms := []struct {
		r    apitest.FuzzRoute
		body func(a, b, c string) any
	}{
		{token, func(a, b, c string) any { return map[string]string{"email": a, "password": b, "org_id": c} }},
		{token, func(a, b, _ string) any { return map[string]string{"client_id": a, "client_secret": b} }},
		{token, func(a, b, _ string) any { return map[string]string{"email": a, "password": b} }},
		{refresh, func(a, _, _ string) any { return map[string]string{"refresh_token": a} }},
		{logout, func(a, _, _ string) any { return map[string]string{"refresh_token": a} }},
	}
	for i := range forms {
		for _, s := range [][3]string{{"$EMAIL", apptest.TestPassword, "$ORG"}, {"$CLIENT_ID", "$CLIENT_SECRET", ""},
			{"$REFRESH", "", ""}, {"$ACCESS", "", ""}, {"", "", ""}, {"\x01", "\x01", "\x01"}, {"a@b.c", "x", "acme"}} {
			f.Add(uint8(i), s[0], s[1], s[2])
		}
	}
	f.Fuzz(func(t *testing.T, form uint8, a, b, c string) {
		fm := forms[int(form)%len(forms)]
		body, err := json.Marshal(fm.body(placeholders.Replace(a), placeholders.Replace(b), placeholders.Replace(c)))
		if err != nil {
			t.Fatal(err)
		}
		apitest.ServeFuzz(t, mux, apitest.FuzzEvent(fm.r, "application/json", false, body), body)
	})
}

// FuzzAuthDecode decodes arbitrary bytes into each body type of the auth
// function with apigw.DecodeStrict: every refusal is VALIDATION_FAILED
// naming one field of bounded length. No services; cheap per iteration.
func FuzzAuthDecode(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.c","password":"p","org_id":"x"}`, `{"client_id":"a","client_secret":"b"}`,
		`{"refresh_token":"x"}`, `{"refresh_token":5}`, `{"email":null}`, `{"x":1}`, `{}]`, `[]`, ``, `{"email":"\u0000"}`} {
		for k := range 3 {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var err error
		switch kind % 3 {
		case 0:
			err = apigw.DecodeStrict(b, new(tokenRequest))
		case 1:
			err = apigw.DecodeStrict(b, new(refreshRequest))
		default:
			err = apigw.DecodeStrict(b, new(logoutRequest))
		}
		apitest.CheckDecodeErr(t, b, err)
	})
}
