package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/mad-bio/mad/shared/domain"
)

// Login throttling of the contract: 5 failures per email in 15 minutes.
const (
	MaxLoginFailures   = 5
	LoginFailureWindow = 15 * time.Minute
)

// Auth is the authentication use case: logins, refresh rotation, logout.
type Auth struct {
	Store      Store
	Signer     TokenSigner
	Verifier   TokenVerifier
	Hasher     PasswordHasher
	Secrets    SecretHasher
	Clock      Clock
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	Log        *slog.Logger
}

// SecretHasher checks high-entropy service-account secrets.
type SecretHasher interface {
	HashSecret(secret string) string
	VerifySecret(hash, secret string) bool
}

// TokenPair is what a login returns. RefreshToken is empty for service
// accounts (client credentials carry no refresh token).
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int
}

// PasswordLogin is a login with email and password.
type PasswordLogin struct {
	Email, Password, OrgID string
}

var errBadCredentials = domain.Errorf(domain.CodeInvalidCredentials, "invalid credentials")

// emailKey is how throttling refers to an email: a hash, so the failures
// table holds no addresses (unknown ones included).
func emailKey(kind, login string) string {
	h := sha256.Sum256([]byte(kind + ":" + strings.ToLower(login)))
	return hex.EncodeToString(h[:])
}

// throttled returns RATE_LIMITED when key has too many recent failures.
func (a *Auth) throttled(ctx context.Context, key string, t time.Time) error {
	var n int
	var oldest time.Time
	err := a.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
		if err := tx.Throttle().LockLoginKey(ctx, key); err != nil {
			return err
		}
		var err error
		n, oldest, err = tx.Throttle().LoginFailuresSince(ctx, key, t.Add(-LoginFailureWindow))
		if err != nil || n >= MaxLoginFailures {
			return err
		}
		// Count the attempt as a failure now; a success clears it.
		return tx.Throttle().RecordLoginFailure(ctx, key, t)
	})
	if err != nil {
		return err
	}
	if n >= MaxLoginFailures {
		wait := oldest.Add(LoginFailureWindow).Sub(t)
		if wait < time.Second {
			wait = time.Second
		}
		return &domain.Error{Code: domain.CodeRateLimited, Message: "too many failed login attempts; try again later", RetryAfter: wait}
	}
	return nil
}

// fail records a failed login for key and audits it in scope; the body
// the client sees is the same whatever went wrong.
func (a *Auth) fail(ctx context.Context, key string, scope domain.Scope, actorID string, actorType domain.SubjectType, reason string, t time.Time) error {
	err := a.Store.Tx(ctx, scope, func(tx Tx) error {
		e := audit(ctx, domain.Principal{SubjectID: actorID, SubjectType: actorType, OrgID: scope.OrgID}, domain.AuditLoginFailed, string(actorType), actorID)
		e.OrgID = scope.OrgID
		e.Outcome = domain.OutcomeFailure
		e.Detail = map[string]any{"reason": reason}
		return tx.Audit().AppendAudit(ctx, e)
	})
	if err != nil {
		return err
	}
	return errBadCredentials
}

