package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// forge builds tokens for the attack corpus: it can sign any header and
// claims with the real key (HMAC key or the KMS key) or an attacker's key.
type forge struct {
	t        *testing.T
	alg      string
	k        *Keys
	now      time.Time
	kid      string // the real signing kid
	hmacKey  []byte // HS256 only
	kmsKey   string // RS256/ES256 only
	jwks     []byte
	atkHMAC  []byte
	atkRSA   *rsa.PrivateKey
	atkEC    *ecdsa.PrivateKey
	atkKID   string
	validRaw string
}

// claims returns valid access claims at f.now, as a map so cases can
// delete or retype members.
func (f *forge) claims() map[string]any {
	now := f.now.Unix()
	return map[string]any{
		"iss": "mad", "aud": []string{"mad-api"}, "sub": domain.NewID(), "org_id": domain.NewID(),
		"roles": []string{"viewer"}, "iat": now, "nbf": now, "exp": now + 900, "jti": domain.NewID(),
		"token_use": "access", "sub_type": "user",
	}
}

func (f *forge) refreshClaims() map[string]any {
	c := f.claims()
	c["token_use"], c["fam"], c["exp"] = "refresh", domain.NewID(), f.now.Unix()+7*86400
	return c
}

func (f *forge) header() map[string]any {
	return map[string]any{"alg": f.alg, "typ": TypAccess, "kid": f.kid}
}

