package jwtauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// Signer signs tokens with the current signing key: the AWSCURRENT HMAC
// key (HS256) or the key set's signing_key through kms:Sign (RS256,
// ES256).
type Signer struct{ k *Keys }

// Complete fills what a caller left zero in t: ID (a new UUID), IssuedAt
// (now) and ExpiresAt (IssuedAt plus the access or refresh TTL). Callers
// that must persist a token's jti or expiry (refresh families) call it
// before Sign; Sign calls it too.
func (s *Signer) Complete(t app.Token) app.Token {
	if t.ID == "" {
		t.ID = domain.NewID()
	}
	if t.IssuedAt.IsZero() {
		t.IssuedAt = s.k.cfg.Clock()
	}
	if t.ExpiresAt.IsZero() {
		t.ExpiresAt = t.IssuedAt.Add(s.k.ttl(t.Use))
	}
	return t
}

// ttl is the configured lifetime of a token use.
func (k *Keys) ttl(use string) time.Duration {
	if use == app.TokenRefresh {
		return k.cfg.RefreshTTL
	}
	return k.cfg.AccessTTL
}

// Sign returns the compact JWS of t (completed as by Complete) with header
// {alg, kid, typ}, typ at+jwt or mad-rt+jwt. It refuses (with a plain,
// internal error) tokens whose claims Verify would reject and lifetimes
// beyond the configured TTL, so no code path can mint a token the
// verifier distrusts or that outlives the policy. Key or KMS failures are
// internal errors too.
func (s *Signer) Sign(ctx context.Context, t app.Token) (string, error) {
	k := s.k
	t = s.Complete(t)
	typ, err := typFor(t.Use)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	if life := t.ExpiresAt.Sub(t.IssuedAt); life <= 0 || life > k.ttl(t.Use) {
		return "", fmt.Errorf("sign token: lifetime %s outside (0, %s]", life, k.ttl(t.Use))
	}
	claims := k.claimsFor(t)
	if err := claims.Validate(); err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	ks, err := k.current(ctx)
	if err != nil {
		return "", err
	}
	if ks.signKID == "" {
		return "", errors.New("sign token: key set has no signing key")
	}
	tok := &jwt.Token{
		Header: map[string]any{"alg": k.cfg.Alg, "typ": typ, "kid": ks.signKID},
		Claims: claims,
		Method: k.method,
	}
	input, err := tok.SigningString()
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	var sig []byte
	if k.cfg.Alg == HS256 {
		sig, err = k.method.Sign(input, ks.signHMAC)
	} else {
		sig, err = kmsSign(ctx, k.km, ks.signKMS, k.cfg.Alg, input)
	}
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func typFor(use string) (string, error) {
	switch use {
	case app.TokenAccess:
		return TypAccess, nil
	case app.TokenRefresh:
		return TypRefresh, nil
	}
	return "", errBadUse
}
