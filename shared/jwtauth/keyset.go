package jwtauth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// minHMACKeyChars: RFC 7518 3.2 wants at least 256 bits of key. Our keys
// are 64 alphanumerics (about 381 bits); 43 of them are the least that
// carry 256 bits (43 * log2(62) = 256.02), so shorter keys are refused.
const minHMACKeyChars = 43

// maxPublishedKeys bounds the KMS key set: each key costs one
// GetPublicKey on first sight, and rotation keeps four at most.
const maxPublishedKeys = 8

// hmacSecret is the HS256 secret format.
type hmacSecret struct {
	Alg string `json:"alg"`
	K   string `json:"k"`
}

// kmsKeySet is the RS256/ES256 secret format. Keys are listed oldest
// first; rotation relies on that order (see Rotator).
type kmsKeySet struct {
	Alg        string   `json:"alg"`
	SigningKey string   `json:"signing_key"`
	Keys       []string `json:"keys"`
}

// secretAlg reads only the alg of a secret value.
func secretAlg(value string) (string, error) {
	var s struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		return "", errors.New("signing key secret is not a JSON object") // never quote the secret
	}
	switch s.Alg {
	case HS256, RS256, ES256:
		return s.Alg, nil
	}
	return "", fmt.Errorf("signing key secret has alg %q, want HS256, RS256 or ES256", s.Alg)
}

func parseHMACSecret(value string) ([]byte, error) {
	var s hmacSecret
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		return nil, errors.New("HS256 secret is not a JSON object")
	}
	if s.Alg != HS256 {
		return nil, fmt.Errorf("secret alg %q does not match the configured HS256", s.Alg)
	}
	if len(s.K) < minHMACKeyChars {
		return nil, fmt.Errorf("HS256 key has %d characters, want at least %d", len(s.K), minHMACKeyChars)
	}
	return []byte(s.K), nil
}

func parseKMSKeySet(value, alg string) (kmsKeySet, error) {
	var s kmsKeySet
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		return s, errors.New("key set secret is not a JSON object")
	}
	if s.Alg != alg {
		return s, fmt.Errorf("secret alg %q does not match the configured %s", s.Alg, alg)
	}
	if s.SigningKey == "" || len(s.Keys) == 0 {
		return s, errors.New("key set needs signing_key and keys")
	}
	if len(s.Keys) > maxPublishedKeys {
		return s, fmt.Errorf("key set lists %d keys, at most %d", len(s.Keys), maxPublishedKeys)
	}
	seen := map[string]bool{}
	for _, k := range s.Keys {
		if k == "" || seen[k] {
			return s, errors.New("key set lists an empty or duplicate key")
		}
		seen[k] = true
	}
	if !seen[s.SigningKey] {
		// A key that signs before it is published would make tokens other
		// verifiers (and JWKS clients) cannot check.
		return s, errors.New("signing_key is not listed in keys")
	}
	return s, nil
}

// keySet is one loaded, immutable generation of keys. Verify reads it
// through an atomic pointer without locks.
type keySet struct {
	alg string
	// verify maps kid to a typed key: []byte (HS256), *rsa.PublicKey
	// (RS256) or *ecdsa.PublicKey (ES256); never raw public-key bytes.
	verify map[string]any
	// Signing: the kid written into new tokens and the key that signs.
	signKID  string
	signHMAC []byte // HS256
	signKMS  string // RS256/ES256: KMS key id, ARN or alias for kms:Sign
	jwks     []byte
	// version is the secret version the set came from (for logs).
	version string
	loaded  time.Time
	expires time.Time
}

// kids lists the set's key ids (for logs; kids are not secret).
func (ks *keySet) kids() []string {
	out := make([]string, 0, len(ks.verify))
	for k := range ks.verify {
		out = append(out, k)
	}
	return out
}

// jwk is one RFC 7517 public key.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
}

func toJWK(kid, alg string, key any) (jwk, error) {
	b64 := base64.RawURLEncoding
	switch pub := key.(type) {
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", Kid: kid, Use: "sig", Alg: alg,
			N: b64.EncodeToString(pub.N.Bytes()),
			E: b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}, nil
	case *ecdsa.PublicKey:
		pt, err := pub.Bytes() // 0x04 || X || Y, each 32 bytes for P-256
		if err != nil || len(pt) != 65 {
			return jwk{}, errors.New("EC public key is not a P-256 point")
		}
		return jwk{Kty: "EC", Kid: kid, Use: "sig", Alg: alg, Crv: "P-256",
			X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:65])}, nil
	}
	return jwk{}, fmt.Errorf("no JWK form for %T", key)
}

func marshalJWKS(keys []jwk) ([]byte, error) {
	if keys == nil {
		keys = []jwk{} // {"keys":[]}, not null
	}
	return json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{keys})
}