func with[M ~map[string]any](m M, kv ...any) M {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

// real signs with the genuine key of the configured algorithm.
func (f *forge) real(h, c map[string]any) string {
	input := seg(h) + "." + seg(c)
	var sig []byte
	var err error
	switch f.alg {
	case HS256:
		sig, err = jwt.SigningMethodHS256.Sign(input, f.hmacKey)
	default:
		sig, err = kmsSign(context.Background(), f.k.km, f.kmsKey, f.alg, input)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// attacker signs with a key of the attacker's, using h's alg.
func (f *forge) attacker(h, c map[string]any) string {
	input := seg(h) + "." + seg(c)
	alg, _ := h["alg"].(string)
	var key any
	switch alg {
	case "HS256":
		key = f.atkHMAC
	case "RS256", "PS256", "RS512":
		key = f.atkRSA
	case "ES256":
		key = f.atkEC
	}
	sig, err := jwt.GetSigningMethod(alg).Sign(input, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hmacWith signs an HS256 token with arbitrary key bytes (confusion
// attacks: the key is public material).
func hmacWith(h, c map[string]any, key []byte) string {
	input := seg(h) + "." + seg(c)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// unsigned returns header.payload. with an empty signature.
func unsigned(h, c map[string]any) string { return seg(h) + "." + seg(c) + "." }

func (f *forge) attackerJWK() map[string]any {
	switch f.alg {
	case HS256:
		return map[string]any{"kty": "oct", "kid": f.atkKID, "k": base64.RawURLEncoding.EncodeToString(f.atkHMAC)}
	case ES256:
		pt := must(f.atkEC.PublicKey.Bytes())
		return map[string]any{"kty": "EC", "kid": f.atkKID, "crv": "P-256",
			"x": base64.RawURLEncoding.EncodeToString(pt[1:33]), "y": base64.RawURLEncoding.EncodeToString(pt[33:])}
	}
	return map[string]any{"kty": "RSA", "kid": f.atkKID, "n": base64.RawURLEncoding.EncodeToString(f.atkRSA.N.Bytes()), "e": "AQAB"}
}

// publicKeyMaterial returns the forms in which an attacker may hold the
// verifier's public key (from /.well-known/jwks.json), to use as an HMAC
// secret: DER SubjectPublicKeyInfo, PEM, the JWKS document, the bare
// modulus or point.
func (f *forge) publicKeyMaterial() map[string][]byte {
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(f.jwks, &set); err != nil || len(set.Keys) == 0 {
		f.t.Fatalf("jwks %s: %v", f.jwks, err)
	}
	j := set.Keys[0]
	b64 := base64.RawURLEncoding
	var pub any
	var raw []byte
	if j["kty"] == "RSA" {
		n := new(big.Int).SetBytes(must(b64.DecodeString(j["n"])))
		pub, raw = &rsa.PublicKey{N: n, E: 65537}, n.Bytes()
	} else {
		raw = append([]byte{4}, append(must(b64.DecodeString(j["x"])), must(b64.DecodeString(j["y"]))...)...)
		pub = must(ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw))
	}
	der := must(x509.MarshalPKIXPublicKey(pub))
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON := must(json.Marshal(j))
	return map[string][]byte{"DER": der, "PEM": pemBytes, "PEM without newline": []byte(strings.TrimSpace(string(pemBytes))),
		"JWKS document": f.jwks, "JWK": jwkJSON, "raw key": raw}
}

type attack struct {
	name  string
	use   string // what Verify is asked for; default access
	raw   func(f *forge) string
	modes []string // default: every mode
}

func attackCorpus() []attack {
	big := strings.Repeat("A", 20<<10)
	return []attack{
		{name: "alg none", raw: func(f *forge) string { return unsigned(with(f.header(), "alg", "none"), f.claims()) }},
		{name: "alg None", raw: func(f *forge) string { return unsigned(with(f.header(), "alg", "None"), f.claims()) }},
		{name: "alg NONE with a signature", raw: func(f *forge) string {
			return unsigned(with(f.header(), "alg", "NONE"), f.claims()) + "c2ln"
		}},
		{name: "alg none, no kid", raw: func(f *forge) string { return unsigned(map[string]any{"alg": "none", "typ": TypAccess}, f.claims()) }},
		{name: "alg missing", raw: func(f *forge) string { return f.real(with(f.header(), "alg", nil), f.claims()) }},
		{name: "HS256 signed with the attacker key, real kid (alg not configured)", modes: []string{RS256, ES256},
			raw: func(f *forge) string { return f.attacker(with(f.header(), "alg", "HS256"), f.claims()) }},
		{name: "RS256 signed by attacker, real kid", modes: []string{HS256, ES256},
			raw: func(f *forge) string { return f.attacker(with(f.header(), "alg", "RS256"), f.claims()) }},
		{name: "ES256 signed by attacker, real kid", modes: []string{HS256, RS256},
			raw: func(f *forge) string { return f.attacker(with(f.header(), "alg", "ES256"), f.claims()) }},
		{name: "PS256 signed by attacker, real kid",
			raw: func(f *forge) string { return f.attacker(with(f.header(), "alg", "PS256"), f.claims()) }},
		{name: "wrong kid, real signature", raw: func(f *forge) string { return f.real(with(f.header(), "kid", domain.NewID()), f.claims()) }},
		{name: "wrong kid, attacker signature", raw: func(f *forge) string { return f.attacker(with(f.header(), "kid", f.atkKID), f.claims()) }},
		{name: "missing kid, real signature", raw: func(f *forge) string { return f.real(with(f.header(), "kid", nil), f.claims()) }},
		{name: "empty kid", raw: func(f *forge) string { return f.real(with(f.header(), "kid", ""), f.claims()) }},
		{name: "numeric kid", raw: func(f *forge) string { return f.real(with(f.header(), "kid", 1), f.claims()) }},
		{name: "kid array", raw: func(f *forge) string { return f.real(with(f.header(), "kid", []string{f.kid}), f.claims()) }},
		{name: "kid path traversal", raw: func(f *forge) string { return f.real(with(f.header(), "kid", "../../../dev/null"), f.claims()) }},
		{name: "overlong kid", raw: func(f *forge) string { return f.real(with(f.header(), "kid", strings.Repeat("k", 300)), f.claims()) }},
		{name: "jku to attacker keys", raw: func(f *forge) string {
			return f.attacker(with(f.header(), "kid", f.atkKID, "jku", "https://attacker.example/jwks.json"), f.claims())
		}},
		{name: "x5u to attacker cert", raw: func(f *forge) string {
			return f.attacker(with(f.header(), "kid", f.atkKID, "x5u", "https://attacker.example/cert.pem"), f.claims())
		}},
		{name: "embedded jwk of attacker", raw: func(f *forge) string {
			return f.attacker(with(f.header(), "kid", f.atkKID, "jwk", f.attackerJWK()), f.claims())
		}},
		{name: "embedded jwk of attacker, real kid", raw: func(f *forge) string {
			return f.attacker(with(f.header(), "jwk", f.attackerJWK()), f.claims())
		}},
		{name: "x5c chain of attacker", raw: func(f *forge) string {
			return f.attacker(with(f.header(), "kid", f.atkKID, "x5c", []string{"MIIB"}), f.claims())
		}},
		{name: "jku header on a genuinely signed token", raw: func(f *forge) string {
			return f.real(with(f.header(), "jku", "https://attacker.example/jwks.json"), f.claims())
		}},
		{name: "crit header", raw: func(f *forge) string { return f.real(with(f.header(), "crit", []string{"exp"}), f.claims()) }},
		{name: "tampered payload (roles -> admin)", raw: func(f *forge) string {
			parts := strings.Split(f.validRaw, ".")
			var c map[string]any
			_ = json.Unmarshal(must(base64.RawURLEncoding.DecodeString(parts[1])), &c)
			c["roles"] = []string{"admin"}
			return parts[0] + "." + seg(c) + "." + parts[2]
		}},
		{name: "tampered payload (org_id swapped)", raw: func(f *forge) string {
			parts := strings.Split(f.validRaw, ".")
			var c map[string]any
			_ = json.Unmarshal(must(base64.RawURLEncoding.DecodeString(parts[1])), &c)
			c["org_id"] = domain.NewID()
			return parts[0] + "." + seg(c) + "." + parts[2]
		}},
		{name: "tampered header (kid)", raw: func(f *forge) string {
			parts := strings.Split(f.validRaw, ".")
			return seg(with(f.header(), "x", "y")) + "." + parts[1] + "." + parts[2]
		}},
		{name: "signature stripped", raw: func(f *forge) string {
			return f.validRaw[:strings.LastIndex(f.validRaw, ".")+1]
		}},
		{name: "signature of another token", raw: func(f *forge) string {
			other := f.real(f.header(), f.claims())
			return f.validRaw[:strings.LastIndex(f.validRaw, ".")] + other[strings.LastIndex(other, "."):]
		}},
		{name: "signature bit flipped", raw: func(f *forge) string {
			parts := strings.Split(f.validRaw, ".")
			sig := must(base64.RawURLEncoding.DecodeString(parts[2]))
			sig[len(sig)/2] ^= 1
			return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		}},
		{name: "expired", raw: func(f *forge) string {
			n := f.now.Unix()
			return f.real(f.header(), with(f.claims(), "iat", n-7200, "nbf", n-7200, "exp", n-3600))
		}},
		{name: "expired just beyond the 30 s leeway", raw: func(f *forge) string {
			n := f.now.Unix()
			return f.real(f.header(), with(f.claims(), "iat", n-900, "nbf", n-900, "exp", n-31))
		}},
		{name: "nbf in the future beyond leeway", raw: func(f *forge) string {
			return f.real(f.header(), with(f.claims(), "nbf", f.now.Unix()+300))
		}},
		{name: "iat in the future beyond leeway", raw: func(f *forge) string {
			n := f.now.Unix()
			return f.real(f.header(), with(f.claims(), "iat", n+300, "exp", n+1200))
		}},
		{name: "wrong iss", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "iss", "evil")) }},
		{name: "missing iss", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "iss", nil)) }},
		{name: "wrong aud", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "aud", []string{"other-api"})) }},
		{name: "aud as plain string of another api", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "aud", "other-api")) }},
		{name: "missing aud", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "aud", nil)) }},
		{name: "missing exp", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "exp", nil)) }},
		{name: "exp in the past as a string", raw: func(f *forge) string {
			return f.real(f.header(), with(f.claims(), "exp", fmt.Sprint(f.now.Unix()-900)))
		}},
		{name: "exp not a number", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "exp", "tomorrow")) }},
		{name: "missing iat", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "iat", nil)) }},
		{name: "missing nbf", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "nbf", nil)) }},
		{name: "missing jti", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "jti", nil)) }},
		{name: "jti not a UUID", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "jti", "1")) }},
		{name: "sub not a UUID", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "sub", "admin@example.com")) }},
		{name: "sub uppercase UUID", raw: func(f *forge) string {
			return f.real(f.header(), with(f.claims(), "sub", strings.ToUpper(domain.NewID())))
		}},
		{name: "org_id not a UUID", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "org_id", "*")) }},
		{name: "org_id missing on a viewer", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "org_id", nil)) }},
		{name: "roles empty", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "roles", []string{})) }},
		{name: "roles missing", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "roles", nil)) }},
		{name: "roles unknown", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "roles", []string{"superuser"})) }},
		{name: "roles as string", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "roles", "admin")) }},
		{name: "scopes unknown", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "scopes", []string{"*"})) }},
		{name: "sub_type system", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "sub_type", "system")) }},
		{name: "sub_type missing", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "sub_type", nil)) }},
		{name: "service account holding admin", raw: func(f *forge) string {
			return f.real(f.header(), with(f.claims(), "sub_type", "service_account", "roles", []string{"admin"}))
		}},
		{name: "token_use missing", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "token_use", nil)) }},
		{name: "token_use id", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "token_use", "id")) }},
		{name: "refresh token as access", raw: func(f *forge) string {
			return f.real(with(f.header(), "typ", TypRefresh), f.refreshClaims())
		}},
		{name: "refresh claims with access typ (typ swapped)", raw: func(f *forge) string {
			return f.real(f.header(), f.refreshClaims())
		}},
		{name: "access claims with refresh typ (typ swapped)", raw: func(f *forge) string {
			return f.real(with(f.header(), "typ", TypRefresh), f.claims())
		}},
		{name: "access token as refresh", use: app.TokenRefresh, raw: func(f *forge) string { return f.validRaw }},
		{name: "access claims, refresh typ, as refresh", use: app.TokenRefresh, raw: func(f *forge) string {
			return f.real(with(f.header(), "typ", TypRefresh), f.claims())
		}},
		{name: "access with fam", raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "fam", domain.NewID())) }},
		{name: "refresh without fam", use: app.TokenRefresh, raw: func(f *forge) string {
			return f.real(with(f.header(), "typ", TypRefresh), with(f.refreshClaims(), "fam", nil))
		}},
		{name: "typ missing", raw: func(f *forge) string { return f.real(with(f.header(), "typ", nil), f.claims()) }},
		{name: "typ JWT", raw: func(f *forge) string { return f.real(with(f.header(), "typ", "JWT"), f.claims()) }},
		{name: "typ AT+JWT (other spelling)", raw: func(f *forge) string { return f.real(with(f.header(), "typ", "AT+JWT"), f.claims()) }},
		{name: "20 KB token, real signature", modes: []string{HS256},
			raw: func(f *forge) string { return f.real(f.header(), with(f.claims(), "pad", big)) }},
		// kms:Sign signs at most 4 KiB raw (moto ignores MessageType
		// DIGEST), so in the KMS modes the 20 KB token carries the real kid
		// and an attacker signature; the size check fires first anyway.
		{name: "20 KB token, real kid", raw: func(f *forge) string { return f.attacker(f.header(), with(f.claims(), "pad", big)) }},
		{name: "20 KB of garbage", raw: func(*forge) string { return big }},
		{name: "8 KiB + 1", raw: func(f *forge) string { return f.validRaw + strings.Repeat("A", MaxTokenBytes+1-len(f.validRaw)) }},
		{name: "garbage base64", raw: func(*forge) string { return "!!!.@@@.###" }},
		{name: "base64 of non-JSON", raw: func(*forge) string { return "aGVsbG8.d29ybGQ.c2ln" }},
		{name: "header is a JSON array", raw: func(f *forge) string {
			return base64.RawURLEncoding.EncodeToString([]byte(`["HS256"]`)) + "." + seg(f.claims()) + ".c2ln"
		}},
		{name: "claims are a JSON array", raw: func(f *forge) string {
			return seg(f.header()) + "." + base64.RawURLEncoding.EncodeToString([]byte(`[1]`)) + ".c2ln"
		}},
		{name: "padded base64 segments", raw: func(f *forge) string {
			parts := strings.Split(f.validRaw, ".")
			return parts[0] + "=." + parts[1] + "." + parts[2]
		}},
		{name: "standard (not url) base64 signature", raw: func(f *forge) string {
			parts := strings.Split(f.validRaw, ".")
			return parts[0] + "." + parts[1] + "." + base64.StdEncoding.EncodeToString(must(base64.RawURLEncoding.DecodeString(parts[2])))
		}},
		{name: "leading space", raw: func(f *forge) string { return " " + f.validRaw }},
		{name: "two segments", raw: func(f *forge) string { return f.validRaw[:strings.LastIndex(f.validRaw, ".")] }},
		{name: "four segments", raw: func(f *forge) string { return f.validRaw + ".e30" }},
		{name: "dots only", raw: func(*forge) string { return ".." }},
		{name: "empty string", raw: func(*forge) string { return "" }},
		{name: "JWE-shaped (five segments)", raw: func(*forge) string { return "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..iv.ct.tag" }},
		{name: "root role signed by an unknown key, real kid", raw: func(f *forge) string {
			return f.attacker(f.header(), with(f.claims(), "roles", []string{"root"}, "org_id", nil))
		}},
		{name: "root role signed by an unknown key and kid", raw: func(f *forge) string {
			return f.attacker(with(f.header(), "kid", f.atkKID), with(f.claims(), "roles", []string{"root"}, "org_id", nil))
		}},
	}
}

