package jwtauth

import (
	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// Claims are the claims of MAD's access and refresh tokens. golang-jwt
// checks the registered ones (exp, nbf, iat, iss, aud) and then calls
// Validate for the rest.
type Claims struct {
	jwt.RegisteredClaims
	OrgID       string   `json:"org_id,omitempty"`
	Roles       []string `json:"roles"`
	Scopes      []string `json:"scopes,omitempty"`
	TokenUse    string   `json:"token_use"`
	SubjectType string   `json:"sub_type"`
	FamilyID    string   `json:"fam,omitempty"` // refresh tokens only
}

var _ jwt.ClaimsValidator = (*Claims)(nil)

// claimsError is a failed claim rule; its message names the rule only.
type claimsError struct{ msg string }

func (e *claimsError) Error() string { return e.msg }

func invalid(msg string) error { return &claimsError{msg: msg} }

// Validate enforces what golang-jwt does not: token_use is access or
// refresh; sub, jti and (when present) org_id and fam are canonical UUIDs;
// roles are non-empty and known; scopes are known permissions; sub_type is
// known; iat and nbf are present; refresh tokens carry fam and access
// tokens do not; and the tenancy invariants hold (only root goes without
// an org, service accounts hold service-account roles only).
func (c *Claims) Validate() error {
	switch c.TokenUse {
	case app.TokenAccess:
		if c.FamilyID != "" {
			return invalid("access token carries fam")
		}
	case app.TokenRefresh:
		if !canonicalID(c.FamilyID) {
			return invalid("refresh token without a UUID fam")
		}
	default:
		return invalid("token_use is not access or refresh")
	}
	if !canonicalID(c.Subject) {
		return invalid("sub is not a UUID")
	}
	if !canonicalID(c.ID) {
		return invalid("jti is not a UUID")
	}
	if c.OrgID != "" && !canonicalID(c.OrgID) {
		return invalid("org_id is not a UUID")
	}
	if c.IssuedAt == nil || c.NotBefore == nil {
		return invalid("iat or nbf missing")
	}
	if len(c.Roles) == 0 {
		return invalid("roles empty")
	}
	root := false
	for _, r := range c.Roles {
		role, err := domain.ParseRole(r)
		if err != nil {
			return invalid("unknown role")
		}
		root = root || role == domain.RoleRoot
	}
	for _, s := range c.Scopes {
		if !domain.KnownPermission(domain.Permission(s)) {
			return invalid("unknown scope")
		}
	}
	switch domain.SubjectType(c.SubjectType) {
	case domain.SubjectUser:
	case domain.SubjectServiceAccount:
		for _, r := range c.Roles {
			if !isServiceAccountRole(domain.Role(r)) {
				return invalid("service account with a role it cannot hold")
			}
		}
	default:
		return invalid("sub_type is not user or service_account")
	}
	if c.OrgID == "" && !root {
		return invalid("org_id missing on a non-root token")
	}
	return nil
}

func isServiceAccountRole(r domain.Role) bool {
	for _, s := range domain.ServiceAccountRoles {
		if r == s {
			return true
		}
	}
	return false
}

// canonicalID accepts the one spelling domain.NewID produces: lowercase
// 8-4-4-4-12 hex.
func canonicalID(s string) bool {
	id, err := domain.ParseID(s)
	return err == nil && id == s
}

// claimsFor builds the claims of t; t's times must be set.
func (k *Keys) claimsFor(t app.Token) *Claims {
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    k.cfg.Issuer,
			Subject:   t.SubjectID,
			Audience:  jwt.ClaimStrings{k.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(t.ExpiresAt),
			NotBefore: jwt.NewNumericDate(t.IssuedAt),
			IssuedAt:  jwt.NewNumericDate(t.IssuedAt),
			ID:        t.ID,
		},
		OrgID:       t.OrgID,
		Roles:       make([]string, len(t.Roles)),
		TokenUse:    t.Use,
		SubjectType: string(t.SubjectType),
		FamilyID:    t.FamilyID,
	}
	for i, r := range t.Roles {
		c.Roles[i] = string(r)
	}
	if len(t.Scopes) > 0 {
		c.Scopes = make([]string, len(t.Scopes))
		for i, s := range t.Scopes {
			c.Scopes[i] = string(s)
		}
	}
	return c
}

// token converts verified claims to the app's token.
func (c *Claims) token() app.Token {
	t := app.Token{
		ID:          c.ID,
		Use:         c.TokenUse,
		SubjectID:   c.Subject,
		SubjectType: domain.SubjectType(c.SubjectType),
		OrgID:       c.OrgID,
		Roles:       make([]domain.Role, len(c.Roles)),
		FamilyID:    c.FamilyID,
		IssuedAt:    c.IssuedAt.Time,
		ExpiresAt:   c.ExpiresAt.Time,
	}
	for i, r := range c.Roles {
		t.Roles[i] = domain.Role(r)
	}
	if len(c.Scopes) > 0 {
		t.Scopes = make([]domain.Permission, len(c.Scopes))
		for i, s := range c.Scopes {
			t.Scopes[i] = domain.Permission(s)
		}
	}
	return t
}
