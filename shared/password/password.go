// Package password hashes user passwords with argon2id and service-account
// secrets with SHA-256, and compares both in constant time.
//
// Password hashes are PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, unpadded standard base64),
// so the cost parameters travel with each hash: they can be raised later
// without invalidating stored hashes, and NeedsRehash tells a login use case
// when to re-hash a password it has just verified.
package password

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/mad-bio/mad/shared/app"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's argon2id recommendation (Password Storage Cheat
// Sheet: m=19 MiB, t=2, p=1), which costs about 20-40 ms on a Lambda vCPU:
// affordable per login, expensive per guess.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters read from a stored hash. Stored hashes come from our
// own database, so anything outside these is corruption or tampering; an
// attacker who can write a hash must not be able to make Verify allocate
// gigabytes or spin for minutes (a memory-exhaustion DoS of the auth Lambda).
const (
	maxMemory  = 256 * 1024 // KiB: 256 MiB, well under a 1 GiB Lambda
	maxTime    = 16
	maxThreads = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// deriveFunc is argon2.IDKey's signature; tests wrap it to count calls.
type deriveFunc func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use.
type Hasher struct {
	params Params
	derive deriveFunc
	// dummy is a fixed hash with the current parameters. Verify runs
	// argon2 against it when the stored hash is missing or unusable, so an
	// unknown email costs one argon2 computation like a wrong password.
	dummy parsed
}

var _ app.PasswordHasher = (*Hasher)(nil)

// New returns a hasher with DefaultParams.
func New() *Hasher {
	h, err := NewWithParams(DefaultParams)
	if err != nil {
		panic(err) // DefaultParams are within bounds; a failure is a programming error
	}
	return h
}

// NewWithParams returns a hasher that hashes new passwords with p. Hashes
// made with other parameters still verify. It fails when p is outside the
// accepted bounds.
func NewWithParams(p Params) (*Hasher, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	h := &Hasher{params: p, derive: argon2.IDKey}
	// The dummy's salt and key are fixed and public: it only has to cost
	// the same as a real hash, never to match.
	h.dummy = parsed{params: p, salt: make([]byte, p.SaltLen), key: make([]byte, p.KeyLen)}
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of password with a fresh random salt. It
// fails only if the system's random source fails.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := h.derive([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches hash, comparing in constant time.
// An empty, malformed or out-of-bounds hash still costs one argon2
// computation (against a fixed dummy with the current parameters) and
// returns false, so callers pass "" for unknown emails and disabled users
// and every failed login takes the same time.
func (h *Hasher) Verify(hash, password string) bool {
	p, err := parse(hash)
	ok := err == nil
	if !ok {
		p = h.dummy
	}
	key := h.derive([]byte(password), p.salt, p.params.Time, p.params.Memory, p.params.Threads, p.params.KeyLen)
	match := subtle.ConstantTimeCompare(key, p.key) == 1
	return ok && match
}

// NeedsRehash reports whether hash was made with parameters other than the
// hasher's (or cannot be parsed), so a login that just verified the
// password should store a fresh Hash of it.
func (h *Hasher) NeedsRehash(hash string) bool {
	p, err := parse(hash)
	return err != nil || p.params != h.params
}

// parsed is a decoded PHC string.
type parsed struct {
	params Params
	salt   []byte
	key    []byte
}

var errMalformed = errors.New("malformed argon2id hash")

func (p Params) check() error {
	switch {
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2id: p=%d out of range 1..%d", p.Threads, maxThreads)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id: t=%d out of range 1..%d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// argon2 needs at least 8 KiB per lane.
		return fmt.Errorf("argon2id: m=%d out of range %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2id: salt length %d out of range %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2id: key length %d out of range %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parse decodes exactly the form encode writes: one spelling, no optional
// PHC fields, so a hash has one meaning.
func parse(s string) (parsed, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return parsed{}, errMalformed
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return parsed{}, errMalformed
	}
	var p Params
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return parsed{}, errMalformed
	}
	m, err1 := param(kv[0], "m=", 32)
	t, err2 := param(kv[1], "t=", 32)
	th, err3 := param(kv[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return parsed{}, errMalformed
	}
	p.Memory, p.Time, p.Threads = uint32(m), uint32(t), uint8(th)
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return parsed{}, errMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return parsed{}, errMalformed
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return parsed{}, err
	}
	return parsed{params: p, salt: salt, key: key}, nil
}

func param(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	// Leading zeros and signs would give one value several spellings.
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') || v[0] == '+' {
		return 0, errMalformed
	}
	return strconv.ParseUint(v, 10, bits)
}

// Secrets makes, hashes and checks service-account secrets with the
// package functions NewSecret, HashSecret and VerifySecret; it is the
// app.SecretGenerator the admin and auth use cases take.
type Secrets struct{}

var _ app.SecretGenerator = Secrets{}

// NewSecret calls the package function NewSecret.
func (Secrets) NewSecret() (string, error) { return NewSecret() }

// HashSecret calls the package function HashSecret.
func (Secrets) HashSecret(secret string) string { return HashSecret(secret) }

// VerifySecret calls the package function VerifySecret.
func (Secrets) VerifySecret(hash, secret string) bool { return VerifySecret(hash, secret) }

// SecretPrefix starts every service-account secret, so leaked secrets are
// recognizable by secret scanners and in logs.
const SecretPrefix = "mad_sk_"

// NewSecret returns a new service-account secret: 32 bytes from
// crypto/rand, base64url without padding, prefixed with SecretPrefix.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("service account secret: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

const secretHashPrefix = "sha256:"

// HashSecret returns the stored form of a service-account secret:
// "sha256:" and the hex SHA-256 of the secret.
//
// A fast unsalted hash is enough here, unlike for passwords: the secret
// carries 256 bits from crypto/rand, so guessing it costs 2^256 hash
// evaluations however fast each is, and no dictionary or rainbow table
// covers that space. Slow, salted hashing only compensates for
// low-entropy human passwords; here it would just add login latency.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + hex.EncodeToString(sum[:])
}

// VerifySecret reports whether secret matches hash (from HashSecret),
// comparing in constant time. An empty or malformed hash returns false
// after the same work, so unknown client ids cost the same.
func VerifySecret(hash, secret string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}
