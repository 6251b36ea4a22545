package app_test

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

func TestPasswordLogin(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	orgA, adminA := env.NewOrg(t)
	orgB, adminB := env.NewOrg(t)
	user := env.NewUser(t, adminA, domain.RoleStandard)
	root := env.NewRoot(t)

	// One address, a user in each org.
	shared := apptest.NewEmail("shared")
	for _, admin := range []apptest.Member{adminA, adminB} {
		_, err := env.Admin.CreateUser(ctx, admin.Principal, app.NewUserInput{Email: shared, Password: apptest.TestPassword, Roles: []string{"viewer"}})
		ok(t, err)
	}

	login := func(email, orgID string) (domain.Principal, error) {
		pair, err := env.Auth.Login(ctx, app.PasswordLogin{Email: email, Password: apptest.TestPassword, OrgID: orgID})
		if err != nil {
			return domain.Principal{}, err
		}
		if pair.RefreshToken == "" || pair.ExpiresIn != 900 {
			t.Fatalf("pair: refresh %q, expires_in %d; want a refresh token and 900", pair.RefreshToken, pair.ExpiresIn)
		}
		return env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
	}

	t.Run("org user without org_id acts in their org", func(t *testing.T) {
		p, err := login(user.Email, "")
		ok(t, err)
		if p.OrgID != orgA.ID || p.SubjectID != user.UserID || !slices.Equal(p.Roles, []domain.Role{domain.RoleStandard}) {
			t.Fatalf("principal %+v", p)
		}
	})
	t.Run("email address is case-insensitive", func(t *testing.T) {
		p, err := login(strings.ToUpper(user.Email[:1])+user.Email[1:], "")
		ok(t, err)
		if p.SubjectID != user.UserID {
			t.Fatalf("logged in as %s, want %s", p.SubjectID, user.UserID)
		}
	})
	t.Run("root without org_id gets an org-less token", func(t *testing.T) {
		p, err := login(root.Email, "")
		ok(t, err)
		if p.OrgID != "" || !p.IsRoot() {
			t.Fatalf("principal %+v", p)
		}
		ok(t, p.Authorize(domain.PermOrgCreate))
		wantCode(t, p.Authorize(domain.PermMoleculeView), domain.CodeOrgForbidden)
	})
	t.Run("root with org_id acts in that org", func(t *testing.T) {
		p, err := login(root.Email, orgB.ID)
		ok(t, err)
		if p.OrgID != orgB.ID || !p.IsRoot() || p.SubjectID != root.UserID {
			t.Fatalf("principal %+v", p)
		}
		ok(t, p.Authorize(domain.PermJobCreate))
		if _, err := env.Molecules.ListMolecules(ctx, p, app.Page{}); err != nil {
			t.Fatalf("root acting in org B cannot list its molecules: %v", err)
		}
	})
	t.Run("a malformed org_id is VALIDATION_FAILED", func(t *testing.T) {
		_, err := login(user.Email, "org-a")
		wantField(t, err, "org_id")
	})
	t.Run("root with an unknown org_id is refused", func(t *testing.T) {
		_, err := login(root.Email, domain.NewID())
		wantCode(t, err, domain.CodeInvalidCredentials)
	})
	t.Run("email in two orgs without org_id names org_id", func(t *testing.T) {
		_, err := login(shared, "")
		wantField(t, err, "org_id")
	})
	t.Run("email in two orgs with org_id picks that org", func(t *testing.T) {
		for _, org := range []domain.Org{orgA, orgB} {
			p, err := login(shared, org.ID)
			ok(t, err)
			if p.OrgID != org.ID {
				t.Fatalf("logged into %s, want %s", p.OrgID, org.ID)
			}
		}
	})
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	orgA, adminA := env.NewOrg(t)
	orgB, adminB := env.NewOrg(t)
	wrongPw := env.NewUser(t, adminA, domain.RoleStandard)
	disabled := env.NewUser(t, adminA, domain.RoleStandard)
	_, err := env.Admin.UpdateUser(ctx, adminA.Principal, disabled.UserID, app.UserPatch{Enabled: ptr(false)})
	ok(t, err)
	suspended := env.NewUser(t, adminB, domain.RoleStandard)
	root := env.NewRoot(t)
	_, err = env.Admin.UpdateOrg(ctx, root.Principal, orgB.ID, app.OrgPatch{Status: ptr(domain.OrgSuspended)})
	ok(t, err)
	otherOrg := env.NewUser(t, adminA, domain.RoleViewer)

	cases := []struct {
		name, email, password, orgID string
	}{
		{"wrong password", wrongPw.Email, "not the password at all", ""},
		{"unknown email", apptest.NewEmail("nobody"), apptest.TestPassword, ""},
		{"disabled user", disabled.Email, apptest.TestPassword, ""},
		{"suspended org", suspended.Email, apptest.TestPassword, ""},
		{"user of another org than org_id", otherOrg.Email, apptest.TestPassword, orgB.ID},
	}
	var first string
	for _, tc := range cases {
		_, err := env.Auth.Login(ctx, app.PasswordLogin{Email: tc.email, Password: tc.password, OrgID: tc.orgID})
		de := wantCode(t, err, domain.CodeInvalidCredentials)
		if first == "" {
			first = de.Error()
		}
		if de.Error() != first || len(de.Fields) != 0 || de.RetryAfter != 0 {
			t.Errorf("%s: error %q (fields %v), want exactly %q like the others", tc.name, de.Error(), de.Fields, first)
		}
	}

	t.Run("a wrong password is audited in the user's org", func(t *testing.T) {
		got := auditFor(t, env, orgA.ID, domain.AuditLoginFailed, wrongPw.UserID)
		if len(got) != 1 || got[0].Outcome != domain.OutcomeFailure || got[0].Detail["reason"] != "wrong password" {
			t.Fatalf("auth.login_failed entries %+v", got)
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)

	attempt := func(email, pw string) error {
		_, err := env.Auth.Login(ctx, app.PasswordLogin{Email: email, Password: pw})
		return err
	}
	fail := func(t *testing.T, email string, n int) {
		t.Helper()
		for range n {
			wantCode(t, attempt(email, "definitely the wrong one"), domain.CodeInvalidCredentials)
		}
	}

	t.Run("after five failures the right password is rate limited", func(t *testing.T) {
		u := env.NewUser(t, admin, domain.RoleStandard)
		fail(t, u.Email, app.MaxLoginFailures)
		de := wantCode(t, attempt(u.Email, apptest.TestPassword), domain.CodeRateLimited)
		if de.RetryAfter <= 0 || de.RetryAfter > app.LoginFailureWindow {
			t.Fatalf("RetryAfter = %s, want within (0, 15m]", de.RetryAfter)
		}
	})
	t.Run("unknown emails count the same", func(t *testing.T) {
		email := apptest.NewEmail("ghost")
		fail(t, email, app.MaxLoginFailures)
		de := wantCode(t, attempt(email, "anything at all"), domain.CodeRateLimited)
		if de.RetryAfter <= 0 {
			t.Fatalf("RetryAfter = %s", de.RetryAfter)
		}
	})
	t.Run("a success before the limit clears the count", func(t *testing.T) {
		u := env.NewUser(t, admin, domain.RoleStandard)
		fail(t, u.Email, app.MaxLoginFailures-1)
		ok(t, attempt(u.Email, apptest.TestPassword))
		fail(t, u.Email, app.MaxLoginFailures-1)
		ok(t, attempt(u.Email, apptest.TestPassword))
	})
}

func TestLoginThrottleLiftsAfterTheWindow(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	login := func(pw string) error {
		_, err := env.Auth.Login(ctx, app.PasswordLogin{Email: u.Email, Password: pw})
		return err
	}
	for range app.MaxLoginFailures {
		wantCode(t, login("definitely the wrong one"), domain.CodeInvalidCredentials)
	}
	env.Clock.Advance(app.LoginFailureWindow - time.Second)
	de := wantCode(t, login(apptest.TestPassword), domain.CodeRateLimited)
	if de.RetryAfter != time.Second {
		t.Fatalf("RetryAfter = %s one second before the window ends, want 1s", de.RetryAfter)
	}
	env.Clock.Advance(time.Second)
	ok(t, login(apptest.TestPassword))
}

// gatheringHasher holds every password check until n of them are under
// way (or a second has passed), so concurrent logins overlap for sure.
type gatheringHasher struct {
	app.PasswordHasher
	mu      sync.Mutex
	n       int
	arrived int
	all     chan struct{}
}

func (g *gatheringHasher) Verify(hash, password string) bool {
	g.mu.Lock()
	g.arrived++
	if g.arrived == g.n {
		close(g.all)
	}
	g.mu.Unlock()
	select {
	case <-g.all:
	case <-time.After(time.Second):
	}
	return g.PasswordHasher.Verify(hash, password)
}

// Throttling is checked in one transaction and recorded in another,
// after the password check. Guesses sent in parallel all pass the check
// before any failure is recorded, so the limit of five does not hold.
func TestLoginThrottleHoldsUnderConcurrentGuesses(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	const guesses = 20
	env.Auth.Hasher = &gatheringHasher{PasswordHasher: env.Hasher, n: guesses, all: make(chan struct{})}
	errs := parallel(guesses, func(i int) error {
		_, err := env.Auth.Login(ctx, app.PasswordLogin{Email: u.Email, Password: "guess number " + strconv.Itoa(i)})
		return err
	})
	checked := 0
	for _, err := range errs {
		switch domain.ErrorCode(err) {
		case domain.CodeInvalidCredentials:
			checked++
		case domain.CodeRateLimited:
		default:
			t.Fatalf("unexpected outcome %v", err)
		}
	}
	if checked > app.MaxLoginFailures {
		t.Errorf("%d of %d concurrent guesses had their password checked; the limit is %d per 15 minutes",
			checked, guesses, app.MaxLoginFailures)
	}
}

func TestClientCredentialsLogin(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	sa, err := env.Admin.CreateServiceAccount(ctx, admin.Principal, app.NewServiceAccountInput{Name: "pipeline bot", Roles: []string{"standard"}})
	ok(t, err)
	if sa.ClientSecret == "" || sa.SecretHash == sa.ClientSecret {
		t.Fatalf("secret %q stored as %q", sa.ClientSecret, sa.SecretHash)
	}

	pair, err := env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret)
	ok(t, err)
	if pair.AccessToken == "" || pair.RefreshToken != "" {
		t.Fatalf("client credentials gave access %t, refresh %q; want an access token only", pair.AccessToken != "", pair.RefreshToken)
	}
	p, err := env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
	ok(t, err)
	if p.SubjectID != sa.ID || p.SubjectType != domain.SubjectServiceAccount || p.OrgID != org.ID ||
		!slices.Equal(p.Roles, []domain.Role{domain.RoleStandard}) {
		t.Fatalf("principal %+v", p)
	}

	t.Run("wrong secret", func(t *testing.T) {
		_, err := env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret+"x")
		wantCode(t, err, domain.CodeInvalidCredentials)
	})
	t.Run("unknown client id", func(t *testing.T) {
		_, err := env.Auth.ClientLogin(ctx, "mad_sa_"+domain.NewID(), sa.ClientSecret)
		wantCode(t, err, domain.CodeInvalidCredentials)
	})
	t.Run("a deleted service account can no longer log in and its token stops working", func(t *testing.T) {
		ok(t, env.Admin.DeleteServiceAccount(ctx, admin.Principal, sa.ID))
		_, err := env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret)
		wantCode(t, err, domain.CodeInvalidCredentials)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized)
		wantCode(t, env.Admin.DeleteServiceAccount(ctx, admin.Principal, sa.ID), domain.CodeServiceAccountNotFound)
	})
}