// Login checks an email and password and issues a token pair. Errors:
// VALIDATION_FAILED (malformed body, or org_id needed to choose among
// orgs), RATE_LIMITED, AUTH_INVALID_CREDENTIALS (wrong password, unknown
// email, disabled user, suspended org: one indistinguishable answer).
func (a *Auth) Login(ctx context.Context, in PasswordLogin) (TokenPair, error) {
	t := now(a.Clock)
	fe := domain.FieldErrors{}
	email, err := domain.NormalizeEmail(in.Email)
	if err != nil {
		fe.Add("email", err.Error())
	}
	if in.Password == "" {
		fe.Add("password", "required")
	} else if len(in.Password) > domain.MaxPasswordLength {
		fe.Add("password", "too long")
	}
	if in.OrgID != "" {
		if id, err := domain.ParseID(in.OrgID); err != nil {
			fe.Add("org_id", "must be a UUID")
		} else {
			in.OrgID = id
		}
	}
	if err := fe.Err(); err != nil {
		return TokenPair{}, err
	}
	key := emailKey("email", email)
	if err := a.throttled(ctx, key, t); err != nil {
		return TokenPair{}, err
	}

	var logins []Login
	if err := a.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
		var err error
		logins, err = tx.Directory().FindLoginsByEmail(ctx, email)
		return err
	}); err != nil {
		return TokenPair{}, err
	}
	login, ok, err := pickLogin(logins, in.OrgID)
	if err != nil {
		return TokenPair{}, err
	}
	if !ok {
		a.Hasher.Verify("", in.Password) // same cost as a real check
		return TokenPair{}, a.fail(ctx, key, domain.GlobalScope(), "", "anonymous", "unknown email", t)
	}

	home := domain.OrgScope(login.OrgID)
	var user domain.User
	if err := a.Store.Tx(ctx, home, func(tx Tx) error {
		var err error
		user, err = tx.Users().FindUserByID(ctx, login.SubjectID)
		return err
	}); err != nil {
		if domain.ErrorCode(err) == domain.CodeUserNotFound {
			a.Hasher.Verify("", in.Password)
			return TokenPair{}, a.fail(ctx, key, domain.GlobalScope(), "", "anonymous", "unknown email", t)
		}
		return TokenPair{}, err
	}
	if !a.Hasher.Verify(user.PasswordHash, in.Password) {
		return TokenPair{}, a.fail(ctx, key, home, user.ID, domain.SubjectUser, "wrong password", t)
	}
	if !user.Enabled {
		return TokenPair{}, a.fail(ctx, key, home, user.ID, domain.SubjectUser, "user disabled", t)
	}
	// The org the token acts in: the user's own, or the one a root chose.
	tokenOrg := user.OrgID
	if domain.HasRole(user.Roles, domain.RoleRoot) {
		tokenOrg = in.OrgID
	}
	if tokenOrg != "" {
		var org domain.Org
		err := a.Store.Tx(ctx, home, func(tx Tx) error {
			var err error
			org, err = tx.Orgs().FindOrgByID(ctx, tokenOrg)
			return err
		})
		if domain.ErrorCode(err) == domain.CodeOrgNotFound {
			return TokenPair{}, a.fail(ctx, key, home, user.ID, domain.SubjectUser, "org not found", t)
		}
		if err != nil {
			return TokenPair{}, err
		}
		if org.Status != domain.OrgActive {
			return TokenPair{}, a.fail(ctx, key, home, user.ID, domain.SubjectUser, "org suspended", t)
		}
	}
	var pair TokenPair
	err = a.Store.Tx(ctx, home, func(tx Tx) error {
		if err := tx.Throttle().ClearLoginFailures(ctx, key); err != nil {
			return err
		}
		p := domain.Principal{SubjectID: user.ID, SubjectType: domain.SubjectUser, OrgID: tokenOrg, Roles: user.Roles}
		var err error
		pair, err = a.issuePair(ctx, tx, p, domain.NewID(), "", t)
		if err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditLogin, "user", user.ID)
		e.OrgID = home.OrgID
		if tokenOrg != home.OrgID {
			e.Detail = map[string]any{"acting_org_id": tokenOrg}
		}
		return tx.Audit().AppendAudit(ctx, e)
	})
	return pair, err
}

// pickLogin chooses the account an email logs into. With orgID: the user
// of that org, or a root user (who then acts in that org). Without: a root
// user, or the one org user; several org users need org_id.
func pickLogin(logins []Login, orgID string) (Login, bool, error) {
	var root, inOrg *Login
	var orgUsers int
	for i := range logins {
		l := &logins[i]
		switch {
		case l.OrgID == "":
			root = l
		case l.OrgID == orgID:
			inOrg = l
		}
		if l.OrgID != "" {
			orgUsers++
		}
	}
	if orgID != "" {
		if inOrg != nil {
			return *inOrg, true, nil
		}
		if root != nil {
			return *root, true, nil
		}
		return Login{}, false, nil
	}
	if root != nil {
		return *root, true, nil
	}
	switch orgUsers {
	case 0:
		return Login{}, false, nil
	case 1:
		for _, l := range logins {
			if l.OrgID != "" {
				return l, true, nil
			}
		}
	}
	return Login{}, false, domain.InvalidField("org_id", "this email belongs to several organizations; give org_id")
}

