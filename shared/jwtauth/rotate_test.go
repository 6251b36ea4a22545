package jwtauth

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

var steps = []string{StepCreate, StepSet, StepTest, StepFinish}

// rotateTwice runs the four steps as Secrets Manager does, each step
// twice (Secrets Manager retries steps, so each must be idempotent).
func rotateTwice(t *testing.T, r *Rotator, secretID string) string {
	t.Helper()
	token := domain.NewID()
	for _, step := range steps {
		for range 2 {
			if err := r.Rotate(context.Background(), step, secretID, token); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}
	}
	return token
}

func stagesOf(t *testing.T, e env, secretID string) map[string][]string {
	t.Helper()
	d, err := e.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: &secretID})
	if err != nil {
		t.Fatal(err)
	}
	return d.VersionIdsToStages
}

func verifyOK(t *testing.T, k *Keys, raw, use string) {
	t.Helper()
	if _, err := k.Verifier().Verify(context.Background(), raw, use); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func verifyRejected(t *testing.T, k *Keys, raw, use string) {
	t.Helper()
	_, err := k.Verifier().Verify(context.Background(), raw, use)
	requireUnauthorized(t, err)
}

// TestRotationHS256 rotates mid-session: nobody is logged out by one
// rotation, a container with a pre-rotation cache accepts tokens of a
// container that already sees the new key, and after a second rotation
// the first key is gone.
func TestRotationHS256(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id, _ := e.newHS256Secret(t)
	clk := newClock()
	sm := &countingSM{RotationSecretsAPI: e.sm}
	oldContainer, err := New(Config{Alg: HS256, SecretID: id, Clock: clk.Now, Log: quiet}, sm, nil)
	if err != nil {
		t.Fatal(err)
	}
	accessA := sign(t, oldContainer, accessToken(clk.Now()))
	refreshA := sign(t, oldContainer, refreshToken(clk.Now()))
	v1 := header(t, accessA)["kid"].(string)

	r := NewRotator(e.sm, nil, RotatorConfig{Log: quiet})
	token := domain.NewID()
	for _, step := range steps[:3] {
		if err := r.Rotate(ctx, step, id, token); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	// Before finishSecret the pending key is not used by anyone.
	if fresh := e.keys(t, HS256, id, clk.Now); fresh.set.Load().signKID != v1 {
		t.Fatal("a pending version signs before finishSecret")
	}
	for range 2 {
		if err := r.Rotate(ctx, StepFinish, id, token); err != nil {
			t.Fatal(err)
		}
	}
	st := stagesOf(t, e, id)
	if !slices.Contains(st[token], stageCurrent) || !slices.Contains(st[v1], stagePrevious) {
		t.Fatalf("stages after rotation: %v", st)
	}
	for v, s := range st {
		if slices.Contains(s, stagePending) {
			t.Fatalf("AWSPENDING left on %s: %v", v, st)
		}
	}

	newContainer := e.keys(t, HS256, id, clk.Now)
	accessB := sign(t, newContainer, accessToken(clk.Now()))
	if kid := header(t, accessB)["kid"]; kid != token {
		t.Fatalf("new token kid %v, want the new version %s", kid, token)
	}
	// Token A still verifies (AWSPREVIOUS), in both containers.
	verifyOK(t, newContainer, accessA, app.TokenAccess)
	verifyOK(t, newContainer, refreshA, app.TokenRefresh)
	verifyOK(t, oldContainer, accessA, app.TokenAccess)

	// The old container's cache (within its TTL) knows only v1; token B
	// makes it reload once, and then it signs with the new key too.
	before := sm.gets.Load()
	verifyOK(t, oldContainer, accessB, app.TokenAccess)
	if n := sm.gets.Load() - before; n != 2 {
		t.Fatalf("unknown-kid refresh made %d GetSecretValue calls, want 2 (AWSCURRENT, AWSPREVIOUS)", n)
	}
	if kid := header(t, sign(t, oldContainer, accessToken(clk.Now())))["kid"]; kid != token {
		t.Fatalf("old container signs with %v after its reload", kid)
	}

	// Second rotation: v1 leaves the verifying set once caches expire.
	rotateTwice(t, r, id)
	clk.Advance(DefaultKeyCacheTTL + time.Second) // tokens (15 min) are still unexpired
	verifyRejected(t, oldContainer, accessA, app.TokenAccess)
	verifyRejected(t, oldContainer, refreshA, app.TokenRefresh)
	verifyOK(t, oldContainer, accessB, app.TokenAccess)
	verifyRejected(t, e.keys(t, HS256, id, clk.Now), accessA, app.TokenAccess)
}

// TestUnknownKIDRateLimit: a flood of tokens with made-up kids causes at
// most one key reload per UnknownKIDRefreshInterval; valid tokens cause
// none; the TTL causes one.
func TestUnknownKIDRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, key := e.newHS256Secret(t)
	clk := newClock()
	sm := &countingSM{RotationSecretsAPI: e.sm}
	k, _ := New(Config{Alg: HS256, SecretID: id, Clock: clk.Now, Log: quiet}, sm, nil)
	valid := sign(t, k, accessToken(clk.Now()))
	f := &forge{t: t, alg: HS256, hmacKey: key, now: clk.Now()}
	loads := func() int64 { return sm.gets.Load() / 2 } // each load reads AWSCURRENT and AWSPREVIOUS
	if loads() != 1 {
		t.Fatalf("%d loads after the first sign", loads())
	}
	for range 100 {
		verifyOK(t, k, valid, app.TokenAccess)
		verifyRejected(t, k, f.real(map[string]any{"alg": HS256, "typ": TypAccess, "kid": domain.NewID()}, f.claims()), app.TokenAccess)
	}
	if loads() != 2 {
		t.Fatalf("100 garbage kids made %d loads, want 1 more than the first", loads()-1)
	}
	clk.Advance(UnknownKIDRefreshInterval + time.Second)
	for range 10 {
		verifyRejected(t, k, f.real(map[string]any{"alg": HS256, "typ": TypAccess, "kid": domain.NewID()}, f.claims()), app.TokenAccess)
	}
	if loads() != 3 {
		t.Fatalf("%d loads after the interval, want 3", loads())
	}
	clk.Advance(DefaultKeyCacheTTL)
	verifyOK(t, k, sign(t, k, accessToken(clk.Now())), app.TokenAccess)
	if loads() != 4 {
		t.Fatalf("%d loads after the TTL, want 4", loads())
	}
}

// flakySM fails GetSecretValue while down is set.
type flakySM struct {
	SecretsAPI
	down atomic.Bool
}

func (f *flakySM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	return f.SecretsAPI.GetSecretValue(ctx, in, opts...)
}

// TestStaleKeysBounded: a Secrets Manager outage does not log everyone
// out, but a key set older than TTL + maxStale is no longer trusted.
func TestStaleKeysBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, _ := e.newHS256Secret(t)
	clk := newClock()
	sm := &flakySM{SecretsAPI: e.sm}
	k, _ := New(Config{Alg: HS256, SecretID: id, Clock: clk.Now, Log: quiet}, sm, nil)
	if err := k.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	sm.down.Store(true)
	clk.Advance(DefaultKeyCacheTTL + time.Minute)
	raw := sign(t, k, accessToken(clk.Now()))
	verifyOK(t, k, raw, app.TokenAccess)
	clk.Advance(maxStale)
	_, err := k.Verifier().Verify(context.Background(), raw, app.TokenAccess)
	if err == nil || domain.ErrorCode(err) != domain.CodeInternal {
		t.Fatalf("verify with keys stale beyond the bound: %v, want an internal error", err)
	}
	if _, err := k.Signer().Sign(context.Background(), accessToken(clk.Now())); err == nil {
		t.Fatal("signed with keys stale beyond the bound")
	}
	sm.down.Store(false)
	verifyOK(t, k, sign(t, k, accessToken(clk.Now())), app.TokenAccess)
}

