package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// Fixed ids and placeholders of the sample events (events/README.md).
const (
	sampleOrg      = "0193d2a0-0000-7000-8000-000000000001"
	sampleEmail    = "ada@example.org"
	sampleRefresh  = "REFRESH_TOKEN"
	sampleClientID = "mad_sa_0193d2a000007000800000000000000a"
	sampleSecret   = "mad_sk_CLIENT_SECRET_SHOWN_ONCE"
)

type fixture struct {
	env      *apptest.Env
	mux      *apigw.Mux
	org      domain.Org
	admin    apptest.Member
	standard apptest.Member
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := apptest.New(t, apptest.Options{})
	mux := apitest.RequireMux(t, newMux(handler{auth: env.Auth}, apigw.NewMux(routes.FnAuth, apptest.Quiet)))
	org, admin := env.NewOrg(t)
	return &fixture{env: env, mux: mux, org: org, admin: admin, standard: env.NewUser(t, admin, domain.RoleStandard)}
}

type tokenJSON struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// requireTokens checks a token response and that its access token
// authorizes as subject.
func (f *fixture) requireTokens(t *testing.T, resp events.APIGatewayV2HTTPResponse, subject string, refresh bool) tokenJSON {
	t.Helper()
	tok := apitest.DecodeResp[tokenJSON](t, resp, http.StatusOK)
	if tok.TokenType != "bearer" || tok.ExpiresIn != 900 || tok.AccessToken == "" || (tok.RefreshToken != "") != refresh {
		t.Fatalf("token response %s", resp.Body)
	}
	if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Pragma"] != "no-cache" {
		t.Fatalf("token response headers %v", resp.Headers)
	}
	p, err := f.env.Authorizer.Authorize(context.Background(), "Bearer "+tok.AccessToken)
	if err != nil || p.SubjectID != subject {
		t.Fatalf("issued access token authorizes as %q (%v), want %s", p.SubjectID, err, subject)
	}
	return tok
}

func TestTokenPassword(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.standard
	ev := apitest.APIEvent(t, "apigw/auth/token-password.json", nil, sampleEmail, m.Email, sampleOrg, f.org.ID)
	f.requireTokens(t, apitest.Serve(t, f.mux, ev), m.UserID, true)

	// Without org_id: the email is in one org only.
	apitest.SetJSON(t, &ev, map[string]string{"email": strings.ToUpper(m.Email), "password": apptest.TestPassword})
	f.requireTokens(t, apitest.Serve(t, f.mux, ev), m.UserID, true)

	// Wrong password and unknown email: one indistinguishable answer.
	apitest.SetJSON(t, &ev, map[string]string{"email": m.Email, "password": "wrong password, long enough"})
	wrong := apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeInvalidCredentials)
	apitest.SetJSON(t, &ev, map[string]string{"email": apptest.NewEmail("nobody"), "password": apptest.TestPassword})
	unknown := apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeInvalidCredentials)
	if wrong != unknown {
		t.Fatalf("wrong password %+v and unknown email %+v answer differently", wrong, unknown)
	}

	// A malformed org_id is a validation error naming it.
	apitest.SetJSON(t, &ev, map[string]string{"email": m.Email, "password": apptest.TestPassword, "org_id": "acme"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "org_id")
}

func TestTokenThrottled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.env.NewUser(t, f.admin, domain.RoleViewer)
	ev := apitest.APIEvent(t, "apigw/auth/token-password.json", nil, sampleEmail, m.Email, sampleOrg, f.org.ID)
	apitest.SetJSON(t, &ev, map[string]string{"email": m.Email, "password": "not the password at all", "org_id": f.org.ID})
	for range app.MaxLoginFailures {
		apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeInvalidCredentials)
	}
	apitest.SetJSON(t, &ev, map[string]string{"email": m.Email, "password": apptest.TestPassword, "org_id": f.org.ID})
	resp := apitest.Serve(t, f.mux, ev)
	apitest.RequireError(t, resp, http.StatusTooManyRequests, domain.CodeRateLimited)
	if s, err := strconv.Atoi(resp.Headers["Retry-After"]); err != nil || s < 1 || s > 15*60 {
		t.Fatalf("Retry-After %q", resp.Headers["Retry-After"])
	}
}

func TestTokenClientCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sa, err := f.env.Admin.CreateServiceAccount(context.Background(), f.admin.Principal,
		app.NewServiceAccountInput{Name: "ci-pipeline", Roles: []string{"standard"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := apitest.APIEvent(t, "apigw/auth/token-client-credentials.json", nil, sampleClientID, sa.ClientID, sampleSecret, sa.ClientSecret)
	tok := f.requireTokens(t, apitest.Serve(t, f.mux, ev), sa.ID, false)
	if strings.Contains(apitest.Serve(t, f.mux, ev).Body, "refresh_token") {
		t.Fatal("client credentials answered with a refresh token")
	}

	// /me as the service account: a name, no email.
	p, err := f.env.Authorizer.Authorize(context.Background(), "Bearer "+tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	me := apitest.DecodeResp[meJSON](t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/auth/me.json", &p)), http.StatusOK)
	if me.UserID != sa.ID || me.Email != nil || me.Name != "ci-pipeline" || me.SubjectType != "service_account" {
		t.Fatalf("me %+v", me)
	}

	apitest.SetJSON(t, &ev, map[string]string{"client_id": sa.ClientID, "client_secret": "mad_sk_wrong"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeInvalidCredentials)
	// Both kinds of credentials at once.
	apitest.SetJSON(t, &ev, map[string]string{"client_id": sa.ClientID, "client_secret": sa.ClientSecret, "email": f.admin.Email})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "body")
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.env.NewUser(t, f.admin, domain.RoleStandard)
	ev := apitest.APIEvent(t, "apigw/auth/refresh.json", nil, sampleRefresh, m.Tokens.RefreshToken)
	next := f.requireTokens(t, apitest.Serve(t, f.mux, ev), m.UserID, true)
	if next.RefreshToken == m.Tokens.RefreshToken || next.AccessToken == m.Tokens.AccessToken {
		t.Fatal("refresh returned the same tokens")
	}
	// The presented token is spent: reusing it is refused and revokes the
	// whole family, the new refresh token included.
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeUnauthorized)
	apitest.SetJSON(t, &ev, map[string]string{"refresh_token": next.RefreshToken})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeUnauthorized)
	// An access token is not a refresh token.
	apitest.SetJSON(t, &ev, map[string]string{"refresh_token": f.standard.Tokens.AccessToken})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeUnauthorized)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m := f.env.NewUser(t, f.admin, domain.RoleStandard)
	other := f.env.Login(t, m.Email, f.org.ID) // another login of the same user
	ev := apitest.APIEvent(t, "apigw/auth/logout.json", &m.Principal, sampleRefresh, m.Tokens.RefreshToken)
	resp := apitest.Serve(t, f.mux, ev)
	if resp.StatusCode != http.StatusNoContent || resp.Body != "" {
		t.Fatalf("logout = %d %q", resp.StatusCode, resp.Body)
	}
	if _, err := f.env.Authorizer.Authorize(ctx, "Bearer "+m.Tokens.AccessToken); domain.ErrorCode(err) != domain.CodeUnauthorized {
		t.Fatalf("access token after logout: %v", err)
	}
	refresh := apitest.APIEvent(t, "apigw/auth/refresh.json", nil, sampleRefresh, m.Tokens.RefreshToken)
	apitest.RequireError(t, apitest.Serve(t, f.mux, refresh), http.StatusUnauthorized, domain.CodeUnauthorized)
	// The user's other login keeps working.
	if _, err := f.env.Authorizer.Authorize(ctx, "Bearer "+other.Tokens.AccessToken); err != nil {
		t.Fatalf("the other login stopped working: %v", err)
	}

	// Without a body only the access token is revoked.
	ev = apitest.APIEvent(t, "apigw/auth/logout.json", &other.Principal)
	apitest.SetBody(&ev, "")
	if resp := apitest.Serve(t, f.mux, ev); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout without body = %d %s", resp.StatusCode, resp.Body)
	}
}