func TestRefreshRotationAndReuseDetection(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	other := env.Login(t, u.Email, "") // a second login: its own family

	first := u.Tokens
	second, err := env.Auth.Refresh(ctx, first.RefreshToken)
	ok(t, err)
	if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
		t.Fatal("refresh did not return a new pair")
	}
	p, err := env.Authorizer.Authorize(ctx, "Bearer "+second.AccessToken)
	ok(t, err)
	if p.SubjectID != u.UserID || p.OrgID != org.ID {
		t.Fatalf("principal %+v", p)
	}
	third, err := env.Auth.Refresh(ctx, second.RefreshToken)
	ok(t, err)

	// first is spent: presenting it again is reuse.
	_, err = env.Auth.Refresh(ctx, first.RefreshToken)
	wantCode(t, err, domain.CodeUnauthorized)

	t.Run("the newest refresh token of the family stops working", func(t *testing.T) {
		_, err := env.Auth.Refresh(ctx, third.RefreshToken)
		wantCode(t, err, domain.CodeUnauthorized)
	})
	t.Run("another login's family keeps working", func(t *testing.T) {
		next, err := env.Auth.Refresh(ctx, other.Tokens.RefreshToken)
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+next.AccessToken)
		ok(t, err)
	})
	t.Run("the reuse is audited", func(t *testing.T) {
		got := audits(t, env, domain.OrgScope(org.ID), domain.AuditRefreshReuseDetected)
		if len(got) != 1 || got[0].ActorID != u.UserID || got[0].Outcome != domain.OutcomeFailure {
			t.Fatalf("auth.refresh_reuse_detected entries: %+v", got)
		}
	})
	t.Run("an access token is not a refresh token", func(t *testing.T) {
		_, err := env.Auth.Refresh(ctx, other.Tokens.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized)
	})
}