func keySetOf(t *testing.T, e env, secretID, stage string) kmsKeySet {
	t.Helper()
	out, err := e.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionStage: &stage})
	if err != nil {
		t.Fatal(err)
	}
	var s kmsKeySet
	if err := json.Unmarshal([]byte(*out.SecretString), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func jwksKIDs(t *testing.T, k *Keys) []string {
	t.Helper()
	js, err := k.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(js, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, j := range set.Keys {
		kids = append(kids, j.Kid)
	}
	return kids
}

// TestRotationKMS rotates the KMS key set mid-session: a new key is
// published one rotation before it signs, old tokens keep verifying, and
// a key leaves the set only after it has not signed for two periods.
func TestRotationKMS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, alg := range []string{RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id, k0 := e.newKMSSecret(t, alg)
			clk := newClock()
			sm := &countingSM{RotationSecretsAPI: e.sm}
			keys, _ := New(Config{Alg: alg, SecretID: id, Clock: clk.Now, Log: quiet}, sm, e.km)
			tokA := sign(t, keys, accessToken(clk.Now()))
			r := NewRotator(e.sm, e.km, RotatorConfig{Log: quiet, KeyTags: map[string]string{"mad:stage": "test"}})

			// Rotation 1: k1 is published, k0 keeps signing.
			rotateTwice(t, r, id)
			set := keySetOf(t, e, id, stageCurrent)
			if len(set.Keys) != 2 || set.Keys[0] != k0 || set.SigningKey != k0 {
				t.Fatalf("after rotation 1: %+v (a createSecret retry must not add a key)", set)
			}
			k1 := set.Keys[1]
			if err := keys.Load(ctx); err != nil {
				t.Fatal(err)
			}
			if kids := jwksKIDs(t, keys); !slices.Equal(kids, []string{k0, k1}) {
				t.Fatalf("JWKS after rotation 1: %v, want [%s %s]", kids, k0, k1)
			}
			tok1 := sign(t, keys, accessToken(clk.Now()))
			if kid := header(t, tok1)["kid"]; kid != k0 {
				t.Fatalf("after rotation 1 tokens are signed by %v, want still %s", kid, k0)
			}
			verifyOK(t, keys, tokA, app.TokenAccess)
			// A container that cached the rotation-1 set ...
			cached := e.keys(t, alg, id, clk.Now)

			// Rotation 2: k1 (published a period ago) signs.
			rotateTwice(t, r, id)
			set = keySetOf(t, e, id, stageCurrent)
			if set.SigningKey != k1 || len(set.Keys) != 3 {
				t.Fatalf("after rotation 2: %+v", set)
			}
			k2 := set.Keys[2]
			if err := keys.Load(ctx); err != nil {
				t.Fatal(err)
			}
			tok2 := sign(t, keys, accessToken(clk.Now()))
			if kid := header(t, tok2)["kid"]; kid != k1 {
				t.Fatalf("after rotation 2 tokens are signed by %v, want %s", kid, k1)
			}
			verifyOK(t, keys, tokA, app.TokenAccess)
			verifyOK(t, keys, tok1, app.TokenAccess)
			// ... verifies tokens of the new signing key without reloading,
			// because that key was published one rotation earlier.
			before := sm.gets.Load()
			verifyOK(t, cached, tok2, app.TokenAccess)
			if sm.gets.Load() != before {
				t.Fatal("a pre-published key needed a reload")
			}
			if kids := jwksKIDs(t, keys); !slices.Equal(kids, []string{k0, k1, k2}) {
				t.Fatalf("JWKS after rotation 2: %v", kids)
			}

			// Rotations 3 and 4: k0 stopped signing at rotation 2 and is
			// dropped at rotation 4, when it has not signed for two periods.
			rotateTwice(t, r, id)
			if err := keys.Load(ctx); err != nil {
				t.Fatal(err)
			}
			verifyOK(t, keys, tokA, app.TokenAccess)
			rotateTwice(t, r, id)
			set = keySetOf(t, e, id, stageCurrent)
			if slices.Contains(set.Keys, k0) || set.Keys[0] != k1 || set.SigningKey != set.Keys[2] || len(set.Keys) != 4 {
				t.Fatalf("after rotation 4: %+v", set)
			}
			if err := keys.Load(ctx); err != nil {
				t.Fatal(err)
			}
			verifyRejected(t, keys, tokA, app.TokenAccess)
			verifyOK(t, keys, tok2, app.TokenAccess)
		})
	}
}

func TestRotateRejectsBadInvocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	id, _ := e.newHS256Secret(t)
	r := NewRotator(e.sm, nil, RotatorConfig{Log: quiet})
	if err := r.Rotate(ctx, StepFinish, id, domain.NewID()); err == nil {
		t.Error("finishSecret of an unknown version accepted")
	}
	if err := r.Rotate(ctx, "dropSecret", id, domain.NewID()); err == nil {
		t.Error("unknown step accepted")
	}
	cur := stageCurrent
	out, _ := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id, VersionStage: &cur})
	// The current version is done: every step is a no-op.
	for _, step := range steps {
		if err := r.Rotate(ctx, step, id, *out.VersionId); err != nil {
			t.Errorf("%s on the current version: %v", step, err)
		}
	}
	v2, err := r.RotateNow(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The old version is AWSPREVIOUS now, not AWSPENDING: refused.
	if err := r.Rotate(ctx, StepTest, id, *out.VersionId); err == nil {
		t.Error("testSecret of a non-pending version accepted")
	}
	// A broken pending version fails testSecret and never becomes current.
	bad := domain.NewID()
	if _, err := e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, ClientRequestToken: &bad,
		SecretString: ptr(`{"alg":"HS256","k":"short"}`), VersionStages: []string{stagePending}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Rotate(ctx, StepTest, id, bad); err == nil {
		t.Error("testSecret passed a broken key")
	}
	if st := stagesOf(t, e, id); !slices.Contains(st[v2], stageCurrent) {
		t.Errorf("stages %v", st)
	}
}

// TestConcurrentVerifyDuringReload verifies from many goroutines while
// the key set reloads and rotates (run under -race): the lock-free read
// path never sees a half-built set.
func TestConcurrentVerifyDuringReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, alg := range []string{HS256, RS256} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id, _ := e.newSecretFor(t, alg)
			k := e.keys(t, alg, id, nil)
			raw := sign(t, k, accessToken(time.Now()))
			r := NewRotator(e.sm, e.km, RotatorConfig{Log: quiet})
			done := make(chan struct{})
			errs := make(chan error, 8)
			for range 8 {
				go func() {
					for {
						select {
						case <-done:
							errs <- nil
							return
						default:
						}
						if _, err := k.Verifier().Verify(ctx, raw, app.TokenAccess); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			for i := range 10 {
				if i == 5 {
					if _, err := r.RotateNow(ctx, id); err != nil {
						t.Error(err)
					}
				}
				if err := k.Load(ctx); err != nil {
					t.Error(err)
				}
				if _, err := k.JWKS(ctx); err != nil {
					t.Error(err)
				}
			}
			close(done)
			for range 8 {
				if err := <-errs; err != nil {
					t.Fatalf("verify during reload: %v", err)
				}
			}
		})
	}
}
