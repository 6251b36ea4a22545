package domain

import "slices"

// SubjectType tells users and service accounts apart.
type SubjectType string

// Subject types.
const (
	SubjectUser           SubjectType = "user"
	SubjectServiceAccount SubjectType = "service_account"
	// SubjectSystem is the actor of asynchronous functions (engine, ingest,
	// dlq, sweeper) in audit entries; it is never a token subject.
	SubjectSystem SubjectType = "system"
)

// Principal is who is calling, built once at the edge from the authorizer's
// context and passed explicitly to every use case and repository.
type Principal struct {
	SubjectID   string
	SubjectType SubjectType
	// OrgID is the org the principal acts in; empty only for a root token
	// without an org context.
	OrgID string
	Roles []Role
	// Scopes, when present, narrow the roles' permissions.
	Scopes  []Permission
	TokenID string
}

// IsRoot reports whether the principal holds the global root role.
func (p Principal) IsRoot() bool { return slices.Contains(p.Roles, RoleRoot) }

// HomeOrgID is the org the subject's own record lives in: empty for root
// users (who belong to no org), the token's org for everyone else.
func (p Principal) HomeOrgID() string {
	if p.IsRoot() {
		return ""
	}
	return p.OrgID
}

// Can reports whether the principal's roles (narrowed by its scopes, if
// any) grant perm. It does not consider the org context; see Authorize.
func (p Principal) Can(perm Permission) bool {
	if len(p.Scopes) > 0 && !slices.Contains(p.Scopes, perm) {
		return false
	}
	for _, r := range p.Roles {
		if RoleHas(r, perm) {
			return true
		}
	}
	return false
}

// Permissions lists what the principal may do, in matrix order.
func (p Principal) Permissions() []Permission {
	var out []Permission
	for _, perm := range AllPermissions {
		if p.Can(perm) {
			out = append(out, perm)
		}
	}
	return out
}

// Authorize checks perm for a route: FORBIDDEN when the roles do not grant
// it, ORG_FORBIDDEN when an org-less root token calls an org route.
func (p Principal) Authorize(perm Permission) error {
	if p.SubjectID == "" {
		return Errorf(CodeUnauthorized, "authentication required")
	}
	if !p.Can(perm) {
		return Errorf(CodeForbidden, "missing permission %s", perm)
	}
	if p.OrgID == "" && !OrgLessPermissions[perm] {
		return Errorf(CodeOrgForbidden, "this route needs an org context; log in with org_id")
	}
	return nil
}

// Scope returns the data scope of the principal: its org, or the global
// (org-less) scope for a root token without an org.
func (p Principal) Scope() Scope {
	return Scope{OrgID: p.OrgID}
}

// Scope is the tenancy scope a repository transaction runs in. The zero
// value is the global scope, which sees only org-less rows (root users and
// their tokens, global audit entries) and none of any org's.
type Scope struct{ OrgID string }

// OrgScope returns the scope of one org.
func OrgScope(orgID string) Scope { return Scope{OrgID: orgID} }

// GlobalScope returns the org-less scope.
func GlobalScope() Scope { return Scope{} }

// IsGlobal reports whether the scope has no org.
func (s Scope) IsGlobal() bool { return s.OrgID == "" }

// SystemPrincipal returns the principal of an asynchronous function acting
// for org orgID (engine, ingest, dlq, sweeper). It carries no roles: the
// functions call use cases that do not check route permissions.
func SystemPrincipal(orgID, name string) Principal {
	return Principal{SubjectID: name, SubjectType: SubjectSystem, OrgID: orgID}
}
