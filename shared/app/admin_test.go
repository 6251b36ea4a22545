package app_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

func TestCreateOrg(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	root := env.NewRoot(t)
	name := "Acme Docking " + domain.NewID()
	email := apptest.NewEmail("founder")
	org, admin, err := env.Admin.CreateOrg(ctx, root.Principal, app.NewOrgInput{Name: name, AdminEmail: email, AdminPassword: apptest.TestPassword})
	ok(t, err)
	if org.Status != domain.OrgActive || org.Name != name || org.Quotas != domain.DefaultQuotas || admin.OrgID != org.ID ||
		!slices.Equal(admin.Roles, []domain.Role{domain.RoleAdmin}) || !admin.Enabled {
		t.Fatalf("org %+v admin %+v", org, admin)
	}

	t.Run("the admin can log in and administer the new org", func(t *testing.T) {
		m := env.Login(t, email, "")
		if m.OrgID != org.ID || m.UserID != admin.ID {
			t.Fatalf("login %+v", m)
		}
		ok(t, m.Principal.Authorize(domain.PermUserCreate))
	})
	t.Run("two audit entries in the new org's log", func(t *testing.T) {
		got := audits(t, env, domain.OrgScope(org.ID), "")
		var actions []domain.AuditAction
		for _, e := range got {
			if e.Action == domain.AuditLogin {
				continue // the admin's logins
			}
			if e.OrgID != org.ID || e.ActorID != root.UserID {
				t.Errorf("entry %+v: want org %s, actor %s", e, org.ID, root.UserID)
			}
			actions = append(actions, e.Action)
		}
		slices.Sort(actions)
		if !slices.Equal(actions, []domain.AuditAction{domain.AuditOrgCreated, domain.AuditUserCreated}) {
			t.Fatalf("actions %v, want org.created and user.created", actions)
		}
	})
	t.Run("the name is unique, whatever its case", func(t *testing.T) {
		for _, n := range []string{name, strings.ToUpper(name)} {
			_, _, err := env.Admin.CreateOrg(ctx, root.Principal, app.NewOrgInput{Name: n, AdminEmail: apptest.NewEmail("x"), AdminPassword: apptest.TestPassword})
			wantCode(t, err, domain.CodeConflict)
		}
	})
	t.Run("bad input names the fields", func(t *testing.T) {
		_, _, err := env.Admin.CreateOrg(ctx, root.Principal, app.NewOrgInput{Name: "", AdminEmail: "nope", AdminPassword: "short"})
		de := wantCode(t, err, domain.CodeValidation)
		for _, f := range []string{"name", "admin_email", "admin_password"} {
			if _, ok := de.Fields[f]; !ok {
				t.Errorf("fields %v lack %s", de.Fields, f)
			}
		}
	})
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	orgA, adminA := env.NewOrg(t)
	orgB, adminB := env.NewOrg(t)
	email := apptest.NewEmail("member")
	u, err := env.Admin.CreateUser(ctx, adminA.Principal, app.NewUserInput{Email: email, Password: apptest.TestPassword, Roles: []string{"standard"}})
	ok(t, err)
	if u.OrgID != orgA.ID || !u.Enabled || u.PasswordHash == apptest.TestPassword {
		t.Fatalf("user %+v", u)
	}

	cases := []struct {
		name  string
		admin apptest.Member
		in    app.NewUserInput
		code  domain.Code
		field string
	}{
		{"admins cannot grant root", adminA, app.NewUserInput{Email: apptest.NewEmail("r"), Password: apptest.TestPassword, Roles: []string{"root"}}, domain.CodeValidation, "roles"},
		{"admins cannot grant root alongside another role", adminA, app.NewUserInput{Email: apptest.NewEmail("r"), Password: apptest.TestPassword, Roles: []string{"viewer", "root"}}, domain.CodeValidation, "roles"},
		{"unknown role", adminA, app.NewUserInput{Email: apptest.NewEmail("r"), Password: apptest.TestPassword, Roles: []string{"superuser"}}, domain.CodeValidation, "roles"},
		{"no role", adminA, app.NewUserInput{Email: apptest.NewEmail("r"), Password: apptest.TestPassword}, domain.CodeValidation, "roles"},
		{"short password", adminA, app.NewUserInput{Email: apptest.NewEmail("r"), Password: "elevenchars", Roles: []string{"viewer"}}, domain.CodeValidation, "password"},
		{"duplicate email in the org", adminA, app.NewUserInput{Email: email, Password: apptest.TestPassword, Roles: []string{"viewer"}}, domain.CodeConflict, ""},
		{"duplicate email in another case", adminA, app.NewUserInput{Email: strings.ToUpper(email), Password: apptest.TestPassword, Roles: []string{"viewer"}}, domain.CodeConflict, ""},
		{"same email in another org is fine", adminB, app.NewUserInput{Email: email, Password: apptest.TestPassword, Roles: []string{"viewer"}}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.Admin.CreateUser(ctx, tc.admin.Principal, tc.in)
			switch {
			case tc.code == "":
				ok(t, err)
				if got.OrgID != orgB.ID {
					t.Fatalf("created in %s", got.OrgID)
				}
			case tc.field != "":
				wantField(t, err, tc.field)
			default:
				wantCode(t, err, tc.code)
			}
		})
	}
	t.Run("admins cannot grant root by update either", func(t *testing.T) {
		_, err := env.Admin.UpdateUser(ctx, adminA.Principal, u.ID, app.UserPatch{Roles: []string{"root"}})
		wantField(t, err, "roles")
	})
	t.Run("a user of another org is not found", func(t *testing.T) {
		_, err := env.Admin.GetUser(ctx, adminB.Principal, u.ID)
		wantCode(t, err, domain.CodeUserNotFound)
		_, err = env.Admin.UpdateUser(ctx, adminB.Principal, u.ID, app.UserPatch{Enabled: ptr(false)})
		wantCode(t, err, domain.CodeUserNotFound)
	})
	t.Run("nothing was written by the refused requests", func(t *testing.T) {
		if n := count(t, env, orgA.ID, `SELECT count(*) FROM users`); n != 2 {
			t.Fatalf("org A has %d users, want 2 (admin and member)", n)
		}
	})
}

