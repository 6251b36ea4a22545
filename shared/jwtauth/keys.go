package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
)

// SecretsAPI is the part of *secretsmanager.Client that Keys uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// KMSAPI is the part of *kms.Client that Keys uses (RS256/ES256 only).
type KMSAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, optFns ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

var (
	_ SecretsAPI = (*secretsmanager.Client)(nil)
	_ KMSAPI     = (*kms.Client)(nil)
)

// Stages of Secrets Manager versions.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stagePending  = "AWSPENDING"
)

// Keys holds the signing and verification keys of one container, loaded
// from Secrets Manager (and KMS) on first use and reloaded after
// Config.KeyCacheTTL, or early when a token names a kid the set does not
// hold (at most once per UnknownKIDRefreshInterval). It is safe for
// concurrent use; the verify path reads the current set without locks.
type Keys struct {
	cfg    Config
	sm     SecretsAPI
	km     KMSAPI
	method jwt.SigningMethod
	parser *jwt.Parser
	// keyFunc is k.lookup bound once: a method value made per call would
	// allocate on every Verify.
	keyFunc jwt.Keyfunc

	set atomic.Pointer[keySet]

	mu sync.Mutex // serializes reloads; guards the fields below
	// lastKIDRefresh is when an unknown kid last caused a reload.
	lastKIDRefresh time.Time
	// pubkeys caches KMS public keys by the reference in the secret.
	pubkeys map[string]publicKey
	// static marks a set that never reloads (rotation tests of a pending
	// version).
	static bool
}

// New returns the keys of cfg, read through sm (and km for RS256/ES256;
// km may be nil for HS256). Nothing is fetched until first use; call
// Load at cold start to fail early.
func New(cfg Config, sm SecretsAPI, km KMSAPI) (*Keys, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if sm == nil {
		return nil, errors.New("jwtauth: no Secrets Manager client")
	}
	if cfg.Alg != HS256 && km == nil {
		return nil, fmt.Errorf("jwtauth: %s needs a KMS client", cfg.Alg)
	}
	return newKeys(cfg, sm, km), nil
}

func newKeys(cfg Config, sm SecretsAPI, km KMSAPI) *Keys {
	k := &Keys{cfg: cfg, sm: sm, km: km, method: jwt.GetSigningMethod(cfg.Alg), pubkeys: map[string]publicKey{}}
	k.parser = jwt.NewParser(
		// Exactly one algorithm: the configured one. "none", and HS256
		// when RS256 is configured, fail here before any key is chosen.
		jwt.WithValidMethods([]string{cfg.Alg}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Clock),
		// Reject non-canonical base64 (padding, stray bits), so one token
		// has exactly one spelling.
		jwt.WithStrictDecoding(),
	)
	k.keyFunc = k.lookup
	return k
}

// Signer returns the app.TokenSigner of these keys.
func (k *Keys) Signer() *Signer { return &Signer{k: k} }

// Verifier returns the app.TokenVerifier of these keys.
func (k *Keys) Verifier() *Verifier { return &Verifier{k: k} }

// Alg returns the configured algorithm.
func (k *Keys) Alg() string { return k.cfg.Alg }

// Load (re)reads the key set now. Functions call it at cold start so a
// missing or malformed secret fails the init phase with a clear log line;
// readiness checks call it to probe Secrets Manager.
func (k *Keys) Load(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, err := k.reloadLocked(ctx)
	return err
}

// JWKS returns the RFC 7517 key set of the published public keys:
// {"keys":[...]} with kty, kid, use "sig", alg and the key parameters. In
// HS256 mode the list is empty (a shared secret is never published).
func (k *Keys) JWKS(ctx context.Context) ([]byte, error) {
	ks, err := k.current(ctx)
	if err != nil {
		return nil, err
	}
	return ks.jwks, nil
}

