package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/jwtauth"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// authEvent loads an authorizer sample event and puts header in as the
// Authorization header and identity source, as API Gateway does; an
// empty header removes both.
func authEvent(t testing.TB, rel, header string) events.APIGatewayV2CustomAuthorizerV2Request {
	t.Helper()
	ev := apitest.LoadEvent[events.APIGatewayV2CustomAuthorizerV2Request](t, rel)
	if header == "" {
		delete(ev.Headers, "authorization")
		ev.IdentitySource = nil
	} else {
		ev.Headers["authorization"] = header
		ev.IdentitySource = []string{header}
	}
	return ev
}

type fixture struct {
	env      *apptest.Env
	h        handler
	org      domain.Org
	admin    apptest.Member
	standard apptest.Member
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	return &fixture{env: env, h: handler{authz: env.Authorizer, log: apptest.Quiet}, org: org, admin: admin,
		standard: env.NewUser(t, admin, domain.RoleStandard)}
}

func (f *fixture) authorize(t *testing.T, ev events.APIGatewayV2CustomAuthorizerV2Request) events.APIGatewayV2CustomAuthorizerSimpleResponse {
	t.Helper()
	resp, err := f.h.handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("authorizer failed: %v", err)
	}
	if !resp.IsAuthorized {
		t.Fatalf("isAuthorized false: API Gateway would answer a bare 403 instead of the contract's error")
	}
	return resp
}

// requireRefused checks a refusal context: the code and a message, and no
// identity at all.
func requireRefused(t *testing.T, resp events.APIGatewayV2CustomAuthorizerSimpleResponse, code domain.Code) {
	t.Helper()
	c := resp.Context
	if c[apigw.CtxAuthError] != string(code) {
		t.Fatalf("context %v, want auth_error %s", c, code)
	}
	if msg, _ := c[apigw.CtxAuthMessage].(string); msg == "" || len(c) != 2 {
		t.Fatalf("refusal context %v, want exactly auth_error and auth_message", c)
	}
}

// viaFunction passes an authorizer context to a protected route the way
// API Gateway does, through the apigw wrapper every API function uses (here
// the auth function's GET /api/v1/me), and returns the response. The
// handler records the principal it was given.
func viaFunction(t *testing.T, authCtx map[string]any) (events.APIGatewayV2HTTPResponse, *domain.Principal) {
	t.Helper()
	var got *domain.Principal
	mux := apigw.NewMux(routes.FnAuth, apptest.Quiet)
	mux.Handle("GET /api/v1/me", func(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
		p := r.Principal
		got = &p
		return apigw.JSON(http.StatusOK, map[string]string{"user_id": p.SubjectID}), nil
	})
	ev := apitest.LoadAPIEvent(t, "apigw/auth/me.json")
	ev.RequestContext.Authorizer.Lambda = authCtx
	resp, err := mux.Lambda(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp, got
}

func requireContractError(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int, code domain.Code) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
	apitest.DecodeStrict(t, []byte(resp.Body), &body)
	if body.Error.Code != string(code) || body.Error.Message == "" || !domain.IsID(resp.Headers["X-Request-Id"]) {
		t.Fatalf("response %d %v %s, want %s in the contract's shape", resp.StatusCode, resp.Headers, resp.Body, code)
	}
}

func TestValidToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, m := range []apptest.Member{f.standard, f.admin} {
		resp := f.authorize(t, authEvent(t, "authorizer/bearer.json", "Bearer "+m.Tokens.AccessToken))
		want := map[string]any{"sub": m.UserID, "sub_type": "user", "org_id": f.org.ID, "roles": string(m.Roles[0]),
			"scopes": "", "jti": m.Principal.TokenID}
		if !domain.IsID(m.Principal.TokenID) || !equalContext(resp.Context, want) {
			t.Fatalf("context %v, want %v", resp.Context, want)
		}
		// What API Gateway hands the function: the wrapper rebuilds the
		// same principal from it.
		out, p := viaFunction(t, resp.Context)
		if out.StatusCode != http.StatusOK || p == nil || p.SubjectID != m.UserID || p.OrgID != f.org.ID ||
			p.TokenID != m.Principal.TokenID || len(p.Roles) != 1 || p.Roles[0] != m.Roles[0] {
			t.Fatalf("function got %+v (%d %s)", p, out.StatusCode, out.Body)
		}
	}

	// The header name's case and the scheme's case do not matter.
	ev := authEvent(t, "authorizer/bearer.json", "")
	ev.Headers["Authorization"] = "bearer " + f.standard.Tokens.AccessToken
	if resp := f.authorize(t, ev); resp.Context["sub"] != f.standard.UserID {
		t.Fatalf("context %v", resp.Context)
	}

	// Through the Lambda runtime's JSON, as API Gateway reads it.
	raw := apitest.LoadEvent[events.APIGatewayV2CustomAuthorizerV2Request](t, "authorizer/bearer.json")
	raw.IdentitySource = []string{"Bearer " + f.standard.Tokens.AccessToken}
	raw.Headers["authorization"] = raw.IdentitySource[0]
	payload, _ := json.Marshal(raw)
	out, err := lambda.NewHandler(f.h.handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var simple struct {
		IsAuthorized bool              `json:"isAuthorized"`
		Context      map[string]string `json:"context"`
	}
	apitest.DecodeStrict(t, out, &simple)
	if !simple.IsAuthorized || simple.Context["sub"] != f.standard.UserID || simple.Context["org_id"] != f.org.ID {
		t.Fatalf("simple response %s", out)
	}
}

