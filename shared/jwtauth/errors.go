package jwtauth

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/domain"
)

// Reasons a token is rejected. They name what failed and never quote the
// token; they reach logs through the error string, never clients, who see
// only the domain error's generic message.
var (
	errEmpty           = errors.New("empty token")
	errTooLarge        = errors.New("token larger than 8 KiB")
	errMissingKID      = errors.New("missing kid")
	errBadKID          = errors.New("malformed kid")
	errUnknownKID      = errors.New("unknown kid")
	errForbiddenHeader = errors.New("forbidden header (jku, x5u, jwk, x5c, x5t or crit)")
	errWrongAlg        = errors.New("algorithm not accepted")
	errWrongTyp        = errors.New("wrong typ header for this use")
	errWrongUse        = errors.New("wrong token_use for this use")
	errBadUse          = errors.New("verifier asked for an unknown use")
)

// clientMessage is all a client learns about a rejected token.
const clientMessage = "invalid or expired token"

// unauthorized wraps reason in the AUTH_UNAUTHORIZED domain error.
func unauthorized(reason error) error {
	return fmt.Errorf("%w (%s)", domain.Errorf(domain.CodeUnauthorized, clientMessage), describe(reason))
}

// describe reduces a golang-jwt error to a fixed phrase: its own strings
// can embed JSON decoder messages that quote token bytes.
func describe(err error) string {
	for _, r := range []error{errEmpty, errTooLarge, errMissingKID, errBadKID, errUnknownKID,
		errForbiddenHeader, errWrongAlg, errWrongTyp, errWrongUse, errBadUse} {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	var ce *claimsError
	if errors.As(err, &ce) {
		return "invalid claims: " + ce.msg
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable (unsupported algorithm)"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "invalid claims"
	}
	return "rejected"
}