func TestLogout(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	other := env.Login(t, u.Email, "")

	ok(t, env.Auth.Logout(ctx, u.Principal, u.Tokens.RefreshToken))

	_, err := env.Authorizer.Authorize(ctx, "Bearer "+u.Tokens.AccessToken)
	wantCode(t, err, domain.CodeUnauthorized)
	_, err = env.Auth.Refresh(ctx, u.Tokens.RefreshToken)
	wantCode(t, err, domain.CodeUnauthorized)

	_, err = env.Authorizer.Authorize(ctx, "Bearer "+other.Tokens.AccessToken)
	ok(t, err)
	_, err = env.Auth.Refresh(ctx, other.Tokens.RefreshToken)
	ok(t, err)

	t.Run("another user's refresh token is refused", func(t *testing.T) {
		v := env.NewUser(t, admin, domain.RoleViewer)
		wantField(t, env.Auth.Logout(ctx, v.Principal, other.Tokens.RefreshToken), "refresh_token")
	})
	t.Run("root without an org can log out", func(t *testing.T) {
		root := env.NewRoot(t)
		ok(t, env.Auth.Logout(ctx, root.Principal, root.Tokens.RefreshToken))
		_, err := env.Authorizer.Authorize(ctx, "Bearer "+root.Tokens.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized)
	})
}

