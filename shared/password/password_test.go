package password

import (
	"strings"
	"sync/atomic"
	"testing"
)

// counting wraps the hasher's argon2 so tests can assert how many
// derivations ran, instead of measuring time.
func counting(t *testing.T, h *Hasher) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	inner := h.derive
	h.derive = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		n.Add(1)
		return inner(pw, salt, time, memory, threads, keyLen)
	}
	return &n
}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h := New()
	hash, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the OWASP parameters", hash)
	}
	other, _ := h.Hash("correct horse battery staple")
	if other == hash {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	tests := []struct {
		name     string
		hash     string
		password string
		want     bool
	}{
		{"round trip", hash, "correct horse battery staple", true},
		{"wrong password", hash, "correct horse battery stapl", false},
		{"empty password", hash, "", false},
		{"case differs", hash, "Correct horse battery staple", false},
		{"unknown email (empty hash)", "", "correct horse battery staple", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := h.Verify(tc.hash, tc.password); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestVerifySpendsOneArgon2 checks timing parity structurally: every path
// through Verify (match, mismatch, unknown email, garbage hash) runs
// exactly one argon2 derivation with the current parameters or the stored
// ones, so an unknown email cannot be told from a wrong password by time.
func TestVerifySpendsOneArgon2(t *testing.T) {
	t.Parallel()
	h := New()
	hash, _ := h.Hash("s3cret-password!")
	var params []Params
	inner := h.derive
	var n atomic.Int64
	h.derive = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		n.Add(1)
		params = append(params, Params{Memory: memory, Time: time, Threads: threads, SaltLen: uint32(len(salt)), KeyLen: keyLen})
		return inner(pw, salt, time, memory, threads, keyLen)
	}
	for _, tc := range []struct{ name, hash, pw string }{
		{"match", hash, "s3cret-password!"},
		{"wrong password", hash, "nope"},
		{"unknown email", "", "s3cret-password!"},
		{"garbage hash", "$argon2id$garbage", "s3cret-password!"},
		{"absurd memory", "$argon2id$v=19$m=4194304,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x"},
	} {
		n.Store(0)
		params = params[:0]
		h.Verify(tc.hash, tc.pw)
		if n.Load() != 1 {
			t.Errorf("%s: %d argon2 derivations, want 1", tc.name, n.Load())
		}
		if len(params) == 1 && params[0] != DefaultParams {
			t.Errorf("%s: derived with %+v, want the current parameters %+v", tc.name, params[0], DefaultParams)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	h := New()
	n := counting(t, h)
	good, _ := h.Hash("pw-pw-pw-pw-pw")
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=..., salt, key
	salt, key := parts[4], parts[5]
	tests := map[string]string{
		"empty":                "",
		"dollar only":          "$",
		"argon2i not id":       "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"old version":          "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"missing version":      "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"params reordered":     "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"extra param":          "$argon2id$v=19$m=19456,t=2,p=1,k=3$" + salt + "$" + key,
		"leading zero":         "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key,
		"negative":             "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key,
		"zero time":            "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"zero threads":         "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"absurd memory 4 GiB":  "$argon2id$v=19$m=4194304,t=2,p=1$" + salt + "$" + key,
		"absurd time":          "$argon2id$v=19$m=19456,t=1000000,p=1$" + salt + "$" + key,
		"absurd threads":       "$argon2id$v=19$m=19456,t=2,p=255$" + salt + "$" + key,
		"threads overflow u8":  "$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key,
		"padded base64":        "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key,
		"bad base64":           "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$***",
		"empty salt":           "$argon2id$v=19$m=19456,t=2,p=1$$" + key,
		"short key":            "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$AAAA",
		"trailing field":       good + "$x",
		"no leading dollar":    strings.TrimPrefix(good, "$"),
		"sha256 secret hash":   HashSecret("pw-pw-pw-pw-pw"),
		"bcrypt":               "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"whitespace":           " " + good,
		"uppercase identifier": "$ARGON2ID$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
	}
	for name, hash := range tests {
		t.Run(name, func(t *testing.T) {
			before := n.Load()
			if h.Verify(hash, "pw-pw-pw-pw-pw") {
				t.Fatal("malformed hash verified")
			}
			if got := n.Load() - before; got != 1 {
				t.Fatalf("%d argon2 derivations, want 1 (dummy)", got)
			}
			if !h.NeedsRehash(hash) {
				t.Fatal("NeedsRehash = false for an unusable hash")
			}
		})
	}
}

func TestParameterUpgrade(t *testing.T) {
	t.Parallel()
	old, err := NewWithParams(Params{Memory: 12288, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	oldHash, _ := old.Hash("long enough password")
	if !strings.Contains(oldHash, "$m=12288,t=3,p=1$") {
		t.Fatalf("old hash %q", oldHash)
	}
	cur := New()
	tests := []struct {
		name       string
		hash       string
		password   string
		want       bool
		wantRehash bool
	}{
		{"old parameters still verify", oldHash, "long enough password", true, true},
		{"old parameters, wrong password", oldHash, "wrong", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cur.Verify(tc.hash, tc.password); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
			if got := cur.NeedsRehash(tc.hash); got != tc.wantRehash {
				t.Fatalf("NeedsRehash = %v, want %v", got, tc.wantRehash)
			}
		})
	}
	newHash, _ := cur.Hash("long enough password")
	if cur.NeedsRehash(newHash) {
		t.Fatal("fresh hash needs rehash")
	}
	// Raising parameters later: a stronger hasher verifies today's hashes.
	stronger, _ := NewWithParams(Params{Memory: 47104, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if !stronger.Verify(newHash, "long enough password") || !stronger.NeedsRehash(newHash) {
		t.Fatal("stronger hasher must verify and flag today's hashes")
	}
}

func TestNewWithParamsBounds(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]Params{
		"zero":        {},
		"memory 1GiB": {Memory: 1 << 20, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		"short salt":  {Memory: 19456, Time: 2, Threads: 1, SaltLen: 4, KeyLen: 32},
		"short key":   {Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := NewWithParams(p); err == nil {
			t.Errorf("%s: NewWithParams accepted %+v", name, p)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, SecretPrefix) || len(s) != len(SecretPrefix)+43 {
		t.Fatalf("secret %q: want %s + 43 base64url characters", s, SecretPrefix)
	}
	if strings.ContainsAny(s[len(SecretPrefix):], "+/=") {
		t.Fatalf("secret %q is not base64url without padding", s)
	}
	s2, _ := NewSecret()
	if s == s2 {
		t.Fatal("two secrets are equal")
	}
	h := HashSecret(s)
	if strings.Contains(h, s) {
		t.Fatal("hash contains the secret")
	}
	tests := []struct {
		name, hash, secret string
		want               bool
	}{
		{"match", h, s, true},
		{"other secret", h, s2, false},
		{"empty secret", h, "", false},
		{"truncated secret", h, s[:len(s)-1], false},
		{"unknown client (empty hash)", "", s, false},
		{"garbage hash", "sha256:zz", s, false},
		{"uppercase hex", strings.ToUpper(h), s, false},
		{"argon2 hash", "$argon2id$v=19$m=19456,t=2,p=1$AAAA$AAAA", s, false},
	}
	for _, tc := range tests {
		if got := VerifySecret(tc.hash, tc.secret); got != tc.want {
			t.Errorf("%s: VerifySecret = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h := New()
	hash, _ := h.Hash("correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if !h.Verify(hash, "correct horse battery staple") {
			b.Fatal("no match")
		}
	}
}

func BenchmarkVerifyUnknownEmail(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for b.Loop() {
		if h.Verify("", "correct horse battery staple") {
			b.Fatal("match")
		}
	}
}

func BenchmarkVerifySecret(b *testing.B) {
	s, _ := NewSecret()
	hash := HashSecret(s)
	b.ReportAllocs()
	for b.Loop() {
		if !VerifySecret(hash, s) {
			b.Fatal("no match")
		}
	}
}
