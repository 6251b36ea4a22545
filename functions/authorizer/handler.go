package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
)

// authorize turns a bearer token into a principal.
type authorize interface {
	Authorize(ctx context.Context, header string) (domain.Principal, error)
}

var _ authorize = (*app.Authorizer)(nil)

// handler is the HTTP API Lambda authorizer (payload 2.0, simple
// responses).
type handler struct {
	authz authorize
	log   *slog.Logger
}

// handle always lets the request through to the function, with either the
// principal or the refusal in the context: the function answers refusals
// in the contract's shape (401 AUTH_UNAUTHORIZED / 403 ORG_FORBIDDEN),
// which API Gateway's own 403 for isAuthorized=false cannot carry. The
// function's wrapper never runs a handler for a context without a
// principal. A dependency failure is an error, which API Gateway answers
// with 500 and does not cache.
func (h handler) handle(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	ctx = obs.With(ctx, obs.Fields{RequestID: ev.RequestContext.RequestID})
	p, err := h.authz.Authorize(ctx, authorizationHeader(ev))
	if err != nil {
		de, ok := domain.AsError(err)
		if !ok {
			h.log.ErrorContext(ctx, "authorizer dependency failed", "err", err)
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, err
		}
		h.log.WarnContext(ctx, "token refused", "code", de.Code, "reason", de.Message, "route", ev.RouteKey, "err", err.Error())
		if de.Code != domain.CodeNotReady {
			obs.Metric("authorizer", "AuthFailures", 1, "Count", map[string]string{"Code": string(de.Code)})
		}
		code := domain.CodeUnauthorized
		switch de.Code {
		case domain.CodeOrgForbidden, domain.CodeNotReady:
			// A suspended org, or a database that cannot be reached: the
			// function answers 403 / 503 with Retry-After, and a valid
			// token is not reported as bad while the database is down.
			code = de.Code
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{
			apigw.CtxAuthError: string(code), apigw.CtxAuthMessage: de.Message}}, nil
	}
	return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: apigw.PrincipalContext(p)}, nil
}

// authorizationHeader is the identity source: the Authorization header
// (API Gateway lowercases header names in payload 2.0).
func authorizationHeader(ev events.APIGatewayV2CustomAuthorizerV2Request) string {
	if v, ok := ev.Headers["authorization"]; ok {
		return v
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, "authorization") {
			return v
		}
	}
	if len(ev.IdentitySource) > 0 {
		return ev.IdentitySource[0]
	}
	return ""
}