func TestAuthorizerRefuses(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)

	for _, h := range []string{"", "Bearer", "Bearer ", "Basic " + u.Tokens.AccessToken, "Bearer not.a.jwt",
		u.Tokens.AccessToken, "Bearer " + u.Tokens.AccessToken + "x", "Bearer " + u.Tokens.RefreshToken} {
		_, err := env.Authorizer.Authorize(ctx, h)
		wantCode(t, err, domain.CodeUnauthorized)
	}

	t.Run("disabled user, and still after re-enabling", func(t *testing.T) {
		v := env.NewUser(t, admin, domain.RoleStandard)
		_, err := env.Admin.UpdateUser(ctx, admin.Principal, v.UserID, app.UserPatch{Enabled: ptr(false)})
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+v.Tokens.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized)
		_, err = env.Admin.UpdateUser(ctx, admin.Principal, v.UserID, app.UserPatch{Enabled: ptr(true)})
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+v.Tokens.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized) // tokens_not_before
		_, err = env.Auth.Refresh(ctx, v.Tokens.RefreshToken)
		wantCode(t, err, domain.CodeUnauthorized)
	})
	t.Run("deleted service account", func(t *testing.T) {
		sa, err := env.Admin.CreateServiceAccount(ctx, admin.Principal, app.NewServiceAccountInput{Name: "bot", Roles: []string{"viewer"}})
		ok(t, err)
		pair, err := env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret)
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
		ok(t, err)
		ok(t, env.Admin.DeleteServiceAccount(ctx, admin.Principal, sa.ID))
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized)
	})
	t.Run("roles changed since issue; a refresh brings the new roles", func(t *testing.T) {
		v := env.NewUser(t, admin, domain.RoleViewer)
		_, err := env.Admin.UpdateUser(ctx, admin.Principal, v.UserID, app.UserPatch{Roles: []string{"operator"}})
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+v.Tokens.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized)
		pair, err := env.Auth.Refresh(ctx, v.Tokens.RefreshToken)
		ok(t, err)
		p, err := env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
		ok(t, err)
		if !slices.Equal(p.Roles, []domain.Role{domain.RoleOperator}) {
			t.Fatalf("roles after refresh %v, want [operator]", p.Roles)
		}
	})
	t.Run("suspended org is ORG_FORBIDDEN", func(t *testing.T) {
		org2, admin2 := env.NewOrg(t)
		v := env.NewUser(t, admin2, domain.RoleStandard)
		sa, err := env.Admin.CreateServiceAccount(ctx, admin2.Principal, app.NewServiceAccountInput{Name: "bot", Roles: []string{"viewer"}})
		ok(t, err)
		saPair, err := env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret)
		ok(t, err)
		root := env.NewRoot(t)
		_, err = env.Admin.UpdateOrg(ctx, root.Principal, org2.ID, app.OrgPatch{Status: ptr(domain.OrgSuspended)})
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+v.Tokens.AccessToken)
		wantCode(t, err, domain.CodeOrgForbidden)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+saPair.AccessToken)
		wantCode(t, err, domain.CodeOrgForbidden)
		_, err = env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret)
		wantCode(t, err, domain.CodeInvalidCredentials)
		_, err = env.Auth.Refresh(ctx, v.Tokens.RefreshToken)
		wantCode(t, err, domain.CodeUnauthorized)
		// Reactivation restores access: suspension is not a revocation.
		_, err = env.Admin.UpdateOrg(ctx, root.Principal, org2.ID, app.OrgPatch{Status: ptr(domain.OrgActive)})
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+v.Tokens.AccessToken)
		ok(t, err)
	})
	t.Run("a token of the org's member still works", func(t *testing.T) {
		p, err := env.Authorizer.Authorize(ctx, "Bearer "+u.Tokens.AccessToken)
		ok(t, err)
		if p.OrgID != org.ID {
			t.Fatalf("org %s", p.OrgID)
		}
	})
}