// issuePair signs an access and a refresh token for p and records the
// refresh token (family familyID, child of parent) in tx.
func (a *Auth) issuePair(ctx context.Context, tx Tx, p domain.Principal, familyID, parent string, t time.Time) (TokenPair, error) {
	access := Token{ID: domain.NewID(), Use: TokenAccess, SubjectID: p.SubjectID, SubjectType: p.SubjectType,
		OrgID: p.OrgID, Roles: p.Roles, Scopes: p.Scopes, IssuedAt: t, ExpiresAt: t.Add(a.AccessTTL)}
	refresh := access
	refresh.ID, refresh.Use, refresh.FamilyID, refresh.ExpiresAt = domain.NewID(), TokenRefresh, familyID, t.Add(a.RefreshTTL)
	at, err := a.Signer.Sign(ctx, access)
	if err != nil {
		return TokenPair{}, err
	}
	rt, err := a.Signer.Sign(ctx, refresh)
	if err != nil {
		return TokenPair{}, err
	}
	if err := tx.Tokens().CreateRefreshToken(ctx, RefreshToken{JTI: refresh.ID, SubjectID: p.SubjectID, FamilyID: familyID,
		ParentJTI: parent, IssuedAt: t, ExpiresAt: refresh.ExpiresAt}); err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: at, RefreshToken: rt, ExpiresIn: int(a.AccessTTL.Seconds())}, nil
}

// ClientLogin is the client-credentials login of a service account. It
// returns an access token only. Errors as Login.
func (a *Auth) ClientLogin(ctx context.Context, clientID, secret string) (TokenPair, error) {
	t := now(a.Clock)
	fe := domain.FieldErrors{}
	if clientID == "" || len(clientID) > 200 {
		fe.Add("client_id", "required")
	}
	if secret == "" || len(secret) > 200 {
		fe.Add("client_secret", "required")
	}
	if err := fe.Err(); err != nil {
		return TokenPair{}, err
	}
	key := emailKey("client_id", clientID)
	if err := a.throttled(ctx, key, t); err != nil {
		return TokenPair{}, err
	}
	var login Login
	var found bool
	// Only an id of the form the service mints is looked up; anything else
	// takes the unknown-client path (same cost, same answer).
	if wellFormedClientID(clientID) {
		if err := a.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
			var err error
			login, found, err = tx.Directory().FindLoginByClientID(ctx, clientID)
			return err
		}); err != nil {
			return TokenPair{}, err
		}
	}
	if !found {
		a.Secrets.VerifySecret("", secret)
		return TokenPair{}, a.fail(ctx, key, domain.GlobalScope(), "", "anonymous", "unknown client id", t)
	}
	scope := domain.OrgScope(login.OrgID)
	var sa domain.ServiceAccount
	var org domain.Org
	err := a.Store.Tx(ctx, scope, func(tx Tx) error {
		var err error
		if sa, err = tx.ServiceAccounts().FindServiceAccountByID(ctx, login.SubjectID); err != nil {
			return err
		}
		org, err = tx.Orgs().FindOrgByID(ctx, login.OrgID)
		return err
	})
	if domain.ErrorCode(err) == domain.CodeServiceAccountNotFound {
		return TokenPair{}, a.fail(ctx, key, scope, login.SubjectID, domain.SubjectServiceAccount, "deleted service account", t)
	}
	if err != nil {
		return TokenPair{}, err
	}
	if !a.Secrets.VerifySecret(sa.SecretHash, secret) {
		return TokenPair{}, a.fail(ctx, key, scope, sa.ID, domain.SubjectServiceAccount, "wrong secret", t)
	}
	if org.Status != domain.OrgActive {
		return TokenPair{}, a.fail(ctx, key, scope, sa.ID, domain.SubjectServiceAccount, "org suspended", t)
	}
	p := domain.Principal{SubjectID: sa.ID, SubjectType: domain.SubjectServiceAccount, OrgID: sa.OrgID, Roles: sa.Roles}
	access := Token{ID: domain.NewID(), Use: TokenAccess, SubjectID: sa.ID, SubjectType: domain.SubjectServiceAccount,
		OrgID: sa.OrgID, Roles: sa.Roles, IssuedAt: t, ExpiresAt: t.Add(a.AccessTTL)}
	at, err := a.Signer.Sign(ctx, access)
	if err != nil {
		return TokenPair{}, err
	}
	err = a.Store.Tx(ctx, scope, func(tx Tx) error {
		if err := tx.Throttle().ClearLoginFailures(ctx, key); err != nil {
			return err
		}
		return tx.Audit().AppendAudit(ctx, audit(ctx, p, domain.AuditLogin, "service_account", sa.ID))
	})
	return TokenPair{AccessToken: at, ExpiresIn: int(a.AccessTTL.Seconds())}, err
}

// homeScope is where a token subject's own rows live.
func homeScope(t Token) domain.Scope {
	if slices.Contains(t.Roles, domain.RoleRoot) {
		return domain.GlobalScope()
	}
	return domain.OrgScope(t.OrgID)
}

