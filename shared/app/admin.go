package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mad-bio/mad/shared/domain"
)

// Admin is the use case of org provisioning, users, service accounts and
// the audit log.
type Admin struct {
	Store   Store
	Hasher  PasswordHasher
	Secrets SecretGenerator
	Clock   Clock
}

// SecretGenerator makes and hashes service-account secrets.
type SecretGenerator interface {
	SecretHasher
	NewSecret() (string, error)
}

// NewOrgInput creates an org with its first admin.
type NewOrgInput struct {
	Name, AdminEmail, AdminPassword string
}

// CreateOrg provisions an org and its first admin in one transaction.
// Errors: VALIDATION_FAILED, CONFLICT (name taken).
func (a *Admin) CreateOrg(ctx context.Context, p domain.Principal, in NewOrgInput) (domain.Org, domain.User, error) {
	fe := domain.FieldErrors{}
	name := strings.TrimSpace(in.Name)
	if err := domain.ValidateName(name); err != nil {
		fe.Add("name", err.Error())
	}
	email, err := domain.NormalizeEmail(in.AdminEmail)
	if err != nil {
		fe.Add("admin_email", err.Error())
	}
	if err := domain.ValidatePassword(in.AdminPassword); err != nil {
		fe.Add("admin_password", err.Error())
	}
	if err := fe.Err(); err != nil {
		return domain.Org{}, domain.User{}, err
	}
	hash, err := a.Hasher.Hash(in.AdminPassword)
	if err != nil {
		return domain.Org{}, domain.User{}, err
	}
	t := now(a.Clock)
	org := domain.Org{ID: domain.NewID(), Name: name, Status: domain.OrgActive, Quotas: domain.DefaultQuotas, CreatedAt: t}
	admin := domain.User{ID: domain.NewID(), OrgID: org.ID, Email: email, PasswordHash: hash,
		Roles: []domain.Role{domain.RoleAdmin}, Enabled: true, CreatedAt: t}
	err = a.Store.Tx(ctx, domain.OrgScope(org.ID), func(tx Tx) error {
		if err := tx.Orgs().CreateOrg(ctx, org); err != nil {
			return err
		}
		if err := tx.Users().CreateUser(ctx, admin); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditOrgCreated, "org", org.ID)
		e.OrgID, e.Detail = org.ID, map[string]any{"name": org.Name}
		if err := tx.Audit().AppendAudit(ctx, e); err != nil {
			return err
		}
		e = audit(ctx, p, domain.AuditUserCreated, "user", admin.ID)
		e.OrgID, e.Detail = org.ID, map[string]any{"roles": admin.Roles}
		return tx.Audit().AppendAudit(ctx, e)
	})
	return org, admin, err
}

// ListOrgs lists every org (root only, enforced by the route).
func (a *Admin) ListOrgs(ctx context.Context, p domain.Principal, page Page) (Paged[domain.Org], error) {
	var rows []domain.Org
	err := a.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
		var err error
		rows, err = tx.Orgs().FindOrgs(ctx, page)
		return err
	})
	return paginate(rows, page, func(o domain.Org) string { return o.ID }), err
}

// GetOrg returns one org. Errors: ORG_NOT_FOUND.
func (a *Admin) GetOrg(ctx context.Context, p domain.Principal, id string) (domain.Org, error) {
	var o domain.Org
	err := a.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
		var err error
		o, err = tx.Orgs().FindOrgByID(ctx, id)
		return err
	})
	return o, err
}

// OrgPatch changes an org; nil fields stay.
type OrgPatch struct {
	Status          *domain.OrgStatus
	MaxActiveJobs   *int
	MaxStorageBytes *int64
}