// TestAttackCorpus runs the corpus against Verify in every key mode. Each
// token is one deliberate change away from a valid one (the control case
// proves the valid one passes), and every one must come back as
// AUTH_UNAUTHORIZED with the generic message, without a panic and without
// echoing the token.
func TestAttackCorpus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	atkRSA := must(rsa.GenerateKey(rand.Reader, 2048))
	atkEC := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	atkHMAC := make([]byte, 64)
	_, _ = rand.Read(atkHMAC)
	for _, alg := range []string{HS256, RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id, signKey := e.newSecretFor(t, alg)
			k := e.keys(t, alg, id, nil)
			ks := k.set.Load()
			f := &forge{t: t, alg: alg, k: k, now: time.Now(), kid: ks.signKID, jwks: ks.jwks,
				atkHMAC: atkHMAC, atkRSA: atkRSA, atkEC: atkEC, atkKID: domain.NewID()}
			if alg == HS256 {
				f.hmacKey = []byte(signKey)
			} else {
				f.kmsKey = signKey
			}
			f.validRaw = f.real(f.header(), f.claims())
			if _, err := k.Verifier().Verify(ctx, f.validRaw, app.TokenAccess); err != nil {
				t.Fatalf("control: the valid token is rejected: %v", err)
			}
			// A forged refresh token with the real key verifies as refresh:
			// the refresh cases fail for the reason they name.
			if _, err := k.Verifier().Verify(ctx, f.real(with(f.header(), "typ", TypRefresh), f.refreshClaims()), app.TokenRefresh); err != nil {
				t.Fatalf("control: a valid refresh token is rejected: %v", err)
			}
			cases := attackCorpus()
			if alg != HS256 {
				for name, key := range f.publicKeyMaterial() {
					cases = append(cases, attack{name: "HS/RS confusion: HS256 keyed with the public key as " + name, raw: func(f *forge) string {
						return hmacWith(with(f.header(), "alg", "HS256"), f.claims(), key)
					}})
				}
			}
			for _, a := range cases {
				if len(a.modes) > 0 && !contains(a.modes, alg) {
					continue
				}
				t.Run(a.name, func(t *testing.T) {
					f.t = t
					raw := a.raw(f)
					use := a.use
					if use == "" {
						use = app.TokenAccess
					}
					var err error
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Fatalf("Verify panicked: %v", p)
							}
						}()
						_, err = k.Verifier().Verify(ctx, raw, use)
					}()
					requireUnauthorized(t, err)
					for _, part := range strings.Split(raw, ".") {
						if len(part) > 12 && strings.Contains(err.Error(), part) {
							t.Fatalf("error echoes the token: %v", err)
						}
					}
				})
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
