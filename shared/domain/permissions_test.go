package domain

import "testing"

// matrix is the contract's table, written out cell by cell so that a
// change to roleAdds that breaks the contract fails here.
var matrix = map[Permission][5]bool{ // viewer, standard, operator, admin, root
	PermOrgCreate:            {false, false, false, false, true},
	PermOrgList:              {false, false, false, false, true},
	PermOrgUpdate:            {false, false, false, false, true},
	PermUserCreate:           {false, false, false, true, true},
	PermUserUpdate:           {false, false, false, true, true},
	PermUserList:             {false, false, false, true, true},
	PermRoleAssign:           {false, false, false, true, true},
	PermServiceAccountManage: {false, false, false, true, true},
	PermAuditView:            {false, false, false, true, true},
	PermPipelineCreate:       {false, false, false, true, true},
	PermPipelineView:         {true, true, true, true, true},
	PermMoleculeView:         {true, true, true, true, true},
	PermJobView:              {true, true, true, true, true},
	PermJobResultsView:       {true, true, true, true, true},
	PermArtifactGet:          {true, true, true, true, true},
	PermMoleculeUpload:       {false, true, true, true, true},
	PermJobCreate:            {false, true, true, true, true},
	PermJobCancel:            {false, true, true, true, true},
	PermMoleculeDelete:       {false, true, true, true, true},
	PermJobCancelAny:         {false, false, true, true, true},
	PermMoleculeDeleteAny:    {false, false, true, true, true},
	PermSelf:                 {true, true, true, true, true},
}

func TestPermissionMatrixMatchesTheContract(t *testing.T) {
	roles := []Role{RoleViewer, RoleStandard, RoleOperator, RoleAdmin, RoleRoot}
	if len(matrix) != len(AllPermissions) {
		t.Fatalf("matrix has %d permissions, AllPermissions %d", len(matrix), len(AllPermissions))
	}
	for perm, want := range matrix {
		for i, r := range roles {
			t.Run(string(r)+"/"+string(perm), func(t *testing.T) {
				if got := RoleHas(r, perm); got != want[i] {
					t.Fatalf("RoleHas(%s, %s) = %v, want %v", r, perm, got, want[i])
				}
			})
		}
	}
}

func TestAuthorizeSeparatesForbiddenFromOrgForbidden(t *testing.T) {
	org := NewID()
	cases := []struct {
		name string
		p    Principal
		perm Permission
		want Code
	}{
		{"viewer may view jobs", Principal{SubjectID: "u", OrgID: org, Roles: []Role{RoleViewer}}, PermJobView, ""},
		{"viewer may not create jobs", Principal{SubjectID: "u", OrgID: org, Roles: []Role{RoleViewer}}, PermJobCreate, CodeForbidden},
		{"admin may not create orgs", Principal{SubjectID: "u", OrgID: org, Roles: []Role{RoleAdmin}}, PermOrgCreate, CodeForbidden},
		{"root without org may list orgs", Principal{SubjectID: "u", Roles: []Role{RoleRoot}}, PermOrgList, ""},
		{"root without org may read audit", Principal{SubjectID: "u", Roles: []Role{RoleRoot}}, PermAuditView, ""},
		{"root without org may not list jobs", Principal{SubjectID: "u", Roles: []Role{RoleRoot}}, PermJobView, CodeOrgForbidden},
		{"root with org may list jobs", Principal{SubjectID: "u", OrgID: org, Roles: []Role{RoleRoot}}, PermJobView, ""},
		{"scopes narrow the roles", Principal{SubjectID: "u", OrgID: org, Roles: []Role{RoleAdmin}, Scopes: []Permission{PermJobView}}, PermJobCreate, CodeForbidden},
		{"no subject is unauthorized", Principal{}, PermJobView, CodeUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.p.Authorize(c.perm)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if ErrorCode(err) != c.want {
				t.Fatalf("got %v, want %s", err, c.want)
			}
		})
	}
}

func TestValidateRolesRefusesRootAndUnknownRoles(t *testing.T) {
	cases := map[string]struct {
		in      []string
		allowed []Role
		ok      bool
	}{
		"admin grants operator":           {[]string{"operator"}, OrgRoles, true},
		"admin cannot grant root":         {[]string{"root"}, OrgRoles, false},
		"unknown role":                    {[]string{"superuser"}, OrgRoles, false},
		"empty":                           {nil, OrgRoles, false},
		"service account cannot be admin": {[]string{"admin"}, ServiceAccountRoles, false},
		"duplicates collapse":             {[]string{"viewer", "viewer"}, OrgRoles, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ValidateRoles(c.in, c.allowed)
			if (err == nil) != c.ok {
				t.Fatalf("ValidateRoles(%v) err=%v, want ok=%v", c.in, err, c.ok)
			}
		})
	}
}
