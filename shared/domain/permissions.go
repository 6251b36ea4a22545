package domain

import (
	"fmt"
	"slices"
)

// Role is a role a principal holds. Org roles apply within one org; root is
// global.
type Role string

// Roles of the contract.
const (
	RoleViewer   Role = "viewer"
	RoleStandard Role = "standard"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
	RoleRoot     Role = "root"
)

// OrgRoles are the roles an org admin may grant to users.
var OrgRoles = []Role{RoleViewer, RoleStandard, RoleOperator, RoleAdmin}

// ServiceAccountRoles are the roles a service account may hold.
var ServiceAccountRoles = []Role{RoleViewer, RoleStandard, RoleOperator}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleViewer, RoleStandard, RoleOperator, RoleAdmin, RoleRoot:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %.32q", s)
}

// Permission names one thing a principal may do. Routes carry one each.
type Permission string

// Permissions of the contract. The "_any" variants widen an owner-only
// permission to every resource of the org.
const (
	// PermSelf is held by every authenticated principal: /me, logout.
	PermSelf Permission = "self"

	PermOrgCreate Permission = "org.create"
	PermOrgList   Permission = "org.list"
	PermOrgUpdate Permission = "org.update"

	PermUserCreate           Permission = "user.create"
	PermUserUpdate           Permission = "user.update"
	PermUserList             Permission = "user.list"
	PermRoleAssign           Permission = "role.assign"
	PermServiceAccountManage Permission = "service_account.manage"
	PermAuditView            Permission = "audit.view"
	PermPipelineCreate       Permission = "pipeline.create"
	PermPipelineView         Permission = "pipeline.view"
	PermMoleculeView         Permission = "molecule.view"
	PermJobView              Permission = "job.view"
	PermJobResultsView       Permission = "job.results.view"
	PermArtifactGet          Permission = "artifact.get"
	PermMoleculeUpload       Permission = "molecule.upload"
	PermJobCreate            Permission = "job.create"
	PermJobCancel            Permission = "job.cancel"
	PermMoleculeDelete       Permission = "molecule.delete"
	PermJobCancelAny         Permission = "job.cancel_any"
	PermMoleculeDeleteAny    Permission = "molecule.delete_any"
)

// rolePermissions is the contract's permission matrix as data. Each role
// lists what it adds to the role below it; Permissions expands the chain.
var roleAdds = map[Role][]Permission{
	RoleViewer: {PermSelf, PermPipelineView, PermMoleculeView, PermJobView,
		PermJobResultsView, PermArtifactGet},
	RoleStandard: {PermMoleculeUpload, PermJobCreate, PermJobCancel, PermMoleculeDelete},
	RoleOperator: {PermJobCancelAny, PermMoleculeDeleteAny},
	RoleAdmin: {PermUserCreate, PermUserUpdate, PermUserList, PermRoleAssign,
		PermServiceAccountManage, PermAuditView, PermPipelineCreate},
	RoleRoot: {PermOrgCreate, PermOrgList, PermOrgUpdate},
}

// roleChain orders roles so that each holds the permissions of those before it.
var roleChain = []Role{RoleViewer, RoleStandard, RoleOperator, RoleAdmin, RoleRoot}

// AllPermissions lists every permission, in matrix order.
var AllPermissions = func() []Permission {
	var all []Permission
	for _, r := range roleChain {
		all = append(all, roleAdds[r]...)
	}
	return all
}()

var permsByRole = func() map[Role]map[Permission]bool {
	m := make(map[Role]map[Permission]bool, len(roleChain))
	acc := map[Permission]bool{}
	for _, r := range roleChain {
		for _, p := range roleAdds[r] {
			acc[p] = true
		}
		m[r] = maps(acc)
	}
	return m
}()

func maps(in map[Permission]bool) map[Permission]bool {
	out := make(map[Permission]bool, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// RoleHas reports whether role grants perm.
func RoleHas(role Role, perm Permission) bool {
	return permsByRole[role][perm]
}

// KnownPermission reports whether p is a permission of the matrix.
func KnownPermission(p Permission) bool {
	return slices.Contains(AllPermissions, p)
}

// OrgLessPermissions are what a root principal without an org may use:
// /orgs*, /audit and /me (plus logout, so a root can always end a session).
var OrgLessPermissions = map[Permission]bool{
	PermSelf: true, PermOrgCreate: true, PermOrgList: true, PermOrgUpdate: true,
	PermAuditView: true,
}
