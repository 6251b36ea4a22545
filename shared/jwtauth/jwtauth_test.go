package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/domain"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, alg := range []string{HS256, RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id, signKey := e.newSecretFor(t, alg)
			k := e.keys(t, alg, id, nil)
			now := time.Now().UTC().Truncate(time.Second)
			for _, want := range []app.Token{
				accessToken(now),
				refreshToken(now),
				{Use: app.TokenAccess, SubjectID: domain.NewID(), SubjectType: domain.SubjectUser, Roles: []domain.Role{domain.RoleRoot}}, // root without org; defaults filled
				{Use: app.TokenAccess, SubjectID: domain.NewID(), SubjectType: domain.SubjectServiceAccount, OrgID: domain.NewID(), Roles: []domain.Role{domain.RoleOperator}},
			} {
				raw, err := k.Signer().Sign(ctx, want)
				if err != nil {
					t.Fatal(err)
				}
				h := header(t, raw)
				wantTyp := TypAccess
				if want.Use == app.TokenRefresh {
					wantTyp = TypRefresh
				}
				wantKID := signKey
				if alg == HS256 {
					wantKID = k.set.Load().version
				}
				if h["alg"] != alg || h["typ"] != wantTyp || h["kid"] != wantKID || len(h) != 3 {
					t.Fatalf("header %v, want alg %s typ %s kid %s", h, alg, wantTyp, wantKID)
				}
				got, err := k.Verifier().Verify(ctx, raw, want.Use)
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if !canonicalID(got.ID) || (want.ID != "" && got.ID != want.ID) {
					t.Fatalf("jti %q, want %q", got.ID, want.ID)
				}
				if want.IssuedAt.IsZero() { // Sign filled the defaults
					want.ID, want.IssuedAt = got.ID, got.IssuedAt
					want.ExpiresAt = got.IssuedAt.Add(15 * time.Minute)
				}
				want.IssuedAt, want.ExpiresAt = want.IssuedAt.Truncate(time.Second), want.ExpiresAt.Truncate(time.Second)
				if !got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
					t.Fatalf("times %v..%v, want %v..%v", got.IssuedAt, got.ExpiresAt, want.IssuedAt, want.ExpiresAt)
				}
				got.IssuedAt, got.ExpiresAt, want.IssuedAt, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
				}
			}
		})
	}
}