// UpdateOrg changes status or quotas. Suspending stops every token and
// login of the org's users at once (the authorizer and login check the
// status on every call). Errors: ORG_NOT_FOUND, VALIDATION_FAILED.
func (a *Admin) UpdateOrg(ctx context.Context, p domain.Principal, id string, patch OrgPatch) (domain.Org, error) {
	var o domain.Org
	err := a.Store.Tx(ctx, domain.OrgScope(id), func(tx Tx) error {
		var err error
		if o, err = tx.Orgs().LockOrg(ctx, id); err != nil {
			return err
		}
		detail := map[string]any{}
		if patch.Status != nil && *patch.Status != o.Status {
			detail["status"] = map[string]any{"from": o.Status, "to": *patch.Status}
			o.Status = *patch.Status
		}
		q := o.Quotas
		if patch.MaxActiveJobs != nil {
			q.MaxActiveJobs = *patch.MaxActiveJobs
		}
		if patch.MaxStorageBytes != nil {
			q.MaxStorageBytes = *patch.MaxStorageBytes
		}
		if err := q.Validate("quotas"); err != nil {
			return err
		}
		if q != o.Quotas {
			detail["quotas"] = map[string]any{
				"from": map[string]any{"max_active_jobs": o.Quotas.MaxActiveJobs, "max_storage_bytes": o.Quotas.MaxStorageBytes},
				"to":   map[string]any{"max_active_jobs": q.MaxActiveJobs, "max_storage_bytes": q.MaxStorageBytes},
			}
			o.Quotas = q
		}
		if len(detail) == 0 {
			return nil
		}
		if err := tx.Orgs().UpdateOrg(ctx, o); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditOrgUpdated, "org", id)
		e.OrgID, e.Detail = id, detail
		return tx.Audit().AppendAudit(ctx, e)
	})
	return o, err
}

// NewUserInput creates a user in the admin's org.
type NewUserInput struct {
	Email, Password string
	Roles           []string
}

// CreateUser adds a user to the caller's org. Errors: VALIDATION_FAILED
// (including an attempt to grant root), CONFLICT (email exists in the org).
func (a *Admin) CreateUser(ctx context.Context, p domain.Principal, in NewUserInput) (domain.User, error) {
	fe := domain.FieldErrors{}
	email, err := domain.NormalizeEmail(in.Email)
	if err != nil {
		fe.Add("email", err.Error())
	}
	if err := domain.ValidatePassword(in.Password); err != nil {
		fe.Add("password", err.Error())
	}
	roles, err := domain.ValidateRoles(in.Roles, domain.OrgRoles)
	if err != nil {
		fe.Add("roles", err.Error())
	}
	if err := fe.Err(); err != nil {
		return domain.User{}, err
	}
	hash, err := a.Hasher.Hash(in.Password)
	if err != nil {
		return domain.User{}, err
	}
	u := domain.User{ID: domain.NewID(), OrgID: p.OrgID, Email: email, PasswordHash: hash, Roles: roles,
		Enabled: true, CreatedAt: now(a.Clock)}
	err = a.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if err := tx.Users().CreateUser(ctx, u); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditUserCreated, "user", u.ID)
		e.Detail = map[string]any{"roles": roles}
		return tx.Audit().AppendAudit(ctx, e)
	})
	return u, err
}

// ListUsers lists the caller's org's users.
func (a *Admin) ListUsers(ctx context.Context, p domain.Principal, page Page) (Paged[domain.User], error) {
	var rows []domain.User
	err := a.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		var err error
		rows, err = tx.Users().FindUsers(ctx, page)
		return err
	})
	return paginate(rows, page, func(u domain.User) string { return u.ID }), err
}

// GetUser returns a user of the caller's org. Errors: USER_NOT_FOUND.
func (a *Admin) GetUser(ctx context.Context, p domain.Principal, id string) (domain.User, error) {
	var u domain.User
	err := a.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		var err error
		u, err = tx.Users().FindUserByID(ctx, id)
		return err
	})
	return u, err
}

// UserPatch changes a user; nil fields stay.
type UserPatch struct {
	Roles   []string // nil: unchanged
	Enabled *bool
}

