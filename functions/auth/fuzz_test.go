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
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// The seeds run as ordinary tests under `make test` (Postgres and moto);
// scripts/fuzz.sh explores from them.

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

// FuzzAuthBodies sends arbitrary bodies and content types to every POST
// route of the auth function, through its real mux and use cases
// (Postgres, Secrets Manager on moto). A body may log in, refresh or log
// out when the fuzzer finds a valid one; garbage gets a 4xx in the
// contract's shape, never a 5xx or a leak.
func FuzzAuthBodies(f *testing.F) {
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
	rts := []fzRoute{
		{key: "POST /api/v1/auth/token"},
		{key: "POST /api/v1/auth/refresh"},
		{key: "POST /api/v1/auth/logout", principal: &u.Principal},
	}
	// Seeds name this process's credentials by placeholder: the fuzzing
	// coordinator and its workers each run this setup, with their own
	// database and keys, and share only the corpus.
	placeholders := strings.NewReplacer("$EMAIL", u.Email, "$ORG", u.OrgID, "$ACCESS", u.Tokens.AccessToken,
		"$REFRESH", u.Tokens.RefreshToken, "$CLIENT_ID", sa.ClientID, "$CLIENT_SECRET", sa.ClientSecret)
	for i, r := range rts {
		if _, ok := routes.ByKey(r.key); !ok {
			f.Fatalf("route %s is not in the table", r.key)
		}
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
		resp := mux.Serve(context.Background(), fzEvent(r, ctype, b64, body))
		fzCheck(t, r.key, body, resp)
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
	token, refresh := fzRoute{key: "POST /api/v1/auth/token"}, fzRoute{key: "POST /api/v1/auth/refresh"}
	logout := fzRoute{key: "POST /api/v1/auth/logout", principal: &u.Principal}
	forms := []struct {
		r    fzRoute
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
		resp := mux.Serve(context.Background(), fzEvent(fm.r, "application/json", false, body))
		fzCheck(t, fm.r.key, body, resp)
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
		fzDecodeErr(t, b, err)
	})
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