func TestLastEnabledAdmin(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)

	_, err := env.Admin.UpdateUser(ctx, admin.Principal, admin.UserID, app.UserPatch{Enabled: ptr(false)})
	wantCode(t, err, domain.CodeConflict)
	_, err = env.Admin.UpdateUser(ctx, admin.Principal, admin.UserID, app.UserPatch{Roles: []string{"operator"}})
	wantCode(t, err, domain.CodeConflict)

	second := env.NewUser(t, admin, domain.RoleAdmin)
	u, err := env.Admin.UpdateUser(ctx, admin.Principal, admin.UserID, app.UserPatch{Roles: []string{"operator"}})
	ok(t, err)
	if !slices.Equal(u.Roles, []domain.Role{domain.RoleOperator}) {
		t.Fatalf("roles %v", u.Roles)
	}
	// second is now the last one.
	_, err = env.Admin.UpdateUser(ctx, second.Principal, second.UserID, app.UserPatch{Enabled: ptr(false)})
	wantCode(t, err, domain.CodeConflict)

	third := env.NewUser(t, second, domain.RoleAdmin)
	_, err = env.Admin.UpdateUser(ctx, second.Principal, third.UserID, app.UserPatch{Enabled: ptr(false)})
	ok(t, err)
	// A disabled admin does not count: second is the last enabled one again.
	_, err = env.Admin.UpdateUser(ctx, second.Principal, second.UserID, app.UserPatch{Roles: []string{"viewer"}})
	wantCode(t, err, domain.CodeConflict)
}

