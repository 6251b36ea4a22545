package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// FuzzAuthorizerEvent feeds the authorizer Lambda events whose
// Authorization header (any name casing) and identity source are
// arbitrary, over the real token keys (moto) and store (Postgres), and
// hands its answer to a function's mux as API Gateway would. Whatever the
// input: the authorizer never fails (an error would be API Gateway's bare
// 500), always lets the request through, and its context is either a
// refusal AUTH_UNAUTHORIZED whose message does not quote the header, or
// the principal of a token minted at setup that the header carries; the
// function then answers the refusal 401 in the contract's shape and never
// runs a handler without a principal.
func FuzzAuthorizerEvent(f *testing.F) {
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	_, admin := env.NewOrg(f)
	u := env.NewUser(f, admin, domain.RoleStandard)
	h := handler{authz: env.Authorizer, log: apptest.Quiet}
	subjects := map[string]string{u.Tokens.AccessToken: u.UserID, admin.Tokens.AccessToken: admin.UserID}
	// Seeds name this process's tokens by placeholder: the fuzzing
	// coordinator and its workers each run this setup, with their own
	// database and keys, and share only the corpus.
	placeholders := strings.NewReplacer("$USER", u.Tokens.AccessToken, "$ADMIN", admin.Tokens.AccessToken,
		"$REFRESH", u.Tokens.RefreshToken)

	var reached domain.Principal
	mux := apigw.NewMux(routes.FnAuth, apptest.Quiet)
	mux.Handle("GET /api/v1/me", func(_ context.Context, r *apigw.Request) (*apigw.Response, error) {
		reached = r.Principal
		return apigw.NoContent(), nil
	})

	for _, s := range [][3]string{
		{"authorization", "Bearer $USER", "Bearer $USER"}, {"Authorization", "Bearer $ADMIN", ""},
		{"AUTHORIZATION", "bearer $USER", ""}, {"x-authorization", "Bearer $USER", ""},
		{"", "", "Bearer $USER"}, {"authorization", "", ""}, {"authorization", "Bearer", "Bearer"},
		{"authorization", "Bearer $REFRESH", "Bearer $REFRESH"}, {"authorization", "Basic dXNlcjpwYXNz", ""},
		{"authorization", "Bearer $USER", "Bearer $ADMIN"}, {"authorization", "Bearer $USER$USER", ""},
		{"authorization", "Bearer " + strings.Repeat("A", 8<<10), ""}, {"authorization", "Bearer \x00", ""},
		{"authorization", "Bearer eyJhbGciOiJub25lIn0.e30.", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}

	f.Fuzz(func(t *testing.T, name, value, identity string) {
		value, identity = placeholders.Replace(value), placeholders.Replace(identity)
		ev := events.APIGatewayV2CustomAuthorizerV2Request{Version: "2.0", Type: "REQUEST",
			RouteKey: "GET /api/v1/me", RawPath: "/api/v1/me", Headers: map[string]string{}}
		if name != "" {
			ev.Headers[name] = value
		}
		if identity != "" {
			ev.IdentitySource = []string{identity}
		}
		resp, err := h.handle(context.Background(), ev)
		if err != nil || !resp.IsAuthorized {
			t.Fatalf("%q=%q identity %q: authorizer answered %+v, %v", name, value, identity, resp, err)
		}
		sent := authorizationHeader(ev)
		if code, _ := resp.Context[apigw.CtxAuthError].(string); code != "" {
			msg, _ := resp.Context[apigw.CtxAuthMessage].(string)
			if code != string(domain.CodeUnauthorized) || msg == "" || len(resp.Context) != 2 {
				t.Fatalf("%q: refusal context %v", sent, resp.Context)
			}
			for _, part := range append(strings.Fields(sent), sent) {
				if len(part) > 12 && strings.Contains(msg, part) {
					t.Fatalf("refusal message %q quotes the header", msg)
				}
			}
		} else {
			sub, _ := resp.Context[apigw.CtxSubject].(string)
			want := ""
			for tk, s := range subjects {
				if strings.Contains(sent, tk) {
					want = s
				}
			}
			if want == "" || sub != want {
				t.Fatalf("header %q authorized as %v", sent, resp.Context)
			}
		}

		// The function's side: what API Gateway passes on.
		fev := &events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "GET /api/v1/me", RawPath: "/api/v1/me",
			Headers: map[string]string{}, RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP:       events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/api/v1/me"},
				Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: resp.Context}}}
		reached = domain.Principal{}
		out := mux.Serve(context.Background(), fev)
		switch out.StatusCode {
		case http.StatusNoContent:
			if _, refused := resp.Context[apigw.CtxAuthError]; refused || reached.SubjectID == "" ||
				reached.SubjectID != resp.Context[apigw.CtxSubject] {
				t.Fatalf("handler ran as %+v for context %v", reached, resp.Context)
			}
		case http.StatusUnauthorized:
			var e apigw.ErrorBody
			if err := json.Unmarshal([]byte(out.Body), &e); err != nil || e.Error.Code != domain.CodeUnauthorized ||
				e.Error.Message == "" || resp.Context[apigw.CtxAuthError] == nil {
				t.Fatalf("function answered 401 %s for context %v", out.Body, resp.Context)
			}
		default:
			t.Fatalf("function answered %d %s for context %v", out.StatusCode, out.Body, resp.Context)
		}
	})
}