// current returns a key set no older than the TTL, reloading if needed.
func (k *Keys) current(ctx context.Context) (*keySet, error) {
	ks := k.set.Load()
	if ks != nil && k.cfg.Clock().Before(ks.expires) {
		return ks, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// Another caller may have reloaded while this one waited.
	if ks2 := k.set.Load(); ks2 != nil && k.cfg.Clock().Before(ks2.expires) {
		return ks2, nil
	}
	return k.reloadLocked(ctx)
}

// refreshForKID reloads the set once per UnknownKIDRefreshInterval when a
// token names a kid the set lacks, and reports whether the kid is known
// afterwards.
func (k *Keys) refreshForKID(ctx context.Context, kid string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ks := k.set.Load(); ks != nil {
		if _, ok := ks.verify[kid]; ok {
			return true // someone else's reload brought it in
		}
	}
	now := k.cfg.Clock()
	if k.static || (!k.lastKIDRefresh.IsZero() && now.Sub(k.lastKIDRefresh) < UnknownKIDRefreshInterval) {
		return false
	}
	k.lastKIDRefresh = now
	ks, err := k.reloadLocked(ctx)
	if err != nil {
		return false
	}
	_, ok := ks.verify[kid]
	return ok
}

// reloadLocked loads a new set and publishes it. When loading fails it
// keeps serving the previous set for up to maxStale past its TTL,
// retrying every staleRetry, and then fails closed. k.mu must be held.
func (k *Keys) reloadLocked(ctx context.Context) (*keySet, error) {
	old := k.set.Load()
	if k.static && old != nil {
		return old, nil
	}
	now := k.cfg.Clock()
	ks, err := k.load(ctx)
	if err == nil {
		ks.loaded, ks.expires = now, now.Add(k.cfg.KeyCacheTTL)
		k.set.Store(ks)
		// Key changes are worth an info line (an audit trail of rotations
		// as each container saw them); routine TTL reloads are not.
		level := slog.LevelInfo
		if old != nil && old.version == ks.version {
			level = slog.LevelDebug
		}
		k.cfg.Log.Log(ctx, level, "jwt keys loaded", "alg", ks.alg, "secret_version", ks.version,
			"signing_kid", ks.signKID, "kids", ks.kids())
		return ks, nil
	}
	if old != nil && now.Before(old.loaded.Add(k.cfg.KeyCacheTTL+maxStale)) {
		k.cfg.Log.Warn("jwt keys reload failed; serving the previous set", "err", err,
			"loaded", old.loaded, "secret_version", old.version)
		stale := *old
		stale.expires = now.Add(staleRetry)
		k.set.Store(&stale)
		return &stale, nil
	}
	k.cfg.Log.Error("jwt keys unavailable", "err", err)
	return nil, fmt.Errorf("jwt signing keys: %w", err)
}

// load reads the secret (and KMS public keys) into a new set.
func (k *Keys) load(ctx context.Context) (*keySet, error) {
	cur, err := k.getSecret(ctx, stageCurrent)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, fmt.Errorf("secret %s has no AWSCURRENT value", k.cfg.SecretID)
	}
	if k.cfg.Alg == HS256 {
		prev, err := k.getSecret(ctx, stagePrevious)
		if err != nil {
			return nil, err
		}
		return buildHMACSet(cur, prev)
	}
	return k.buildKMSSet(ctx, cur)
}

// version is one secret version's id and value.
type version struct {
	id    string
	value string
}

// getSecret returns the version at stage, or nil when no version has it.
func (k *Keys) getSecret(ctx context.Context, stage string) (*version, error) {
	out, err := k.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &k.cfg.SecretID, VersionStage: &stage})
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) && stage != stageCurrent {
			return nil, nil
		}
		return nil, fmt.Errorf("read secret %s %s: %w", k.cfg.SecretID, stage, err)
	}
	if out.SecretString == nil || out.VersionId == nil {
		return nil, fmt.Errorf("secret %s %s has no string value", k.cfg.SecretID, stage)
	}
	return &version{id: *out.VersionId, value: *out.SecretString}, nil
}

// buildHMACSet makes the HS256 set: cur signs, cur and prev verify, each
// under its version id.
func buildHMACSet(cur, prev *version) (*keySet, error) {
	key, err := parseHMACSecret(cur.value)
	if err != nil {
		return nil, fmt.Errorf("AWSCURRENT: %w", err)
	}
	ks := &keySet{alg: HS256, verify: map[string]any{cur.id: key}, signKID: cur.id, signHMAC: key, version: cur.id}
	if prev != nil && prev.id != cur.id {
		pk, err := parseHMACSecret(prev.value)
		if err != nil {
			return nil, fmt.Errorf("AWSPREVIOUS: %w", err)
		}
		ks.verify[prev.id] = pk
	}
	ks.jwks, _ = marshalJWKS(nil)
	return ks, nil
}

// buildKMSSet makes the RS256/ES256 set of a key-set secret version.
func (k *Keys) buildKMSSet(ctx context.Context, v *version) (*keySet, error) {
	spec, err := parseKMSKeySet(v.value, k.cfg.Alg)
	if err != nil {
		return nil, fmt.Errorf("secret version %s: %w", v.id, err)
	}
	ks := &keySet{alg: k.cfg.Alg, verify: make(map[string]any, len(spec.Keys)), signKMS: spec.SigningKey, version: v.id}
	jwks := make([]jwk, 0, len(spec.Keys))
	for _, ref := range spec.Keys {
		pk, ok := k.pubkeys[ref]
		if !ok {
			pk, err = fetchPublicKey(ctx, k.km, ref, k.cfg.Alg)
			if err != nil {
				return nil, err
			}
			k.pubkeys[ref] = pk
		}
		if _, dup := ks.verify[pk.kid]; dup {
			return nil, fmt.Errorf("secret version %s lists key %s twice", v.id, pk.kid)
		}
		ks.verify[pk.kid] = pk.key
		jwks = append(jwks, pk.jwk)
		if ref == spec.SigningKey {
			ks.signKID = pk.kid
		}
	}
	if ks.jwks, err = marshalJWKS(jwks); err != nil {
		return nil, err
	}
	return ks, nil
}

// newStaticKeys returns keys over one fixed set (a pending version under
// test): no reloads.
func newStaticKeys(cfg Config, km KMSAPI, ks *keySet) *Keys {
	k := newKeys(cfg, nil, km)
	k.static = true
	ks.loaded, ks.expires = cfg.Clock(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	k.set.Store(ks)
	return k
}

var (
	_ app.TokenSigner   = (*Signer)(nil)
	_ app.TokenVerifier = (*Verifier)(nil)
)