// TestClaimsOnTheWire pins the JSON claim names of the contract.
func TestClaimsOnTheWire(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.newHS256Secret(t)
	k := e.keys(t, HS256, id, nil)
	now := time.Now()
	raw := sign(t, k, refreshToken(now))
	var c map[string]any
	payload := strings.Split(raw, ".")[1]
	if err := json.Unmarshal(must(base64.RawURLEncoding.DecodeString(payload)), &c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"iss", "aud", "sub", "org_id", "roles", "scopes", "iat", "nbf", "exp", "jti", "token_use", "sub_type", "fam"} {
		if _, ok := c[name]; !ok {
			t.Errorf("claim %s missing from %v", name, c)
		}
	}
	if c["iss"] != "mad" || !reflect.DeepEqual(c["aud"], []any{"mad-api"}) || c["token_use"] != "refresh" || c["sub_type"] != "user" {
		t.Errorf("claims %v", c)
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != (7 * 24 * time.Hour).Seconds() {
		t.Errorf("refresh lifetime %v s", exp-iat)
	}
}

func TestSignRefusesBadTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.newHS256Secret(t)
	k := e.keys(t, HS256, id, nil)
	now := time.Now()
	tests := map[string]func(*app.Token){
		"unknown use":       func(t *app.Token) { t.Use = "id" },
		"non-UUID subject":  func(t *app.Token) { t.SubjectID = "alice" },
		"no roles":          func(t *app.Token) { t.Roles = nil },
		"unknown role":      func(t *app.Token) { t.Roles = []domain.Role{"superuser"} },
		"unknown scope":     func(t *app.Token) { t.Scopes = []domain.Permission{"everything"} },
		"system subject":    func(t *app.Token) { t.SubjectType = domain.SubjectSystem },
		"org-less non-root": func(t *app.Token) { t.OrgID = "" },
		"service account admin": func(t *app.Token) {
			t.SubjectType, t.Roles = domain.SubjectServiceAccount, []domain.Role{domain.RoleAdmin}
		},
		"access with family":           func(t *app.Token) { t.FamilyID = domain.NewID() },
		"refresh without family":       func(t *app.Token) { t.Use = app.TokenRefresh },
		"lifetime beyond access TTL":   func(t *app.Token) { t.ExpiresAt = t.IssuedAt.Add(16 * time.Minute) },
		"expires before issued":        func(t *app.Token) { t.ExpiresAt = t.IssuedAt.Add(-time.Second) },
		"uppercase (non-canonical) id": func(t *app.Token) { t.ID = strings.ToUpper(domain.NewID()) },
	}
	for name, mutate := range tests {
		tok := accessToken(now)
		mutate(&tok)
		if raw, err := k.Signer().Sign(context.Background(), tok); err == nil {
			t.Errorf("%s: signed %s", name, raw)
		}
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	t.Run("HS256 publishes nothing", func(t *testing.T) {
		id, _ := e.newHS256Secret(t)
		js, err := e.keys(t, HS256, id, nil).JWKS(ctx)
		if err != nil || string(js) != `{"keys":[]}` {
			t.Fatalf("JWKS = %s, %v", js, err)
		}
	})
	for _, alg := range []string{RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			id, keyID := e.newKMSSecret(t, alg)
			js, err := e.keys(t, alg, id, nil).JWKS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal(js, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS %s: %v", js, err)
			}
			j := set.Keys[0]
			if j["kid"] != keyID || j["use"] != "sig" || j["alg"] != alg {
				t.Fatalf("jwk %v", j)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := j[private]; ok {
					t.Fatalf("jwk carries private member %s", private)
				}
			}
			out, err := e.km.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &keyID})
			if err != nil {
				t.Fatal(err)
			}
			pub := must(x509.ParsePKIXPublicKey(out.PublicKey))
			b64 := base64.RawURLEncoding
			switch alg {
			case RS256:
				rk := pub.(*rsa.PublicKey)
				n := new(big.Int).SetBytes(must(b64.DecodeString(j["n"])))
				ev := new(big.Int).SetBytes(must(b64.DecodeString(j["e"])))
				if j["kty"] != "RSA" || n.Cmp(rk.N) != 0 || ev.Int64() != int64(rk.E) {
					t.Fatalf("RSA jwk does not match the KMS public key: %v", j)
				}
			case ES256:
				ek := pub.(*ecdsa.PublicKey)
				x, y := must(b64.DecodeString(j["x"])), must(b64.DecodeString(j["y"]))
				pt := must(ek.Bytes())
				if j["kty"] != "EC" || j["crv"] != "P-256" || len(x) != 32 || len(y) != 32 ||
					string(pt[1:33]) != string(x) || string(pt[33:]) != string(y) {
					t.Fatalf("EC jwk does not match the KMS public key: %v", j)
				}
			}
		})
	}
}