var errRefreshRejected = domain.Errorf(domain.CodeUnauthorized, "refresh token is invalid, expired or revoked")

// Refresh spends a refresh token and issues a new pair of the same family.
// A spent token presented again revokes the whole family (reuse
// detection, RFC 9700 4.14.2) and is answered AUTH_UNAUTHORIZED.
func (a *Auth) Refresh(ctx context.Context, raw string) (TokenPair, error) {
	if raw == "" {
		return TokenPair{}, domain.InvalidField("refresh_token", "required")
	}
	tok, err := a.Verifier.Verify(ctx, raw, TokenRefresh)
	if err != nil {
		return TokenPair{}, err
	}
	t := now(a.Clock)
	scope := homeScope(tok)
	var pair TokenPair
	reuse := false
	err = a.Store.Tx(ctx, scope, func(tx Tx) error {
		rt, err := tx.Tokens().FindRefreshTokenForUpdate(ctx, tok.ID)
		if err != nil {
			return err
		}
		if rt.SubjectID != tok.SubjectID || rt.FamilyID != tok.FamilyID {
			return errRefreshRejected
		}
		if rt.RevokedAt != nil {
			return errRefreshRejected
		}
		p := domain.Principal{SubjectID: tok.SubjectID, SubjectType: tok.SubjectType, OrgID: tok.OrgID, Roles: tok.Roles}
		if rt.SpentAt != nil {
			reuse = true
			n, err := tx.Tokens().RevokeFamily(ctx, rt.FamilyID, t)
			if err != nil {
				return err
			}
			e := audit(ctx, p, domain.AuditRefreshReuseDetected, "token_family", rt.FamilyID)
			e.OrgID, e.Outcome = scope.OrgID, domain.OutcomeFailure
			e.Detail = map[string]any{"revoked_tokens": n, "jti": tok.ID}
			return tx.Audit().AppendAudit(ctx, e)
		}
		state, err := tx.Tokens().TokenState(ctx, tok.SubjectType, tok.SubjectID, tok.OrgID, "00000000-0000-0000-0000-000000000000")
		if err != nil {
			return err
		}
		if err := checkSubject(state, tok); err != nil {
			return err
		}
		if err := tx.Tokens().MarkRefreshTokenSpent(ctx, rt.JTI, t); err != nil {
			return err
		}
		p.Roles = state.SubjectRoles // a refresh picks up role changes
		pair, err = a.issuePair(ctx, tx, p, rt.FamilyID, rt.JTI, t)
		if err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditRefresh, "token_family", rt.FamilyID)
		e.OrgID = scope.OrgID
		return tx.Audit().AppendAudit(ctx, e)
	})
	if err != nil {
		if domain.ErrorCode(err) == domain.CodeUnauthorized || domain.ErrorCode(err) == domain.CodeOrgForbidden {
			return TokenPair{}, errRefreshRejected
		}
		return TokenPair{}, err
	}
	if reuse {
		return TokenPair{}, errRefreshRejected
	}
	return pair, nil
}

// checkSubject applies the rules every token use shares: the subject
// exists and is enabled, the token is newer than the subject's last
// revocation, and the org it acts in exists and is active.
func checkSubject(s TokenState, t Token) error {
	if !s.SubjectFound || !s.SubjectEnabled {
		return domain.Errorf(domain.CodeUnauthorized, "token subject is disabled or deleted")
	}
	// iat has one-second precision: a token from the same second as the
	// revocation counts as older, never as newer.
	if !t.IssuedAt.After(s.TokensNotBefore.Truncate(time.Second)) {
		return domain.Errorf(domain.CodeUnauthorized, "token was revoked")
	}
	if t.OrgID != "" {
		if !s.OrgFound {
			return domain.Errorf(domain.CodeUnauthorized, "token org does not exist")
		}
		if s.OrgStatus != domain.OrgActive {
			return domain.Errorf(domain.CodeOrgForbidden, "organization is suspended")
		}
	}
	return nil
}

