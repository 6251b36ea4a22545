package jwtauth

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
)

// benchToken loads real keys from moto, signs one access token and
// returns the keys, the token and the verification key of its kid.
func benchToken(b *testing.B, alg string) (*Keys, string, any) {
	b.Helper()
	e := newEnv(b)
	id, _ := e.newSecretFor(b, alg)
	k := e.keys(b, alg, id, nil)
	raw := sign(b, k, accessToken(time.Now()))
	ks := k.set.Load()
	return k, raw, ks.verify[ks.signKID]
}

// benchVerify measures the full Verify path the authorizer runs per
// request: size check, key-set freshness, kid lookup, signature, the
// registered-claim checks, Claims.Validate, typ and token_use, and the
// conversion to app.Token.
func benchVerify(b *testing.B, alg string) {
	k, raw, _ := benchToken(b, alg)
	v := k.Verifier()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, raw, app.TokenAccess); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBareParse is the physical floor: jwt.Parse of the same token into
// MapClaims with a fixed key and default options.
func benchBareParse(b *testing.B, alg string) {
	_, raw, key := benchToken(b, alg)
	kf := func(*jwt.Token) (any, error) { return key, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse(raw, kf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHS256(b *testing.B)    { benchVerify(b, HS256) }
func BenchmarkBareParseHS256(b *testing.B) { benchBareParse(b, HS256) }
func BenchmarkVerifyRS256(b *testing.B)    { benchVerify(b, RS256) }
func BenchmarkBareParseRS256(b *testing.B) { benchBareParse(b, RS256) }
func BenchmarkVerifyES256(b *testing.B)    { benchVerify(b, ES256) }
func BenchmarkBareParseES256(b *testing.B) { benchBareParse(b, ES256) }

// BenchmarkSignHS256 is the local signing cost (RS256/ES256 signing is a
// kms:Sign round trip and not benchmarked here).
func BenchmarkSignHS256(b *testing.B) {
	k, _, _ := benchToken(b, HS256)
	s := k.Signer()
	tok := accessToken(time.Now())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