type meJSON struct {
	UserID      string   `json:"user_id"`
	Email       *string  `json:"email"`
	Name        string   `json:"name"`
	SubjectType string   `json:"subject_type"`
	OrgID       *string  `json:"org_id"`
	Roles       []string `json:"roles"`
	Scopes      []string `json:"scopes"`
}

func TestMe(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.standard
	me := apitest.DecodeResp[meJSON](t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/auth/me.json", &m.Principal)), http.StatusOK)
	if me.UserID != m.UserID || me.Email == nil || *me.Email != m.Email || me.OrgID == nil || *me.OrgID != f.org.ID ||
		!slices.Equal(me.Roles, []string{"standard"}) || !slices.Contains(me.Scopes, string(domain.PermJobCreate)) ||
		slices.Contains(me.Scopes, string(domain.PermUserCreate)) {
		t.Fatalf("me %+v", me)
	}

	root := f.env.NewRoot(t)
	me = apitest.DecodeResp[meJSON](t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/auth/me.json", &root.Principal)), http.StatusOK)
	if me.UserID != root.UserID || me.OrgID != nil || !slices.Equal(me.Roles, []string{"root"}) {
		t.Fatalf("root me %+v", me)
	}

	// What the function sees when the authorizer refused the token.
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/auth/me-auth-error.json", nil)), http.StatusUnauthorized, domain.CodeUnauthorized)
	// No authorizer context at all (a misconfigured route) is 401 too.
	ev := apitest.APIEvent(t, "apigw/auth/me.json", nil)
	ev.RequestContext.Authorizer = nil
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeUnauthorized)
}

// TestBadBodies: whatever the body, the answer is a 4xx in the contract's
// shape, never a 500 (serve fails on any 500).
func TestBadBodies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	huge := `{"email":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, tc := range []struct {
		name   string
		file   string
		body   string
		b64    bool
		ctype  string
		status int
		code   domain.Code
		field  string
	}{
		{"malformed JSON", "token-password", `{"email":`, false, "", 400, domain.CodeValidation, "body"},
		{"mass assignment", "token-password", `{"email":"ada@example.org","password":"correct horse battery staple","role":"root"}`, false, "", 400, domain.CodeValidation, "role"},
		{"org_id as a number", "token-password", `{"email":"ada@example.org","password":"x","org_id":7}`, false, "", 400, domain.CodeValidation, "org_id"},
		{"empty body", "token-password", ``, false, "", 400, domain.CodeValidation, "body"},
		{"null", "token-password", `null`, false, "", 400, domain.CodeValidation, ""},
		{"array", "token-password", `[]`, false, "", 400, domain.CodeValidation, "body"},
		{"string", "token-password", `"token please"`, false, "", 400, domain.CodeValidation, "body"},
		{"two values", "token-password", `{} {}`, false, "", 400, domain.CodeValidation, "body"},
		{"deep nesting", "token-password", strings.Repeat("[", 20000), false, "", 400, domain.CodeValidation, "body"},
		// JSON decoding turns invalid UTF-8 into U+FFFD: an unknown email.
		{"not UTF-8", "token-password", "{\"email\":\"\xff\xfe@example.org\",\"password\":\"x\"}", false, "", 401, domain.CodeInvalidCredentials, ""},
		{"not JSON content type", "token-password", `{"email":"a@b.c","password":"x"}`, false, "text/plain", 400, domain.CodeValidation, "Content-Type"},
		{"bad base64", "token-password", `!!!`, true, "", 400, domain.CodeValidation, "body"},
		{"oversized", "token-password", huge, false, "", 413, domain.CodePayloadTooLarge, ""},
		{"oversized base64", "refresh", base64.StdEncoding.EncodeToString([]byte(huge)), true, "", 413, domain.CodePayloadTooLarge, ""},
		{"refresh token as a number", "refresh", `{"refresh_token":5}`, false, "", 400, domain.CodeValidation, "refresh_token"},
		{"refresh with unknown field", "refresh", `{"refresh_token":"x","family":"y"}`, false, "", 400, domain.CodeValidation, "family"},
		{"logout with unknown field", "logout", `{"all":true}`, false, "", 400, domain.CodeValidation, "all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := apitest.APIEvent(t, "apigw/auth/"+tc.file+".json", &f.standard.Principal)
			if tc.file != "logout" {
				ev.RequestContext.Authorizer = nil // public routes
			}
			apitest.SetBody(&ev, tc.body)
			ev.IsBase64Encoded = tc.b64
			if tc.ctype != "" {
				ev.Headers["content-type"] = tc.ctype
			}
			resp := apitest.Serve(t, f.mux, ev)
			if tc.field != "" {
				apitest.RequireError(t, resp, tc.status, tc.code, tc.field)
			} else {
				apitest.RequireError(t, resp, tc.status, tc.code)
			}
		})
	}
}

// TestTokenSeveralOrgs: users are unique per org and email; an email in
// several orgs must name the org.
func TestTokenSeveralOrgs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, otherAdmin := f.env.NewOrg(t)
	email := apptest.NewEmail("twin")
	ids := map[string]string{}
	for _, admin := range []apptest.Member{f.admin, otherAdmin} {
		u, err := f.env.Admin.CreateUser(context.Background(), admin.Principal, app.NewUserInput{Email: email, Password: apptest.TestPassword, Roles: []string{"viewer"}})
		if err != nil {
			t.Fatal(err)
		}
		ids[admin.OrgID] = u.ID
	}
	ev := apitest.APIEvent(t, "apigw/auth/token-password.json", nil, sampleEmail, email)
	apitest.SetJSON(t, &ev, map[string]string{"email": email, "password": apptest.TestPassword})
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "org_id")
	for org, id := range ids {
		apitest.SetJSON(t, &ev, map[string]string{"email": email, "password": apptest.TestPassword, "org_id": org})
		f.requireTokens(t, apitest.Serve(t, f.mux, ev), id, true)
	}
}

// TestTokenThrottledUnknownEmail: unknown emails count the same, so the
// throttle does not tell them apart either.
func TestTokenThrottledUnknownEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ev := apitest.APIEvent(t, "apigw/auth/token-password.json", nil)
	apitest.SetJSON(t, &ev, map[string]string{"email": apptest.NewEmail("ghost"), "password": apptest.TestPassword})
	for range app.MaxLoginFailures {
		apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusUnauthorized, domain.CodeInvalidCredentials)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusTooManyRequests, domain.CodeRateLimited)
}

// TestLogoutOthersRefreshToken: a session cannot revoke another user's
// login by naming its refresh token.
func TestLogoutOthersRefreshToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	victim := f.env.NewUser(t, f.admin, domain.RoleViewer)
	ev := apitest.APIEvent(t, "apigw/auth/logout.json", &f.standard.Principal, sampleRefresh, victim.Tokens.RefreshToken)
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "refresh_token")
	refresh := apitest.APIEvent(t, "apigw/auth/refresh.json", nil, sampleRefresh, victim.Tokens.RefreshToken)
	f.requireTokens(t, apitest.Serve(t, f.mux, refresh), victim.UserID, true)
}

// TestTrailingJSON: a body is exactly one JSON value. apigw.DecodeStrict
// refuses a second value ("{} {}") and trailing text ("{} x"), but a
// stray closing "]" or "}" after the object is accepted and the request
// goes on as if the body were valid.
//
// KNOWN BUG (fails today): DecodeStrict checks dec.More() and then tries
// to decode a second value, accepting when that fails; "]" and "}" make
// More() false and the second Decode fail, so they pass. Checking that the
// next token is io.EOF (dec.Token()) refuses them.
func TestTrailingJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, body := range []string{
		`{"email":"ada@example.org","password":"correct horse battery staple"} ]`,
		`{"email":"ada@example.org","password":"correct horse battery staple"}}`,
	} {
		ev := apitest.APIEvent(t, "apigw/auth/token-password.json", nil)
		apitest.SetBody(&ev, body)
		resp := apitest.Serve(t, f.mux, ev)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q answered %d %s, want 400 VALIDATION_FAILED naming body", body, resp.StatusCode, resp.Body)
			continue
		}
		apitest.RequireError(t, resp, http.StatusBadRequest, domain.CodeValidation, "body")
	}
}