// Logout revokes the presented access token (until it would expire) and,
// when given, the family of refreshToken. Other logins keep working.
func (a *Auth) Logout(ctx context.Context, p domain.Principal, refreshToken string) error {
	t := now(a.Clock)
	var familyID string
	if refreshToken != "" {
		tok, err := a.Verifier.Verify(ctx, refreshToken, TokenRefresh)
		if err != nil || tok.SubjectID != p.SubjectID {
			return domain.InvalidField("refresh_token", "is not a valid refresh token of this session")
		}
		familyID = tok.FamilyID
	}
	scope := domain.OrgScope(p.HomeOrgID())
	return a.Store.Tx(ctx, scope, func(tx Tx) error {
		// Access tokens live at most AccessTTL; keep the denylist entry a
		// little longer than the verifier's leeway.
		if err := tx.Tokens().RevokeAccessToken(ctx, p.TokenID, p.SubjectID, t.Add(a.AccessTTL+time.Minute)); err != nil {
			return err
		}
		detail := map[string]any{"jti": p.TokenID}
		if familyID != "" {
			n, err := tx.Tokens().RevokeFamily(ctx, familyID, t)
			if err != nil {
				return err
			}
			detail["token_family"], detail["revoked_refresh_tokens"] = familyID, n
		}
		e := audit(ctx, p, domain.AuditLogout, string(p.SubjectType), p.SubjectID)
		e.OrgID, e.Detail = scope.OrgID, detail
		return tx.Audit().AppendAudit(ctx, e)
	})
}

// Me describes the caller.
type Me struct {
	SubjectID string
	Email     string
	Name      string
	OrgID     string
	Roles     []domain.Role
	Scopes    []domain.Permission
}

// Me returns the caller's identity and effective permissions.
func (a *Auth) Me(ctx context.Context, p domain.Principal) (Me, error) {
	me := Me{SubjectID: p.SubjectID, OrgID: p.OrgID, Roles: p.Roles, Scopes: p.Permissions()}
	scope := domain.OrgScope(p.HomeOrgID())
	err := a.Store.Tx(ctx, scope, func(tx Tx) error {
		switch p.SubjectType {
		case domain.SubjectUser:
			u, err := tx.Users().FindUserByID(ctx, p.SubjectID)
			if err != nil {
				return err
			}
			me.Email = u.Email
		case domain.SubjectServiceAccount:
			sa, err := tx.ServiceAccounts().FindServiceAccountByID(ctx, p.SubjectID)
			if err != nil {
				return err
			}
			me.Name = sa.Name
		default:
			return errors.New("unknown subject type")
		}
		return nil
	})
	return me, err
}

// Authorizer turns a bearer token into a principal: the verify path of
// every protected request.
type Authorizer struct {
	Store    Store
	Verifier TokenVerifier
}

// Authorize checks an Authorization header value. Errors:
// AUTH_UNAUTHORIZED (missing, malformed, bad, expired, revoked or stale
// token; disabled or deleted subject), ORG_FORBIDDEN (suspended org).
func (a *Authorizer) Authorize(ctx context.Context, header string) (domain.Principal, error) {
	scheme, raw, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "expected an Authorization: Bearer token")
	}
	tok, err := a.Verifier.Verify(ctx, strings.TrimSpace(raw), TokenAccess)
	if err != nil {
		return domain.Principal{}, err
	}
	var state TokenState
	// One statement on every request: Read sends it with the scope in one
	// round trip.
	err = a.Store.Read(ctx, homeScope(tok), func(tx Tx) error {
		var err error
		state, err = tx.Tokens().TokenState(ctx, tok.SubjectType, tok.SubjectID, tok.OrgID, tok.ID)
		return err
	})
	if err != nil {
		return domain.Principal{}, err
	}
	if state.Revoked {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "token was revoked")
	}
	if err := checkSubject(state, tok); err != nil {
		return domain.Principal{}, err
	}
	if !sameRoles(state.SubjectRoles, tok.Roles) {
		// Roles changed since the token was issued: the client refreshes
		// and gets the current ones.
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "token roles are out of date; refresh the token")
	}
	return domain.Principal{SubjectID: tok.SubjectID, SubjectType: tok.SubjectType, OrgID: tok.OrgID,
		Roles: tok.Roles, Scopes: tok.Scopes, TokenID: tok.ID}, nil
}

func sameRoles(a, b []domain.Role) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !slices.Contains(b, r) {
			return false
		}
	}
	return true
}

// clientIDPrefix starts every client id the service mints.
const clientIDPrefix = "mad_sa_"

// wellFormedClientID reports whether s has the shape of a minted client
// id: the prefix and 32 lowercase hex digits.
func wellFormedClientID(s string) bool {
	if len(s) != len(clientIDPrefix)+32 || !strings.HasPrefix(s, clientIDPrefix) {
		return false
	}
	for _, c := range s[len(clientIDPrefix):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