func equalContext(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestRefusedTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	signer := f.env.AWS.Keys.Signer()
	now := f.env.Clock.Now()
	p := f.standard.Principal
	tok := func(use string, issued time.Time) string {
		family := ""
		if use == app.TokenRefresh {
			family = domain.NewID()
		}
		s, err := signer.Sign(ctx, app.Token{Use: use, SubjectID: p.SubjectID, SubjectType: p.SubjectType, OrgID: p.OrgID,
			Roles: p.Roles, FamilyID: family, IssuedAt: issued, ExpiresAt: issued.Add(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := f.standard.Tokens.AccessToken
	parts := strings.Split(good, ".")
	badSig := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	noneAlg := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."
	// Header and payload rewritten, the original signature kept.
	rehead := func(h string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + parts[1] + "." + parts[2]
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var head map[string]any
	_ = json.Unmarshal(hdr, &head)
	wrongKid := rehead(fmt.Sprintf(`{"alg":"HS256","typ":"at+jwt","kid":%q}`, domain.NewID()))
	rsAlg := rehead(fmt.Sprintf(`{"alg":"RS256","typ":"at+jwt","kid":%q}`, head["kid"]))
	jku := rehead(fmt.Sprintf(`{"alg":"HS256","typ":"at+jwt","kid":%q,"jku":"http://127.0.0.1:1/keys.json"}`, head["kid"]))
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(strings.Replace(string(payload), `"roles":["standard"]`, `"roles":["admin"]`, 1))) + "." + parts[2]
	if tamperedPayload == good {
		t.Fatal("the tampered token equals the original: the payload shape changed")
	}

	for _, tc := range []struct {
		name, file, header string
	}{
		{"no Authorization header", "authorizer/no-header.json", ""},
		{"Basic scheme", "authorizer/basic.json", "keep"},
		{"bearer without token", "authorizer/bearer.json", "Bearer "},
		{"garbage token", "authorizer/bearer.json", "Bearer not.a.jwt"},
		{"bad signature", "authorizer/bearer.json", "Bearer " + badSig},
		{"alg none", "authorizer/bearer.json", "Bearer " + noneAlg},
		{"expired", "authorizer/bearer.json", "Bearer " + tok(app.TokenAccess, now.Add(-time.Hour))},
		{"refresh token as access token", "authorizer/bearer.json", "Bearer " + f.standard.Tokens.RefreshToken},
		{"freshly signed refresh token", "authorizer/bearer.json", "Bearer " + tok(app.TokenRefresh, now)},
		{"token in the wrong place", "authorizer/bearer.json", good},
		{"oversized", "authorizer/bearer.json", "Bearer " + strings.Repeat("a", 64<<10)},
		{"20 KB token", "authorizer/bearer.json", "Bearer " + good + strings.Repeat("A", 20<<10)},
		{"unknown kid", "authorizer/bearer.json", "Bearer " + wrongKid},
		{"RS256 header on an HS256 deployment", "authorizer/bearer.json", "Bearer " + rsAlg},
		{"jku header", "authorizer/bearer.json", "Bearer " + jku},
		{"tampered payload (roles raised to admin)", "authorizer/bearer.json", "Bearer " + tamperedPayload},
		{"not valid yet (issued an hour from now)", "authorizer/bearer.json", "Bearer " + tok(app.TokenAccess, now.Add(time.Hour))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev events.APIGatewayV2CustomAuthorizerV2Request
			if tc.header == "keep" {
				ev = apitest.LoadEvent[events.APIGatewayV2CustomAuthorizerV2Request](t, tc.file)
			} else {
				ev = authEvent(t, tc.file, tc.header)
			}
			resp := f.authorize(t, ev)
			requireRefused(t, resp, domain.CodeUnauthorized)
			// The function answers the refusal in the contract's shape and
			// never runs the route's handler.
			out, got := viaFunction(t, resp.Context)
			if got != nil {
				t.Fatal("the route's handler ran for a refused token")
			}
			requireContractError(t, out, http.StatusUnauthorized, domain.CodeUnauthorized)
		})
	}

	t.Run("revoked by logout", func(t *testing.T) {
		m := f.env.NewUser(t, f.admin, domain.RoleViewer)
		if err := f.env.Auth.Logout(ctx, m.Principal, m.Tokens.RefreshToken); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, f.authorize(t, authEvent(t, "authorizer/bearer.json", "Bearer "+m.Tokens.AccessToken)), domain.CodeUnauthorized)
	})

	t.Run("deleted service account", func(t *testing.T) {
		sa, err := f.env.Admin.CreateServiceAccount(ctx, f.admin.Principal, app.NewServiceAccountInput{Name: "ci", Roles: []string{"viewer"}})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := f.env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret)
		if err != nil {
			t.Fatal(err)
		}
		ev := authEvent(t, "authorizer/bearer.json", "Bearer "+pair.AccessToken)
		if resp := f.authorize(t, ev); resp.Context["sub"] != sa.ID || resp.Context["sub_type"] != "service_account" {
			t.Fatalf("service account context %v", resp.Context)
		}
		if err := f.env.Admin.DeleteServiceAccount(ctx, f.admin.Principal, sa.ID); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, f.authorize(t, ev), domain.CodeUnauthorized)
	})

	t.Run("roles changed since issue", func(t *testing.T) {
		m := f.env.NewUser(t, f.admin, domain.RoleViewer)
		if _, err := f.env.Admin.UpdateUser(ctx, f.admin.Principal, m.UserID, app.UserPatch{Roles: []string{"operator"}}); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, f.authorize(t, authEvent(t, "authorizer/bearer.json", "Bearer "+m.Tokens.AccessToken)), domain.CodeUnauthorized)
	})

	t.Run("wrong issuer or audience", func(t *testing.T) {
		for _, cfg := range []jwtauth.Config{{Issuer: "not-mad"}, {Audience: "another-api"}} {
			cfg.Alg, cfg.SecretID, cfg.Clock, cfg.Log = jwtauth.HS256, f.env.AWS.SecretID, f.env.Clock.Now, apptest.Quiet
			k, err := jwtauth.New(cfg, testenv.SecretsClient(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := k.Signer().Sign(ctx, app.Token{Use: app.TokenAccess, SubjectID: p.SubjectID, SubjectType: p.SubjectType,
				OrgID: p.OrgID, Roles: p.Roles})
			if err != nil {
				t.Fatal(err)
			}
			requireRefused(t, f.authorize(t, authEvent(t, "authorizer/bearer.json", "Bearer "+raw)), domain.CodeUnauthorized)
		}
	})

	t.Run("disabled user", func(t *testing.T) {
		m := f.env.NewUser(t, f.admin, domain.RoleViewer)
		off := false
		if _, err := f.env.Admin.UpdateUser(ctx, f.admin.Principal, m.UserID, app.UserPatch{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		requireRefused(t, f.authorize(t, authEvent(t, "authorizer/bearer.json", "Bearer "+m.Tokens.AccessToken)), domain.CodeUnauthorized)
	})
}

func TestSuspendedOrg(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	suspended := domain.OrgSuspended
	root := f.env.NewRoot(t)
	if _, err := f.env.Admin.UpdateOrg(context.Background(), root.Principal, f.org.ID, app.OrgPatch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	resp := f.authorize(t, authEvent(t, "authorizer/bearer.json", "Bearer "+f.standard.Tokens.AccessToken))
	requireRefused(t, resp, domain.CodeOrgForbidden)
	out, got := viaFunction(t, resp.Context)
	if got != nil {
		t.Fatal("the route's handler ran for a suspended org")
	}
	requireContractError(t, out, http.StatusForbidden, domain.CodeOrgForbidden)

	// The org-less root token is not affected.
	resp = f.authorize(t, authEvent(t, "authorizer/bearer.json", "Bearer "+root.Tokens.AccessToken))
	if resp.Context["sub"] != root.UserID || resp.Context["roles"] != "root" || resp.Context["org_id"] != "" {
		t.Fatalf("root context %v", resp.Context)
	}
}

// authorizeFunc is a failing authorizer, for a dependency that is down.
type authorizeFunc func(ctx context.Context, header string) (domain.Principal, error)

func (f authorizeFunc) Authorize(ctx context.Context, header string) (domain.Principal, error) {
	return f(ctx, header)
}

// TestDependencyFailure: a database outage is an error (API Gateway
// answers 500 and caches nothing), never a cached refusal or a pass.
func TestDependencyFailure(t *testing.T) {
	t.Parallel()
	down := errors.New("connect: connection refused")
	h := handler{authz: authorizeFunc(func(context.Context, string) (domain.Principal, error) { return domain.Principal{}, down }),
		log: apptest.Quiet}
	resp, err := h.handle(context.Background(), authEvent(t, "authorizer/bearer.json", "Bearer x.y.z"))
	if !errors.Is(err, down) || resp.IsAuthorized {
		t.Fatalf("handle = %+v, %v; want the error and no authorization", resp, err)
	}
}
