package jwtauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// The seeds run as ordinary tests under `make test` (they need moto);
// `scripts/fuzz.sh` (or `go test -run '^$' -fuzz '^FuzzVerify$'
// ./shared/jwtauth` under scripts/testenv.sh) explores from them.

// fzMode is one key mode's verifier and the signing inputs
// (header.payload) of the tokens minted with its real key that must
// verify, by use.
type fzMode struct {
	alg    string
	k      *Keys
	valid  map[string]string // signing input -> use
	minted map[string]string // the whole tokens this process minted -> use
}

// fzNow is the pinned time of every FuzzVerify token and verifier.
var fzNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fzSharedSecret returns a key secret of alg with a fixed name on moto,
// creating it (and for RS256/ES256 a KMS key behind a fixed alias) on
// first use. The fuzzing coordinator and its workers are separate
// processes that each run the setup; sharing the keys makes a token
// minted by one verify in all, so corpus entries near valid tokens stay
// near valid tokens. It returns the secret id and the HMAC key (HS256).
func fzSharedSecret(f *testing.F, e env, alg string) (string, []byte) {
	ctx := context.Background()
	name := "mad/test/fuzz-verify-" + strings.ToLower(alg)
	var value string
	var hmacKey []byte
	if alg == HS256 {
		hmacKey = []byte(strings.Repeat("fuzzKey0", 8)) // 64 alphanumerics
		v, _ := json.Marshal(hmacSecret{Alg: HS256, K: string(hmacKey)})
		value = string(v)
	} else {
		alias := "alias/mad-fuzz-verify-" + strings.ToLower(alg)
		keyID := ""
		for attempt := 0; keyID == "" && attempt < 3; attempt++ {
			if d, err := e.km.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &alias}); err == nil {
				keyID = *d.KeyMetadata.KeyId
				break
			}
			id := e.newKMSKey(f, alg)
			if _, err := e.km.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: &alias, TargetKeyId: &id}); err == nil {
				keyID = id
			} // else another process won the race: describe again
		}
		if keyID == "" {
			f.Fatalf("no KMS key behind %s", alias)
		}
		v, _ := json.Marshal(kmsKeySet{Alg: alg, SigningKey: keyID, Keys: []string{keyID}})
		value = string(v)
	}
	_, err := e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value})
	var exists *smtypes.ResourceExistsException
	if err != nil && !errors.As(err, &exists) {
		f.Fatalf("create secret %s: %v", name, err)
	}
	return name, hmacKey
}

// fzToken is a valid token's content at fzNow with fixed ids: every
// process mints the same claims.
func fzToken(use string, n int) app.Token {
	id := func(k int) string { return fmt.Sprintf("0193d2a0-0000-7000-8000-%012x", 0xf0000+k) }
	t := app.Token{ID: id(n), Use: use, SubjectID: id(100 + n), SubjectType: domain.SubjectUser, OrgID: id(200),
		Roles: []domain.Role{domain.RoleStandard}, Scopes: []domain.Permission{domain.PermJobView},
		IssuedAt: fzNow, ExpiresAt: fzNow.Add(15 * time.Minute)}
	if use == app.TokenRefresh {
		t.FamilyID, t.ExpiresAt = id(300+n), fzNow.Add(7*24*time.Hour)
	}
	return t
}