// UpdateUser changes roles or the enabled flag. Disabling revokes every
// token of the user; the last enabled admin of the org can be neither
// disabled nor demoted. Errors: USER_NOT_FOUND, VALIDATION_FAILED,
// FORBIDDEN (roles without role.assign), CONFLICT (last admin).
func (a *Admin) UpdateUser(ctx context.Context, p domain.Principal, id string, patch UserPatch) (domain.User, error) {
	var roles []domain.Role
	if patch.Roles != nil {
		if !p.Can(domain.PermRoleAssign) {
			return domain.User{}, domain.Errorf(domain.CodeForbidden, "missing permission %s", domain.PermRoleAssign)
		}
		var err error
		if roles, err = domain.ValidateRoles(patch.Roles, domain.OrgRoles); err != nil {
			return domain.User{}, domain.InvalidField("roles", err.Error())
		}
	}
	t := now(a.Clock)
	var u domain.User
	err := a.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		admins, err := tx.Users().LockEnabledAdmins(ctx)
		if err != nil {
			return err
		}
		if u, err = tx.Users().FindUserByIDForUpdate(ctx, id); err != nil {
			return err
		}
		before := u
		if roles != nil {
			u.Roles = roles
		}
		if patch.Enabled != nil {
			u.Enabled = *patch.Enabled
		}
		wasAdmin := before.Enabled && domain.HasRole(before.Roles, domain.RoleAdmin)
		isAdmin := u.Enabled && domain.HasRole(u.Roles, domain.RoleAdmin)
		if wasAdmin && !isAdmin && len(admins) <= 1 {
			return domain.Errorf(domain.CodeConflict, "the last enabled admin of an organization cannot be disabled or demoted")
		}
		rolesChanged := !sameRoles(before.Roles, u.Roles)
		disabled := before.Enabled && !u.Enabled
		if !rolesChanged && before.Enabled == u.Enabled {
			return nil
		}
		if disabled {
			u.TokensNotBefore = t
			if _, err := tx.Tokens().RevokeSubjectTokens(ctx, u.ID, t); err != nil {
				return err
			}
		}
		if err := tx.Users().UpdateUser(ctx, u); err != nil {
			return err
		}
		if rolesChanged {
			e := audit(ctx, p, domain.AuditUserRolesChanged, "user", u.ID)
			e.Detail = map[string]any{"from": before.Roles, "to": u.Roles}
			if err := tx.Audit().AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		if before.Enabled != u.Enabled {
			action := domain.AuditUserUpdated
			if disabled {
				action = domain.AuditUserDisabled
			}
			e := audit(ctx, p, action, "user", u.ID)
			e.Detail = map[string]any{"enabled": u.Enabled}
			return tx.Audit().AppendAudit(ctx, e)
		}
		return nil
	})
	return u, err
}

// NewServiceAccountInput creates a service account.
type NewServiceAccountInput struct {
	Name  string
	Roles []string
}

// CreatedServiceAccount carries the secret, shown once.
type CreatedServiceAccount struct {
	domain.ServiceAccount
	ClientSecret string
}

// CreateServiceAccount adds a machine client to the caller's org; its
// secret is returned once and stored hashed. Errors: VALIDATION_FAILED.
func (a *Admin) CreateServiceAccount(ctx context.Context, p domain.Principal, in NewServiceAccountInput) (CreatedServiceAccount, error) {
	fe := domain.FieldErrors{}
	if err := domain.ValidateName(in.Name); err != nil {
		fe.Add("name", err.Error())
	}
	roles, err := domain.ValidateRoles(in.Roles, domain.ServiceAccountRoles)
	if err != nil {
		fe.Add("roles", err.Error())
	}
	if err := fe.Err(); err != nil {
		return CreatedServiceAccount{}, err
	}
	secret, err := a.Secrets.NewSecret()
	if err != nil {
		return CreatedServiceAccount{}, err
	}
	id := domain.NewID()
	sa := domain.ServiceAccount{ID: id, OrgID: p.OrgID, Name: in.Name,
		ClientID: clientIDPrefix + strings.ReplaceAll(id, "-", ""), SecretHash: a.Secrets.HashSecret(secret),
		Roles: roles, CreatedAt: now(a.Clock), CreatedBy: p.SubjectID}
	err = a.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if err := tx.ServiceAccounts().CreateServiceAccount(ctx, sa); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditServiceAccountCreated, "service_account", sa.ID)
		e.Detail = map[string]any{"name": sa.Name, "roles": roles, "client_id": sa.ClientID}
		return tx.Audit().AppendAudit(ctx, e)
	})
	return CreatedServiceAccount{ServiceAccount: sa, ClientSecret: secret}, err
}

// ListServiceAccounts lists the org's service accounts.
func (a *Admin) ListServiceAccounts(ctx context.Context, p domain.Principal, page Page) (Paged[domain.ServiceAccount], error) {
	var rows []domain.ServiceAccount
	err := a.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		var err error
		rows, err = tx.ServiceAccounts().FindServiceAccounts(ctx, page)
		return err
	})
	return paginate(rows, page, func(s domain.ServiceAccount) string { return s.ID }), err
}