// TestDERToJOSE converts many real signatures (so short R or S, which
// DER encodes in fewer than 32 bytes, and high-bit ones, which it pads
// with a zero byte, both occur) and checks JWS verification.
func TestDERToJOSE(t *testing.T) {
	t.Parallel()
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	digest := sha256.Sum256([]byte("header.payload"))
	short, padded := 0, 0
	for range 2000 {
		der := must(ecdsa.SignASN1(rand.Reader, key, digest[:]))
		jose, err := derToJOSE(der, 32)
		if err != nil {
			t.Fatal(err)
		}
		if len(jose) != 64 {
			t.Fatalf("JOSE signature of %d bytes", len(jose))
		}
		if err := jwt.SigningMethodES256.Verify("header.payload", jose, &key.PublicKey); err != nil {
			t.Fatalf("converted signature does not verify: %v", err)
		}
		if jose[0] == 0 || jose[32] == 0 {
			short++
		}
		if jose[0]&0x80 != 0 {
			padded++
		}
	}
	if short == 0 || padded == 0 {
		t.Fatalf("corpus lacks edge cases: %d short, %d sign-padded", short, padded)
	}
	for name, der := range map[string][]byte{
		"empty":          {},
		"not a sequence": {0x02, 0x01, 0x01},
		"one integer":    {0x30, 0x03, 0x02, 0x01, 0x01},
		"negative r":     {0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01},
		"zero r":         {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01},
		"trailing data":  {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},
		"r of 33 bytes":  append([]byte{0x30, 0x26, 0x02, 0x21, 0x01}, append(make([]byte, 32), 0x02, 0x01, 0x01)...),
	} {
		if _, err := derToJOSE(der, 32); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNextKeySet(t *testing.T) {
	t.Parallel()
	set := kmsKeySet{Alg: RS256, SigningKey: "k0", Keys: []string{"k0"}}
	want := []kmsKeySet{
		{Alg: RS256, SigningKey: "k0", Keys: []string{"k0", "k1"}},             // first rotation: publish k1, k0 keeps signing
		{Alg: RS256, SigningKey: "k1", Keys: []string{"k0", "k1", "k2"}},       // k1 (published a period ago) signs
		{Alg: RS256, SigningKey: "k2", Keys: []string{"k0", "k1", "k2", "k3"}}, // k0 has not signed for one period
		{Alg: RS256, SigningKey: "k3", Keys: []string{"k1", "k2", "k3", "k4"}}, // k0 has not signed for two: dropped
		{Alg: RS256, SigningKey: "k4", Keys: []string{"k2", "k3", "k4", "k5"}},
	}
	for i, w := range want {
		set = nextKeySet(set, "k"+string(rune('1'+i)))
		if !reflect.DeepEqual(set, w) {
			t.Fatalf("rotation %d: %+v, want %+v", i+1, set, w)
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	c, err := config.Load(func(k string) string {
		return map[string]string{"AWS_REGION": "us-east-1", "MAD_JWT_SECRET_ID": "mad/x/jwt-signing-key", "MAD_JWT_ALG": "RS256"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	jc, err := ConfigFrom(c).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if jc.Alg != RS256 || jc.Issuer != "mad" || jc.Audience != "mad-api" || jc.AccessTTL != 15*time.Minute ||
		jc.RefreshTTL != 7*24*time.Hour || jc.KeyCacheTTL != 5*time.Minute || jc.Leeway != 30*time.Second {
		t.Fatalf("config %+v", jc)
	}
	e := env{}
	for name, c := range map[string]Config{
		"unknown alg":   {Alg: "HS512", SecretID: "x"},
		"no secret":     {Alg: HS256},
		"leeway > 60 s": {Alg: HS256, SecretID: "x", Leeway: 2 * time.Minute},
	} {
		if _, err := New(c, e.sm, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Config{Alg: RS256, SecretID: "x"}, newEnv(t).sm, nil); err == nil {
		t.Error("RS256 without KMS accepted")
	}
}

func TestLoadRejectsBadSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rsaKey := e.newKMSKey(t, RS256)
	ecKey := e.newKMSKey(t, ES256)
	tests := []struct {
		name, alg, value string
	}{
		{"not JSON", HS256, "plain-text-key"},
		{"alg mismatch", HS256, `{"alg":"RS256","signing_key":"` + rsaKey + `","keys":["` + rsaKey + `"]}`},
		{"short HMAC key", HS256, `{"alg":"HS256","k":"tooshort"}`},
		{"HS256 secret in RS256 mode", RS256, `{"alg":"HS256","k":"` + strings.Repeat("a", 64) + `"}`},
		{"signing key not published", RS256, `{"alg":"RS256","signing_key":"` + rsaKey + `","keys":[]}`},
		{"signing key not listed", RS256, `{"alg":"RS256","signing_key":"` + rsaKey + `","keys":["` + ecKey + `"]}`},
		{"EC key for RS256", RS256, `{"alg":"RS256","signing_key":"` + ecKey + `","keys":["` + ecKey + `"]}`},
		{"RSA key for ES256", ES256, `{"alg":"ES256","signing_key":"` + rsaKey + `","keys":["` + rsaKey + `"]}`},
		{"unknown KMS key", RS256, `{"alg":"RS256","signing_key":"` + domain.NewID() + `","keys":["` + domain.NewID() + `"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := e.newSecret(t, tc.value)
			k, err := New(Config{Alg: tc.alg, SecretID: id, Log: quiet}, e.sm, e.km)
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Load(context.Background()); err == nil {
				t.Fatal("loaded")
			} else if strings.Contains(err.Error(), "tooshort") || strings.Contains(err.Error(), "plain-text-key") {
				t.Fatalf("error quotes the secret: %v", err)
			}
			// With no key set, signing fails and verifying is an internal
			// error (not the client's fault), never a pass.
			if _, err := k.Signer().Sign(context.Background(), accessToken(time.Now())); err == nil {
				t.Fatal("signed without keys")
			}
			_, err = k.Verifier().Verify(context.Background(), "a.b.c", app.TokenAccess)
			if err == nil || domain.ErrorCode(err) != domain.CodeInternal {
				t.Fatalf("verify without keys: %v", err)
			}
		})
	}
}