// FuzzVerify feeds raw token strings to Verify in every key mode (HS256
// on a Secrets Manager secret, RS256 and ES256 on KMS keys, all on moto)
// and for both uses. Whatever the input: no panic; every rejection is
// AUTH_UNAUTHORIZED with the generic client message and a log reason that
// does not quote the token; and a token is accepted only if its signed
// part is that of a token minted with the mode's real key for that use.
// The clock is pinned, so the minted tokens stay valid however long the
// fuzzer runs.
func FuzzVerify(f *testing.F) {
	e := newEnv(f)
	now := fzNow
	clock := func() time.Time { return now }
	ctx := context.Background()

	var modes []*fzMode
	var hmacKey []byte
	for _, alg := range []string{HS256, RS256, ES256} {
		id, key := fzSharedSecret(f, e, alg)
		m := &fzMode{alg: alg, k: e.keys(f, alg, id, clock), valid: map[string]string{}, minted: map[string]string{}}
		if alg == HS256 {
			hmacKey = key
		}
		modes = append(modes, m)
	}

	add := func(raw string) { f.Add(raw) }
	for _, m := range modes {
		ks := m.k.set.Load()
		kid := ks.signKID
		mint := func(tok app.Token) string {
			raw, err := m.k.Signer().Sign(ctx, tok)
			if err != nil {
				f.Fatalf("%s: sign: %v", m.alg, err)
			}
			return raw
		}
		valid := func(raw, use string) {
			if _, err := m.k.Verifier().Verify(ctx, raw, use); err != nil {
				f.Fatalf("%s: control token rejected as %s: %v", m.alg, use, err)
			}
			m.valid[fzSigned(raw)], m.minted[raw] = use, use
			add(raw)
		}

		// Valid tokens of every shape the signer mints.
		access := mint(fzToken(app.TokenAccess, 1))
		valid(access, app.TokenAccess)
		valid(mint(fzToken(app.TokenRefresh, 2)), app.TokenRefresh)
		root := fzToken(app.TokenAccess, 3)
		root.OrgID, root.Roles, root.Scopes = "", []domain.Role{domain.RoleRoot}, nil
		valid(mint(root), app.TokenAccess)
		sa := fzToken(app.TokenAccess, 4)
		sa.SubjectType, sa.Roles = domain.SubjectServiceAccount, []domain.Role{domain.RoleOperator}
		valid(mint(sa), app.TokenAccess)

		// Genuinely signed but invalid: expired, issued in the future.
		expired := fzToken(app.TokenAccess, 5)
		expired.IssuedAt, expired.ExpiresAt = now.Add(-time.Hour), now.Add(-45*time.Minute)
		add(mint(expired))
		future := fzToken(app.TokenAccess, 6)
		future.IssuedAt, future.ExpiresAt = now.Add(10*time.Minute), now.Add(25*time.Minute)
		add(mint(future))

		parts := strings.Split(access, ".")
		h := map[string]any{"alg": m.alg, "typ": TypAccess, "kid": kid}
		var c map[string]any
		if err := json.Unmarshal(fzB64(f, parts[1]), &c); err != nil {
			f.Fatal(err)
		}
		// alg none, in a few spellings.
		for _, alg := range []string{"none", "None", "NONE", ""} {
			add(fzSeg(fzWith(h, "alg", alg)) + "." + parts[1] + ".")
		}
		// Tampered claims and headers on the genuine signature.
		add(parts[0] + "." + fzSeg(fzWith(c, "roles", []string{"admin"})) + "." + parts[2])
		add(fzSeg(fzWith(h, "typ", TypRefresh)) + "." + parts[1] + "." + parts[2])
		add(fzSeg(fzWith(h, "jku", "https://attacker.example/jwks.json")) + "." + parts[1] + "." + parts[2])
		add(parts[0] + "." + parts[1] + ".")
		add(parts[0] + "." + parts[1])
		add(access + ".e30")
		add(" " + access)
		add("Bearer " + access)
		add(parts[0] + "=." + parts[1] + "." + parts[2])

		// HS/RS confusion: HS256 keyed with the published public key.
		if m.alg != HS256 {
			der, err := x509.MarshalPKIXPublicKey(ks.verify[kid])
			if err != nil {
				f.Fatal(err)
			}
			pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			for _, key := range [][]byte{der, pemKey, []byte(strings.TrimSpace(string(pemKey))), ks.jwks} {
				add(fzHMAC(fzWith(h, "alg", "HS256"), c, key))
			}
		}
	}

	// HS256 tokens signed with the real HMAC key directly: a valid one
	// exactly at the size limit, one a byte over, and a 20 KB one.
	hs := modes[0]
	hsKID := hs.k.set.Load().signKID
	hsHeader := map[string]any{"alg": HS256, "typ": TypAccess, "kid": hsKID}
	claims := func() map[string]any {
		n, t := now.Unix(), fzToken(app.TokenAccess, 7)
		return map[string]any{"iss": DefaultIssuer, "aud": []string{DefaultAudience}, "sub": t.SubjectID,
			"org_id": t.OrgID, "roles": []string{"viewer"}, "iat": n, "nbf": n, "exp": n + 900,
			"jti": t.ID, "token_use": "access", "sub_type": "user"}
	}
	base := fzHMAC(hsHeader, fzWith(claims(), "pad", ""), hmacKey)
	// Each pad byte adds 4/3 encoded bytes; fill to exactly MaxTokenBytes.
	var atLimit string
	for n := (MaxTokenBytes - len(base)) * 3 / 4; n > 0 && atLimit == ""; n-- {
		raw := fzHMAC(hsHeader, fzWith(claims(), "pad", strings.Repeat("p", n)), hmacKey)
		if len(raw) <= MaxTokenBytes {
			atLimit = raw
		}
	}
	if atLimit == "" {
		f.Fatal("could not build a token at the size limit")
	}
	hs.valid[fzSigned(atLimit)], hs.minted[atLimit] = app.TokenAccess, app.TokenAccess
	if _, err := hs.k.Verifier().Verify(ctx, atLimit, app.TokenAccess); err != nil {
		f.Fatalf("control: %d-byte token rejected: %v", len(atLimit), err)
	}
	add(atLimit)
	add(fzHMAC(hsHeader, fzWith(claims(), "pad", strings.Repeat("p", 6200)), hmacKey))
	add(fzHMAC(hsHeader, fzWith(claims(), "pad", strings.Repeat("p", 20<<10)), hmacKey))

	// Garbage: empty, dots, huge, binary, not UTF-8.
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "!!!.@@@.###", "eyJ.eyJ.",
		strings.Repeat("A", 20<<10), strings.Repeat(".", MaxTokenBytes+1),
		"\x00", "\x00.\x00.\x00", "\xff\xfe\xfd", "eyJhbGciOiJIUzI1NiJ9\x00.e30.", "\t\n\r ",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":[]}`)) + ".e30.c2ln",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":{"a":1}}`)) + ".e30.c2ln",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+hsKID+`","typ":1}`)) + "." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1e999,"iat":"x","aud":[1,2]}`)) + ".c2ln",
	} {
		add(s)
	}

	known := knownReasons()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, m := range modes {
			for _, use := range []string{app.TokenAccess, app.TokenRefresh} {
				tok, err := m.k.Verifier().Verify(ctx, raw, use)
				if err == nil {
					if m.valid[fzSigned(raw)] != use {
						t.Fatalf("%s: accepted as %s a token not minted as one with the real key: %q -> %+v", m.alg, use, raw, tok)
					}
					if tok.Use != use || !domain.IsID(tok.ID) || !domain.IsID(tok.SubjectID) {
						t.Fatalf("%s: accepted token has content %+v", m.alg, tok)
					}
					continue
				}
				if m.minted[raw] == use {
					t.Fatalf("%s: minted %s token rejected: %v", m.alg, use, err)
				}
				if code := domain.ErrorCode(err); code != domain.CodeUnauthorized {
					t.Fatalf("%s/%s: code %s (%v), want AUTH_UNAUTHORIZED", m.alg, use, code, err)
				}
				de, _ := domain.AsError(err)
				if de.Message != clientMessage || len(de.Fields) > 0 {
					t.Fatalf("%s/%s: client sees %+v, want only the generic %q", m.alg, use, de, clientMessage)
				}
				msg := err.Error()
				if len(msg) > 200 {
					t.Fatalf("%s/%s: %d-byte error string: %.300s", m.alg, use, len(msg), msg)
				}
				for _, part := range append(strings.Split(raw, "."), raw) {
					if len(part) > 12 && strings.Contains(msg, part) && !strings.Contains(known, part) {
						t.Fatalf("%s/%s: error echoes the token: %v", m.alg, use, err)
					}
				}
			}
		}
	})
}

// knownReasons is every fixed text a rejection's error string is made of,
// so that an input that happens to spell one is not taken for an echo.
func knownReasons() string {
	errs := []error{errEmpty, errTooLarge, errMissingKID, errBadKID, errUnknownKID, errForbiddenHeader,
		errWrongAlg, errWrongTyp, errWrongUse, errBadUse, jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet,
		jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience,
		jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenMalformed,
		jwt.ErrTokenUnverifiable, jwt.ErrTokenInvalidClaims, errors.New("x")}
	var b strings.Builder
	b.WriteString(string(domain.CodeUnauthorized) + ": " + clientMessage + " invalid claims: ")
	for _, err := range errs {
		b.WriteString(describe(err) + "\n")
	}
	return b.String()
}

// fzSigned is the signed part of a token: everything before the last dot.
func fzSigned(raw string) string {
	if i := strings.LastIndexByte(raw, '.'); i >= 0 {
		return raw[:i]
	}
	return raw
}

func fzSeg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func fzB64(f *testing.F, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// fzWith returns a copy of m with k set to v.
func fzWith(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// fzHMAC signs header and claims with HS256 under key.
func fzHMAC(h, c map[string]any, key []byte) string {
	input := fzSeg(h) + "." + fzSeg(c)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