// DeleteServiceAccount removes a service account: it can no longer log in
// and its live tokens stop working at the next request. Errors:
// SERVICE_ACCOUNT_NOT_FOUND.
func (a *Admin) DeleteServiceAccount(ctx context.Context, p domain.Principal, id string) error {
	return a.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if err := tx.ServiceAccounts().DeleteServiceAccount(ctx, id, now(a.Clock)); err != nil {
			return err
		}
		return tx.Audit().AppendAudit(ctx, audit(ctx, p, domain.AuditServiceAccountDeleted, "service_account", id))
	})
}

// AuditQuery filters the audit listing.
type AuditQuery struct {
	OrgID        string // root only: the org to read; empty = the caller's scope
	Action       string
	Since, Until *time.Time
}

// ListAudit reads the audit log of the caller's org; a root may name any
// org, and without one reads the global (org-less) entries. Errors:
// VALIDATION_FAILED, ORG_NOT_FOUND (an admin naming another org).
func (a *Admin) ListAudit(ctx context.Context, p domain.Principal, q AuditQuery, page Page) (Paged[domain.AuditEvent], error) {
	scope := p.Scope()
	if q.OrgID != "" {
		if !p.IsRoot() && q.OrgID != p.OrgID {
			return Paged[domain.AuditEvent]{}, domain.Errorf(domain.CodeOrgNotFound, "organization not found")
		}
		scope = domain.OrgScope(q.OrgID)
	}
	if q.Since != nil && q.Until != nil && !q.Since.Before(*q.Until) {
		return Paged[domain.AuditEvent]{}, domain.InvalidField("until", "must be after since")
	}
	if q.Action != "" && (len(q.Action) > 64 || strings.ContainsFunc(q.Action, func(r rune) bool {
		return !(r == '.' || r == '_' || ('a' <= r && r <= 'z'))
	})) {
		return Paged[domain.AuditEvent]{}, domain.InvalidField("action", "must be an audit action like auth.login")
	}
	var rows []domain.AuditEvent
	err := a.Store.Tx(ctx, scope, func(tx Tx) error {
		if !scope.IsGlobal() {
			if _, err := tx.Orgs().FindOrgByID(ctx, scope.OrgID); err != nil {
				return err
			}
		}
		var err error
		rows, err = tx.Audit().FindAudit(ctx, AuditFilter{Action: q.Action, Since: q.Since, Until: q.Until}, page)
		return err
	})
	return paginate(rows, page, func(e domain.AuditEvent) string { return e.ID }), err
}

// SeedRoot creates the bootstrap root user unless a root user with that
// email exists. It runs at deploy time (migrate function) and on the
// local stack's first start; a second run changes nothing. The password is
// never reset here: a changed secret after the first run does not
// overwrite a password the root has since rotated.
func SeedRoot(ctx context.Context, s Store, h PasswordHasher, email, password string, c Clock) (created bool, err error) {
	email, err = domain.NormalizeEmail(email)
	if err != nil {
		return false, fmt.Errorf("root email: %w", err)
	}
	if err := domain.ValidatePassword(password); err != nil {
		return false, fmt.Errorf("root password: %w", err)
	}
	err = s.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
		_, err := tx.Users().FindUserByEmail(ctx, email)
		if err == nil {
			return nil
		}
		if domain.ErrorCode(err) != domain.CodeUserNotFound {
			return err
		}
		hash, err := h.Hash(password)
		if err != nil {
			return err
		}
		u := domain.User{ID: domain.NewID(), Email: email, PasswordHash: hash, Roles: []domain.Role{domain.RoleRoot},
			Enabled: true, CreatedAt: now(c)}
		if err := tx.Users().CreateUser(ctx, u); err != nil {
			return err
		}
		created = true
		sys := domain.SystemPrincipal("", "migrate")
		e := audit(ctx, sys, domain.AuditUserCreated, "user", u.ID)
		e.Detail = map[string]any{"roles": u.Roles, "bootstrap": true}
		return tx.Audit().AppendAudit(ctx, e)
	})
	return created, err
}
