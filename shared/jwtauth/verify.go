package jwtauth

import (
	"context"
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
)

// Verifier checks tokens against the current key set.
type Verifier struct{ k *Keys }

// forbiddenHeaders name keys or key locations a token could try to
// supply itself (RFC 8725 3.10 and the jku/x5u/jwk/x5c family of CVEs),
// plus crit, whose extensions we implement none of (RFC 7515 4.1.11). We
// never mint them, so a token carrying one is forged or foreign.
var forbiddenHeaders = [...]string{"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"}

// maxKIDLen bounds kids: Secrets Manager version ids and KMS key ids are
// 32-64 characters.
const maxKIDLen = 128

// Verify checks raw as a token of use (app.TokenAccess or
// app.TokenRefresh) and returns its content. Every rejection is a domain
// error AUTH_UNAUTHORIZED with a generic message; the reason (expired,
// unknown kid, ...) is in the error string for logs. If no key set can be
// loaded at all the error is internal (INTERNAL_ERROR), because the token
// may well be fine.
func (v *Verifier) Verify(ctx context.Context, raw, use string) (app.Token, error) {
	k := v.k
	typ, err := typFor(use)
	if err != nil {
		return app.Token{}, unauthorized(err)
	}
	switch {
	case raw == "":
		return app.Token{}, unauthorized(errEmpty)
	case len(raw) > MaxTokenBytes:
		return app.Token{}, unauthorized(errTooLarge)
	}
	if _, err := k.current(ctx); err != nil {
		return app.Token{}, err
	}
	var c Claims
	tok, err := k.parser.ParseWithClaims(raw, &c, k.keyFunc)
	if err != nil && isUnknownKID(err) && tok != nil {
		// Signed by a key this container has not seen: possibly a
		// rotation another container already picked up. Reload (rate
		// limited) and try once more.
		if kid, _ := tok.Header["kid"].(string); kid != "" && k.refreshForKID(ctx, kid) {
			c = Claims{}
			tok, err = k.parser.ParseWithClaims(raw, &c, k.keyFunc)
		}
	}
	if err != nil {
		return app.Token{}, unauthorized(err)
	}
	// The header is signed, so typ can be trusted now. Both typ and
	// token_use must agree with the use asked for: a refresh token never
	// passes as an access token, whichever of the two an attacker swaps.
	if h, _ := tok.Header["typ"].(string); h != typ {
		return app.Token{}, unauthorized(errWrongTyp)
	}
	if c.TokenUse != use {
		return app.Token{}, unauthorized(errWrongUse)
	}
	return c.token(), nil
}

func isUnknownKID(err error) bool {
	return errors.Is(err, errUnknownKID)
}

// lookup is the golang-jwt key function. It returns the typed key of the
// token's kid from the current set: []byte for HS256, *rsa.PublicKey or
// *ecdsa.PublicKey otherwise. Because the set for RS256/ES256 never holds
// []byte, an HS256 token keyed with public-key bytes has nothing to verify
// against (and WithValidMethods has already refused its alg).
func (k *Keys) lookup(t *jwt.Token) (any, error) {
	if t.Method.Alg() != k.cfg.Alg {
		return nil, errWrongAlg
	}
	for _, h := range forbiddenHeaders {
		if _, ok := t.Header[h]; ok {
			return nil, errForbiddenHeader
		}
	}
	raw, ok := t.Header["kid"]
	if !ok {
		return nil, errMissingKID
	}
	kid, ok := raw.(string)
	if !ok || kid == "" || len(kid) > maxKIDLen {
		return nil, errBadKID
	}
	ks := k.set.Load()
	if ks == nil {
		return nil, errUnknownKID
	}
	key, ok := ks.verify[kid]
	if !ok {
		return nil, errUnknownKID
	}
	return key, nil
}