// A re-enabled user logs in again once the clock has left the second of
// the disabling (tokens_not_before has one-second precision).
func TestReenabledUserCanLogInAgain(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)
	v := env.NewUser(t, admin, domain.RoleStandard)
	_, err := env.Admin.UpdateUser(ctx, admin.Principal, v.UserID, app.UserPatch{Enabled: ptr(false)})
	ok(t, err)
	_, err = env.Admin.UpdateUser(ctx, admin.Principal, v.UserID, app.UserPatch{Enabled: ptr(true)})
	ok(t, err)
	env.Clock.Advance(time.Second)
	env.Login(t, v.Email, "")
}

func TestExpiredAndForeignTokens(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	_, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)

	t.Run("a token signed with another key", func(t *testing.T) {
		other := apptest.NewAWS(t, env.Clock.Now, 0)
		tok, err := other.Keys.Signer().Sign(ctx, app.Token{Use: app.TokenAccess, SubjectID: u.UserID, SubjectType: domain.SubjectUser,
			OrgID: u.OrgID, Roles: u.Roles, IssuedAt: env.Clock.Now(), ExpiresAt: env.Clock.Now().Add(time.Minute)})
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+tok)
		wantCode(t, err, domain.CodeUnauthorized)
	})
	t.Run("an expired access token; the refresh token still works", func(t *testing.T) {
		env.Clock.Advance(15*time.Minute + time.Minute) // TTL plus more than the leeway
		_, err := env.Authorizer.Authorize(ctx, "Bearer "+u.Tokens.AccessToken)
		wantCode(t, err, domain.CodeUnauthorized)
		pair, err := env.Auth.Refresh(ctx, u.Tokens.RefreshToken)
		ok(t, err)
		_, err = env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
		ok(t, err)
	})
}

func TestMe(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	root := env.NewRoot(t)
	sa, err := env.Admin.CreateServiceAccount(ctx, admin.Principal, app.NewServiceAccountInput{Name: "ci bot", Roles: []string{"viewer"}})
	ok(t, err)
	pair, err := env.Auth.ClientLogin(ctx, sa.ClientID, sa.ClientSecret)
	ok(t, err)
	saP, err := env.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
	ok(t, err)

	me, err := env.Auth.Me(ctx, admin.Principal)
	ok(t, err)
	if me.Email != admin.Email || me.OrgID != org.ID || !slices.Contains(me.Scopes, domain.PermUserCreate) || slices.Contains(me.Scopes, domain.PermOrgCreate) {
		t.Fatalf("admin me %+v", me)
	}
	me, err = env.Auth.Me(ctx, root.Principal)
	ok(t, err)
	if me.Email != root.Email || me.OrgID != "" || !slices.Contains(me.Scopes, domain.PermOrgCreate) {
		t.Fatalf("root me %+v", me)
	}
	me, err = env.Auth.Me(ctx, saP)
	ok(t, err)
	if me.Name != "ci bot" || me.Email != "" || slices.Contains(me.Scopes, domain.PermJobCreate) {
		t.Fatalf("service account me %+v", me)
	}
}

func TestRootActingInAnOrgLogsOut(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, _ := env.NewOrg(t)
	root := env.NewRoot(t)
	inOrg := env.Login(t, root.Email, org.ID)
	ok(t, env.Auth.Logout(ctx, inOrg.Principal, inOrg.Tokens.RefreshToken))
	_, err := env.Authorizer.Authorize(ctx, "Bearer "+inOrg.Tokens.AccessToken)
	wantCode(t, err, domain.CodeUnauthorized)
	_, err = env.Auth.Refresh(ctx, inOrg.Tokens.RefreshToken)
	wantCode(t, err, domain.CodeUnauthorized)
	// The org-less login of the same root is another session.
	_, err = env.Authorizer.Authorize(ctx, "Bearer "+root.Tokens.AccessToken)
	ok(t, err)
}