func TestConcurrentDemotionOfTheLastTwoAdmins(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	for round := range 5 {
		org, a := env.NewOrg(t)
		b := env.NewUser(t, a, domain.RoleAdmin)
		admins := []apptest.Member{a, b}
		errs := parallel(2, func(i int) error {
			// Each demotes the other.
			_, err := env.Admin.UpdateUser(ctx, admins[i].Principal, admins[1-i].UserID, app.UserPatch{Roles: []string{"standard"}})
			return err
		})
		succeeded := 0
		for _, err := range errs {
			if err == nil {
				succeeded++
			} else if domain.ErrorCode(err) != domain.CodeConflict {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		left := count(t, env, org.ID, `SELECT count(*) FROM users WHERE enabled AND 'admin' = ANY (roles)`)
		if succeeded != 1 || left != 1 {
			t.Fatalf("round %d: %d demotions succeeded and %d enabled admins remain; want exactly 1 and 1", round, succeeded, left)
		}
	}
}

func TestDisableUser(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	env.Login(t, u.Email, "") // a second refresh family
	if n := count(t, env, org.ID, `SELECT count(*) FROM refresh_tokens WHERE subject_id = $1 AND revoked_at IS NULL`, u.UserID); n != 2 {
		t.Fatalf("%d live refresh tokens before disabling, want 2", n)
	}

	got, err := env.Admin.UpdateUser(ctx, admin.Principal, u.UserID, app.UserPatch{Enabled: ptr(false)})
	ok(t, err)
	if got.Enabled || !got.TokensNotBefore.Equal(env.Clock.Now()) {
		t.Fatalf("user %+v", got)
	}
	if n := count(t, env, org.ID, `SELECT count(*) FROM refresh_tokens WHERE subject_id = $1 AND revoked_at IS NULL`, u.UserID); n != 0 {
		t.Fatalf("%d refresh tokens still live after disabling", n)
	}
	entries := auditFor(t, env, org.ID, domain.AuditUserDisabled, u.UserID)
	if len(entries) != 1 || entries[0].ActorID != admin.UserID || entries[0].Detail["enabled"] != false {
		t.Fatalf("user.disabled entries %+v", entries)
	}
	_, err = env.Auth.Refresh(ctx, u.Tokens.RefreshToken)
	wantCode(t, err, domain.CodeUnauthorized)

	t.Run("an unchanged patch writes nothing", func(t *testing.T) {
		before := len(audits(t, env, domain.OrgScope(org.ID), ""))
		_, err := env.Admin.UpdateUser(ctx, admin.Principal, u.UserID, app.UserPatch{Enabled: ptr(false)})
		ok(t, err)
		if after := len(audits(t, env, domain.OrgScope(org.ID), "")); after != before {
			t.Fatalf("audit grew from %d to %d", before, after)
		}
	})
	t.Run("a role change is audited as user.roles_changed", func(t *testing.T) {
		v := env.NewUser(t, admin, domain.RoleViewer)
		_, err := env.Admin.UpdateUser(ctx, admin.Principal, v.UserID, app.UserPatch{Roles: []string{"standard"}})
		ok(t, err)
		if e := auditFor(t, env, org.ID, domain.AuditUserRolesChanged, v.UserID); len(e) != 1 {
			t.Fatalf("user.roles_changed entries %+v", e)
		}
	})
}

func TestAuditListing(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	orgA, adminA := env.NewOrg(t)
	orgB, adminB := env.NewOrg(t)
	env.NewUser(t, adminB, domain.RoleViewer)
	root := env.NewRoot(t)
	// A global entry: a failed login of an unknown email.
	_, err := env.Auth.Login(ctx, app.PasswordLogin{Email: apptest.NewEmail("stranger"), Password: "whatever it is"})
	wantCode(t, err, domain.CodeInvalidCredentials)

	list := func(p domain.Principal, q app.AuditQuery) ([]domain.AuditEvent, error) {
		page, err := env.Admin.ListAudit(ctx, p, q, app.Page{Limit: 200})
		return page.Items, err
	}
	onlyOrg := func(t *testing.T, items []domain.AuditEvent, orgID string) {
		t.Helper()
		if len(items) == 0 {
			t.Fatal("no entries")
		}
		for _, e := range items {
			if e.OrgID != orgID {
				t.Fatalf("entry of org %q (%s) in a listing of org %q", e.OrgID, e.Action, orgID)
			}
		}
	}

	t.Run("an admin sees its own org only", func(t *testing.T) {
		items, err := list(adminA.Principal, app.AuditQuery{})
		ok(t, err)
		onlyOrg(t, items, orgA.ID)
		items, err = list(adminA.Principal, app.AuditQuery{OrgID: orgA.ID})
		ok(t, err)
		onlyOrg(t, items, orgA.ID)
	})
	t.Run("an admin naming another org gets ORG_NOT_FOUND", func(t *testing.T) {
		_, err := list(adminA.Principal, app.AuditQuery{OrgID: orgB.ID})
		wantCode(t, err, domain.CodeOrgNotFound)
	})
	t.Run("root sees any org", func(t *testing.T) {
		items, err := list(root.Principal, app.AuditQuery{OrgID: orgB.ID})
		ok(t, err)
		onlyOrg(t, items, orgB.ID)
		if !slices.ContainsFunc(items, func(e domain.AuditEvent) bool { return e.Action == domain.AuditOrgCreated && e.TargetID == orgB.ID }) {
			t.Fatal("org B's org.created entry is missing")
		}
	})
	t.Run("root naming an unknown org gets ORG_NOT_FOUND", func(t *testing.T) {
		_, err := list(root.Principal, app.AuditQuery{OrgID: domain.NewID()})
		wantCode(t, err, domain.CodeOrgNotFound)
	})
	t.Run("root without an org sees only global entries", func(t *testing.T) {
		items, err := list(root.Principal, app.AuditQuery{})
		ok(t, err)
		onlyOrg(t, items, "")
		if !slices.ContainsFunc(items, func(e domain.AuditEvent) bool { return e.Action == domain.AuditLogin && e.ActorID == root.UserID }) {
			t.Fatal("root's own login is missing from the global entries")
		}
	})
	t.Run("filters", func(t *testing.T) {
		items, err := list(adminB.Principal, app.AuditQuery{Action: string(domain.AuditUserCreated)})
		ok(t, err)
		if len(items) != 2 {
			t.Fatalf("%d user.created entries in org B, want 2", len(items))
		}
		_, err = list(adminB.Principal, app.AuditQuery{Action: "DROP TABLE"})
		wantField(t, err, "action")
		since := env.Clock.Now()
		_, err = list(adminB.Principal, app.AuditQuery{Since: &since, Until: &since})
		wantField(t, err, "until")
	})
}

func TestAuditPaginationWalksEveryRowOnce(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	for range 12 {
		_, err := env.Admin.CreateUser(ctx, admin.Principal, app.NewUserInput{Email: apptest.NewEmail("p"), Password: apptest.TestPassword, Roles: []string{"viewer"}})
		ok(t, err)
	}
	total := count(t, env, org.ID, `SELECT count(*) FROM audit_log`)
	if total < 14 {
		t.Fatalf("only %d audit rows", total)
	}
	for _, limit := range []int{1, 5, 7, total, total + 1} {
		seen := map[string]bool{}
		var last string
		page := app.Page{Limit: limit}
		for pages := 0; ; pages++ {
			if pages > total+1 {
				t.Fatalf("limit %d: cursor never ends", limit)
			}
			got, err := env.Admin.ListAudit(ctx, admin.Principal, app.AuditQuery{}, page)
			ok(t, err)
			if len(got.Items) > limit {
				t.Fatalf("limit %d: page of %d", limit, len(got.Items))
			}
			for _, e := range got.Items {
				if seen[e.ID] {
					t.Fatalf("limit %d: %s returned twice", limit, e.ID)
				}
				if last != "" && e.ID >= last {
					t.Fatalf("limit %d: %s after %s, want newest first", limit, e.ID, last)
				}
				seen[e.ID], last = true, e.ID
			}
			if got.NextCursor == "" {
				break
			}
			page.After, err = app.DecodeCursor(got.NextCursor)
			ok(t, err)
		}
		if len(seen) != total {
			t.Fatalf("limit %d: walked %d of %d rows", limit, len(seen), total)
		}
	}
	t.Run("a forged cursor is VALIDATION_FAILED", func(t *testing.T) {
		_, err := app.DecodeCursor("djE6Li4vZXRj")
		wantField(t, err, "cursor")
	})
}

func TestUpdateOrg(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, _ := env.NewOrg(t)
	root := env.NewRoot(t)

	got, err := env.Admin.UpdateOrg(ctx, root.Principal, org.ID, app.OrgPatch{MaxActiveJobs: ptr(7)})
	ok(t, err)
	if got.Quotas.MaxActiveJobs != 7 || got.Quotas.MaxStorageBytes != domain.DefaultQuotas.MaxStorageBytes || got.Status != domain.OrgActive {
		t.Fatalf("org %+v: fields not given must stay", got)
	}
	stored, err := env.Admin.GetOrg(ctx, root.Principal, org.ID)
	ok(t, err)
	if stored.Quotas != got.Quotas {
		t.Fatalf("stored %+v", stored)
	}
	if e := auditFor(t, env, org.ID, domain.AuditOrgUpdated, org.ID); len(e) != 1 || e[0].ActorID != root.UserID {
		t.Fatalf("org.updated entries %+v", e)
	}
	_, err = env.Admin.UpdateOrg(ctx, root.Principal, org.ID, app.OrgPatch{MaxActiveJobs: ptr(7)})
	ok(t, err)
	if e := auditFor(t, env, org.ID, domain.AuditOrgUpdated, org.ID); len(e) != 1 {
		t.Fatalf("a no-op patch was audited: %d entries", len(e))
	}
	_, err = env.Admin.UpdateOrg(ctx, root.Principal, org.ID, app.OrgPatch{MaxStorageBytes: ptr(int64(-1))})
	wantField(t, err, "quotas.max_storage_bytes")
	_, err = env.Admin.UpdateOrg(ctx, root.Principal, domain.NewID(), app.OrgPatch{MaxActiveJobs: ptr(1)})
	wantCode(t, err, domain.CodeOrgNotFound)
}

func TestServiceAccounts(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	_, other := env.NewOrg(t)

	for _, roles := range [][]string{{"admin"}, {"root"}, {}} {
		_, err := env.Admin.CreateServiceAccount(ctx, admin.Principal, app.NewServiceAccountInput{Name: "bot", Roles: roles})
		wantField(t, err, "roles")
	}
	_, err := env.Admin.CreateServiceAccount(ctx, admin.Principal, app.NewServiceAccountInput{Name: "", Roles: []string{"viewer"}})
	wantField(t, err, "name")

	keep, err := env.Admin.CreateServiceAccount(ctx, admin.Principal, app.NewServiceAccountInput{Name: "keep", Roles: []string{"operator"}})
	ok(t, err)
	gone, err := env.Admin.CreateServiceAccount(ctx, admin.Principal, app.NewServiceAccountInput{Name: "gone", Roles: []string{"viewer"}})
	ok(t, err)
	wantCode(t, env.Admin.DeleteServiceAccount(ctx, other.Principal, gone.ID), domain.CodeServiceAccountNotFound)
	ok(t, env.Admin.DeleteServiceAccount(ctx, admin.Principal, gone.ID))

	page, err := env.Admin.ListServiceAccounts(ctx, admin.Principal, app.Page{})
	ok(t, err)
	if len(page.Items) != 1 || page.Items[0].ID != keep.ID {
		t.Fatalf("listed %+v, want only %s", page.Items, keep.ID)
	}
	page, err = env.Admin.ListServiceAccounts(ctx, other.Principal, app.Page{})
	ok(t, err)
	if len(page.Items) != 0 {
		t.Fatalf("another org lists %d service accounts", len(page.Items))
	}
	if e := auditFor(t, env, org.ID, domain.AuditServiceAccountCreated, keep.ID); len(e) != 1 {
		t.Fatalf("service_account.created entries %+v", e)
	}
	if e := auditFor(t, env, org.ID, domain.AuditServiceAccountDeleted, gone.ID); len(e) != 1 {
		t.Fatalf("service_account.deleted entries %+v", e)
	}
	if n := count(t, env, org.ID, `SELECT count(*) FROM service_accounts WHERE secret_hash = $1`, keep.ClientSecret); n != 0 {
		t.Fatal("the secret is stored in clear")
	}
}

func TestAuditCarriesTheRequestID(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	rid := domain.NewID()
	rctx := obs.With(ctx, obs.Fields{RequestID: rid})
	u, err := env.Admin.CreateUser(rctx, admin.Principal, app.NewUserInput{Email: apptest.NewEmail("r"), Password: apptest.TestPassword, Roles: []string{"viewer"}})
	ok(t, err)
	e := auditFor(t, env, org.ID, domain.AuditUserCreated, u.ID)
	if len(e) != 1 || e[0].RequestID != rid {
		t.Fatalf("user.created entries %+v, want request id %s", e, rid)
	}
}
