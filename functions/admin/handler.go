package main

import (
	"context"
	"net/http"
	"time"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/wire"
)

// handler serves orgs, users, service accounts and the audit log.
type handler struct {
	admin *app.Admin
}

func newMux(h handler, mux *apigw.Mux) *apigw.Mux {
	mux.Handle("POST /api/v1/orgs", h.createOrg)
	mux.Handle("GET /api/v1/orgs", h.listOrgs)
	mux.Handle("GET /api/v1/orgs/{org_id}", h.getOrg)
	mux.Handle("PATCH /api/v1/orgs/{org_id}", h.updateOrg)
	mux.Handle("POST /api/v1/users", h.createUser)
	mux.Handle("GET /api/v1/users", h.listUsers)
	mux.Handle("GET /api/v1/users/{user_id}", h.getUser)
	mux.Handle("PATCH /api/v1/users/{user_id}", h.updateUser)
	mux.Handle("POST /api/v1/service-accounts", h.createServiceAccount)
	mux.Handle("GET /api/v1/service-accounts", h.listServiceAccounts)
	mux.Handle("DELETE /api/v1/service-accounts/{service_account_id}", h.deleteServiceAccount)
	mux.Handle("GET /api/v1/audit", h.listAudit)
	return mux
}

type quotasJSON struct {
	MaxActiveJobs   int   `json:"max_active_jobs"`
	MaxStorageBytes int64 `json:"max_storage_bytes"`
}

type orgJSON struct {
	OrgID     string     `json:"org_id"`
	Name      string     `json:"name"`
	Status    string     `json:"status"`
	Quotas    quotasJSON `json:"quotas"`
	CreatedAt string     `json:"created_at"`
}

func orgOut(o domain.Org) orgJSON {
	return orgJSON{OrgID: o.ID, Name: o.Name, Status: string(o.Status),
		Quotas:    quotasJSON{MaxActiveJobs: o.Quotas.MaxActiveJobs, MaxStorageBytes: o.Quotas.MaxStorageBytes},
		CreatedAt: wire.Time(o.CreatedAt)}
}

type createOrgRequest struct {
	Name          string `json:"name"`
	AdminEmail    string `json:"admin_email"`
	AdminPassword string `json:"admin_password"`
}

