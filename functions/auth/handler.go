package main

import (
	"context"
	"net/http"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// handler serves the auth routes.
type handler struct {
	auth *app.Auth
}

func newMux(h handler, mux *apigw.Mux) *apigw.Mux {
	mux.Handle("POST /api/v1/auth/token", h.token)
	mux.Handle("POST /api/v1/auth/refresh", h.refresh)
	mux.Handle("POST /api/v1/auth/logout", h.logout)
	mux.Handle("GET /api/v1/me", h.me)
	return mux
}

// tokenRequest is either a password login or client credentials; which
// one is told by the fields present.
type tokenRequest struct {
	Email        *string `json:"email"`
	Password     *string `json:"password"`
	OrgID        *string `json:"org_id"`
	ClientID     *string `json:"client_id"`
	ClientSecret *string `json:"client_secret"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func tokens(p app.TokenPair) *apigw.Response {
	r := apigw.JSON(http.StatusOK, tokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken,
		TokenType: "bearer", ExpiresIn: p.ExpiresIn})
	r.Headers = map[string]string{"Pragma": "no-cache"}
	return r
}

func (h handler) token(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in tokenRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	user := in.Email != nil || in.Password != nil || in.OrgID != nil
	client := in.ClientID != nil || in.ClientSecret != nil
	switch {
	case user && client:
		return nil, domain.InvalidField("body", "give either email and password or client_id and client_secret, not both")
	case client:
		p, err := h.auth.ClientLogin(ctx, deref(in.ClientID), deref(in.ClientSecret))
		if err != nil {
			return nil, err
		}
		return tokens(p), nil
	case user:
		p, err := h.auth.Login(ctx, app.PasswordLogin{Email: deref(in.Email), Password: deref(in.Password), OrgID: deref(in.OrgID)})
		if err != nil {
			return nil, err
		}
		return tokens(p), nil
	}
	return nil, domain.Invalid(map[string]string{"email": "required", "password": "required"})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (h handler) refresh(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in refreshRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	p, err := h.auth.Refresh(ctx, in.RefreshToken)
	if err != nil {
		return nil, err
	}
	return tokens(p), nil
}

type logoutRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (h handler) logout(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in logoutRequest
	if len(r.Body()) > 0 {
		if err := r.DecodeJSON(&in); err != nil {
			return nil, err
		}
	}
	if err := h.auth.Logout(ctx, r.Principal, in.RefreshToken); err != nil {
		return nil, err
	}
	return apigw.NoContent(), nil
}

type meResponse struct {
	UserID string   `json:"user_id"`
	Email  *string  `json:"email"`
	Name   string   `json:"name,omitempty"`
	Type   string   `json:"subject_type"`
	OrgID  *string  `json:"org_id"`
	Roles  []string `json:"roles"`
	Scopes []string `json:"scopes"`
}

func (h handler) me(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	me, err := h.auth.Me(ctx, r.Principal)
	if err != nil {
		return nil, err
	}
	out := meResponse{UserID: me.SubjectID, Name: me.Name, Type: string(r.Principal.SubjectType),
		Roles: []string{}, Scopes: []string{}}
	if me.Email != "" {
		out.Email = &me.Email
	}
	if me.OrgID != "" {
		out.OrgID = &me.OrgID
	}
	for _, x := range me.Roles {
		out.Roles = append(out.Roles, string(x))
	}
	for _, x := range me.Scopes {
		out.Scopes = append(out.Scopes, string(x))
	}
	return apigw.JSON(http.StatusOK, out), nil
}
