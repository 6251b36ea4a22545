// Package jwtauth signs and verifies MAD's access and refresh tokens
// (golang-jwt/jwt/v5), manages the signing keys held in Secrets Manager
// and KMS, serves the JWKS, and implements the Secrets Manager rotation
// protocol for those keys.
//
// Two key modes, chosen by Config.Alg and matched by the secret's "alg":
//
//   - HS256: the secret is {"alg":"HS256","k":"<64 alphanumerics>"}; the
//     HMAC key is the UTF-8 bytes of k and a token's kid is the secret's
//     VersionId. AWSCURRENT signs; AWSCURRENT and AWSPREVIOUS verify.
//   - RS256 / ES256: the secret is a key set
//     {"alg":"RS256","signing_key":"<kms key>","keys":["<kms key>",...]};
//     tokens are signed with kms:Sign by signing_key, verified locally
//     with the public keys of every key in keys (kms:GetPublicKey, fetched
//     once), and published at /.well-known/jwks.json. kid is the KMS key id.
//
// Verification accepts exactly one algorithm (the configured one), looks
// the key up by kid in an in-memory set that holds typed keys ([]byte only
// for HS256, *rsa.PublicKey / *ecdsa.PublicKey otherwise), never follows
// jku/x5u/jwk/x5c headers, and tells access from refresh tokens by both
// the typ header (at+jwt, RFC 9068; mad-rt+jwt) and the token_use claim.
// Every rejected token is a domain error AUTH_UNAUTHORIZED with a generic
// message; the reason is in the error string for logs, never the token.
package jwtauth

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mad-bio/mad/shared/config"
)

// Algorithms.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
)

// Header typ values (RFC 8725 3.11: explicit typing keeps one kind of JWT
// from being accepted as another).
const (
	TypAccess  = "at+jwt" // RFC 9068
	TypRefresh = "mad-rt+jwt"
)

// Defaults of the contract.
const (
	DefaultIssuer      = "mad"
	DefaultAudience    = "mad-api"
	DefaultAccessTTL   = 15 * time.Minute
	DefaultRefreshTTL  = 7 * 24 * time.Hour
	DefaultKeyCacheTTL = 5 * time.Minute
	DefaultLeeway      = 30 * time.Second
	// MaxTokenBytes bounds what Verify will parse. Our tokens are well
	// under 2 KiB; anything larger is refused before base64 or JSON work.
	MaxTokenBytes = 8 << 10
	// UnknownKIDRefreshInterval is the least time between two key-set
	// reloads triggered by an unknown kid: often enough that a token
	// signed by another container right after a rotation verifies here
	// too, rarely enough that a flood of garbage kids cannot hammer
	// Secrets Manager.
	UnknownKIDRefreshInterval = 10 * time.Second
	// maxLeeway: the issue allows at most 60 s of clock skew.
	maxLeeway = 60 * time.Second
	// maxStale is how long past its TTL a key set keeps serving while
	// Secrets Manager or KMS cannot be reached: a short outage must not
	// log everyone out, but a container cut off for long must stop
	// trusting keys that may have been rotated away.
	maxStale = time.Hour
	// staleRetry is how often a stale set retries its reload.
	staleRetry = 10 * time.Second
)

// Config configures Keys.
type Config struct {
	Alg         string // HS256, RS256 or ES256; only this one is accepted
	SecretID    string // Secrets Manager secret holding the key or key set
	Issuer      string
	Audience    string
	AccessTTL   time.Duration
	RefreshTTL  time.Duration
	KeyCacheTTL time.Duration // how long a loaded key set is trusted
	Leeway      time.Duration // clock skew allowed on exp/nbf/iat; default 30 s, at most 60 s
	// Clock tells the time (tests pin it); nil means time.Now.
	Clock func() time.Time
	// Log receives key loads and reload failures (never key material);
	// nil means slog.Default().
	Log *slog.Logger
}

// ConfigFrom takes the token settings of the function configuration.
func ConfigFrom(c config.Config) Config {
	return Config{
		Alg:         c.JWTAlg,
		SecretID:    c.JWTSecretID,
		Issuer:      c.JWTIssuer,
		Audience:    c.JWTAudience,
		AccessTTL:   c.AccessTTL,
		RefreshTTL:  c.RefreshTTL,
		KeyCacheTTL: c.JWTKeyCacheTTL,
	}
}

// withDefaults fills zero values and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Alg == "" {
		c.Alg = HS256
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.AccessTTL == 0 {
		c.AccessTTL = DefaultAccessTTL
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = DefaultRefreshTTL
	}
	if c.KeyCacheTTL == 0 {
		c.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	var errs []error
	switch c.Alg {
	case HS256, RS256, ES256:
	default:
		errs = append(errs, fmt.Errorf("alg %q is not one of HS256, RS256, ES256", c.Alg))
	}
	if c.SecretID == "" {
		errs = append(errs, errors.New("secret id is empty"))
	}
	if c.AccessTTL < 0 || c.RefreshTTL < 0 || c.KeyCacheTTL < 0 {
		errs = append(errs, errors.New("TTLs must be positive"))
	}
	if c.Leeway < 0 || c.Leeway > maxLeeway {
		errs = append(errs, fmt.Errorf("leeway %s is outside 0..%s", c.Leeway, maxLeeway))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("jwtauth config: %w", err)
	}
	return c, nil
}