type createOrgResponse struct {
	OrgID       string `json:"org_id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	AdminUserID string `json:"admin_user_id"`
	CreatedAt   string `json:"created_at"`
}

func (h handler) createOrg(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in createOrgRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	o, admin, err := h.admin.CreateOrg(ctx, r.Principal, app.NewOrgInput{Name: in.Name, AdminEmail: in.AdminEmail, AdminPassword: in.AdminPassword})
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusCreated, createOrgResponse{OrgID: o.ID, Name: o.Name, Status: string(o.Status),
		AdminUserID: admin.ID, CreatedAt: wire.Time(o.CreatedAt)}), nil
}

func (h handler) listOrgs(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	page, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.admin.ListOrgs(ctx, r.Principal, page)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, wire.NewList(wire.Map(res.Items, orgOut), res.NextCursor)), nil
}

func (h handler) getOrg(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("org_id")
	if err != nil {
		return nil, err
	}
	o, err := h.admin.GetOrg(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, orgOut(o)), nil
}

type updateOrgRequest struct {
	Status *string `json:"status"`
	Quotas *struct {
		MaxActiveJobs   *int   `json:"max_active_jobs"`
		MaxStorageBytes *int64 `json:"max_storage_bytes"`
	} `json:"quotas"`
}

func (h handler) updateOrg(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("org_id")
	if err != nil {
		return nil, err
	}
	var in updateOrgRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	var patch app.OrgPatch
	if in.Status != nil {
		st, err := domain.ParseOrgStatus(*in.Status)
		if err != nil {
			return nil, domain.InvalidField("status", err.Error())
		}
		patch.Status = &st
	}
	if in.Quotas != nil {
		patch.MaxActiveJobs, patch.MaxStorageBytes = in.Quotas.MaxActiveJobs, in.Quotas.MaxStorageBytes
	}
	o, err := h.admin.UpdateOrg(ctx, r.Principal, id, patch)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, orgOut(o)), nil
}

type userJSON struct {
	UserID    string   `json:"user_id"`
	Email     string   `json:"email"`
	OrgID     string   `json:"org_id"`
	Roles     []string `json:"roles"`
	Enabled   bool     `json:"enabled"`
	CreatedAt string   `json:"created_at"`
}

func roleStrings(rs []domain.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func userOut(u domain.User) userJSON {
	return userJSON{UserID: u.ID, Email: u.Email, OrgID: u.OrgID, Roles: roleStrings(u.Roles), Enabled: u.Enabled,
		CreatedAt: wire.Time(u.CreatedAt)}
}

type createUserRequest struct {
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

func (h handler) createUser(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in createUserRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	u, err := h.admin.CreateUser(ctx, r.Principal, app.NewUserInput{Email: in.Email, Password: in.Password, Roles: in.Roles})
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusCreated, userOut(u)), nil
}

func (h handler) listUsers(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	page, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.admin.ListUsers(ctx, r.Principal, page)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, wire.NewList(wire.Map(res.Items, userOut), res.NextCursor)), nil
}

func (h handler) getUser(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("user_id")
	if err != nil {
		return nil, err
	}
	u, err := h.admin.GetUser(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, userOut(u)), nil
}

type updateUserRequest struct {
	Roles   *[]string `json:"roles"`
	Enabled *bool     `json:"enabled"`
}

func (h handler) updateUser(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("user_id")
	if err != nil {
		return nil, err
	}
	var in updateUserRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	patch := app.UserPatch{Enabled: in.Enabled}
	if in.Roles != nil {
		patch.Roles = *in.Roles
		if patch.Roles == nil {
			patch.Roles = []string{}
		}
	}
	u, err := h.admin.UpdateUser(ctx, r.Principal, id, patch)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, userOut(u)), nil
}

type createSARequest struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

type saJSON struct {
	ServiceAccountID string   `json:"service_account_id"`
	Name             string   `json:"name"`
	ClientID         string   `json:"client_id"`
	ClientSecret     string   `json:"client_secret,omitempty"`
	Roles            []string `json:"roles"`
	CreatedAt        string   `json:"created_at"`
}

func saOut(sa domain.ServiceAccount) saJSON {
	return saJSON{ServiceAccountID: sa.ID, Name: sa.Name, ClientID: sa.ClientID, Roles: roleStrings(sa.Roles),
		CreatedAt: wire.Time(sa.CreatedAt)}
}

func (h handler) createServiceAccount(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in createSARequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	sa, err := h.admin.CreateServiceAccount(ctx, r.Principal, app.NewServiceAccountInput{Name: in.Name, Roles: in.Roles})
	if err != nil {
		return nil, err
	}
	out := saOut(sa.ServiceAccount)
	out.ClientSecret = sa.ClientSecret
	return apigw.JSON(http.StatusCreated, out), nil
}

func (h handler) listServiceAccounts(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	page, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.admin.ListServiceAccounts(ctx, r.Principal, page)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, wire.NewList(wire.Map(res.Items, saOut), res.NextCursor)), nil
}

func (h handler) deleteServiceAccount(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("service_account_id")
	if err != nil {
		return nil, err
	}
	if err := h.admin.DeleteServiceAccount(ctx, r.Principal, id); err != nil {
		return nil, err
	}
	return apigw.NoContent(), nil
}

type auditJSON struct {
	ID         string         `json:"id"`
	TS         string         `json:"ts"`
	OrgID      *string        `json:"org_id"`
	ActorID    string         `json:"actor_id"`
	ActorType  string         `json:"actor_type"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	JobID      *string        `json:"job_id,omitempty"`
	Outcome    string         `json:"outcome"`
	RequestID  string         `json:"request_id"`
	Detail     map[string]any `json:"detail"`
}

func auditOut(e domain.AuditEvent) auditJSON {
	out := auditJSON{ID: e.ID, TS: wire.Time(e.TS), ActorID: e.ActorID, ActorType: string(e.ActorType),
		Action: string(e.Action), TargetType: e.TargetType, TargetID: e.TargetID, Outcome: string(e.Outcome),
		RequestID: e.RequestID, Detail: e.Detail}
	if e.OrgID != "" {
		out.OrgID = &e.OrgID
	}
	if e.JobID != "" {
		out.JobID = &e.JobID
	}
	if out.Detail == nil {
		out.Detail = map[string]any{}
	}
	return out
}

func parseTime(field, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, domain.InvalidField(field, "must be an RFC 3339 time like 2026-01-02T15:04:05Z")
	}
	return &t, nil
}

func (h handler) listAudit(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	page, err := r.Page()
	if err != nil {
		return nil, err
	}
	q := app.AuditQuery{Action: r.Query("action")}
	if v := r.Query("org_id"); v != "" {
		id, err := domain.ParseID(v)
		if err != nil {
			return nil, domain.InvalidField("org_id", "must be a UUID")
		}
		q.OrgID = id
	}
	if q.Since, err = parseTime("since", r.Query("since")); err != nil {
		return nil, err
	}
	if q.Until, err = parseTime("until", r.Query("until")); err != nil {
		return nil, err
	}
	res, err := h.admin.ListAudit(ctx, r.Principal, q, page)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, wire.NewList(wire.Map(res.Items, auditOut), res.NextCursor)), nil
}
