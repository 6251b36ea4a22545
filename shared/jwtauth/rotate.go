package jwtauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// Rotation steps, as Secrets Manager names them in the rotation event.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// RotationSecretsAPI is the part of *secretsmanager.Client the Rotator
// uses.
type RotationSecretsAPI interface {
	SecretsAPI
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// RotationKMSAPI is the part of *kms.Client the Rotator uses (RS256 and
// ES256 only).
type RotationKMSAPI interface {
	KMSAPI
	CreateKey(ctx context.Context, in *kms.CreateKeyInput, optFns ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
}

var (
	_ RotationSecretsAPI = (*secretsmanager.Client)(nil)
	_ RotationKMSAPI     = (*kms.Client)(nil)
)

// RotatorConfig configures a Rotator.
type RotatorConfig struct {
	// Issuer and Audience of the probe token testSecret signs; defaults
	// as in Config.
	Issuer, Audience string
	// KeyTags are put on every KMS key the rotator creates, so IAM
	// policies can grant kms:Sign by tag (aws:ResourceTag) to keys that
	// did not exist when the policy was written.
	KeyTags map[string]string
	Log     *slog.Logger
}

// Rotator rotates the signing-key secret with the four-step protocol of
// Secrets Manager rotation functions. Every step is idempotent, because
// Secrets Manager retries steps.
//
// HS256: createSecret writes a new random 64-alphanumeric key as the
// AWSPENDING version; finishSecret makes it AWSCURRENT and the old one
// becomes AWSPREVIOUS, which still verifies for one rotation period (the
// CDK checks that the period exceeds the refresh-token TTL).
//
// RS256/ES256: keys move through three phases, oldest first in "keys".
// createSecret creates a new KMS key and publishes it without signing with
// it; the key that was published by the previous rotation starts signing
// (on the very first rotation none was, so the current key keeps signing);
// keys that have not signed for two periods are dropped. So JWKS clients
// see every key one period before any token carries its kid, and tokens
// of a retired key verify for at least one more period.
type Rotator struct {
	sm  RotationSecretsAPI
	km  RotationKMSAPI
	cfg RotatorConfig
}

// NewRotator returns a rotator. km may be nil when the secret is HS256.
func NewRotator(sm RotationSecretsAPI, km RotationKMSAPI, cfg RotatorConfig) *Rotator {
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Rotator{sm: sm, km: km, cfg: cfg}
}

// RotateNow runs all four steps with a new token, for a rotation command
// or a local stack without the rotation service. It returns the new
// version id.
func (r *Rotator) RotateNow(ctx context.Context, secretID string) (string, error) {
	token := domain.NewID()
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		if err := r.Rotate(ctx, step, secretID, token); err != nil {
			return "", err
		}
	}
	return token, nil
}

// Rotate runs one step for the version clientRequestToken of secretID,
// as invoked by Secrets Manager ({"Step","SecretId","ClientRequestToken"}).
// A version that is already AWSCURRENT is done; any other version must be
// AWSPENDING (or, for createSecret invoked by hand, not exist yet).
func (r *Rotator) Rotate(ctx context.Context, step, secretID, token string) error {
	if secretID == "" || token == "" {
		return errors.New("rotate: secret id and client request token are required")
	}
	d, err := r.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &secretID})
	if err != nil {
		return fmt.Errorf("rotate %s: describe: %w", secretID, err)
	}
	stages, exists := d.VersionIdsToStages[token]
	switch {
	case exists && slices.Contains(stages, stageCurrent):
		r.cfg.Log.Info("rotation step skipped: version already current", "step", step, "secret", secretID, "version", token)
		return nil
	case exists && !slices.Contains(stages, stagePending):
		return fmt.Errorf("rotate %s: version %s is not AWSPENDING", secretID, token)
	case !exists && step != StepCreate:
		return fmt.Errorf("rotate %s: no version %s", secretID, token)
	}
	r.cfg.Log.Info("rotation step", "step", step, "secret", secretID, "version", token)
	switch step {
	case StepCreate:
		return r.create(ctx, secretID, token)
	case StepSet:
		// The keys live only in the secret (and KMS): no other system
		// needs to be told about them.
		return nil
	case StepTest:
		return r.test(ctx, secretID, token)
	case StepFinish:
		return r.finish(ctx, secretID, token, d.VersionIdsToStages)
	}
	return fmt.Errorf("rotate %s: unknown step %q", secretID, step)
}

// create writes the AWSPENDING version unless it exists already.
func (r *Rotator) create(ctx context.Context, secretID, token string) error {
	pending := stagePending
	_, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionId: &token, VersionStage: &pending})
	if err == nil {
		return nil // a retry of a step that already wrote the value
	}
	var nf *smtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		return fmt.Errorf("rotate %s: read pending: %w", secretID, err)
	}
	current := stageCurrent
	cur, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionStage: &current})
	if err != nil {
		return fmt.Errorf("rotate %s: read current: %w", secretID, err)
	}
	if cur.SecretString == nil {
		return fmt.Errorf("rotate %s: current version has no string value", secretID)
	}
	alg, err := secretAlg(*cur.SecretString)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", secretID, err)
	}
	var value []byte
	if alg == HS256 {
		k, err := randomAlphanumeric(64)
		if err != nil {
			return err
		}
		value, err = json.Marshal(hmacSecret{Alg: HS256, K: k})
		if err != nil {
			return err
		}
	} else {
		set, err := parseKMSKeySet(*cur.SecretString, alg)
		if err != nil {
			return fmt.Errorf("rotate %s: current version: %w", secretID, err)
		}
		newKey, err := r.createKMSKey(ctx, secretID, token, alg)
		if err != nil {
			return err
		}
		next := nextKeySet(set, newKey)
		if value, err = json.Marshal(next); err != nil {
			return err
		}
		r.cfg.Log.Info("rotation key set", "secret", secretID, "new_key", newKey,
			"signing_key", next.SigningKey, "keys", next.Keys)
	}
	_, err = r.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           &secretID,
		ClientRequestToken: &token,
		SecretString:       ptr(string(value)),
		VersionStages:      []string{stagePending},
	})
	if err != nil {
		return fmt.Errorf("rotate %s: put pending: %w", secretID, err)
	}
	return nil
}

// nextKeySet computes the key set after one rotation that adds newKey.
// Keys are ordered oldest first and each signs for one period after
// being published for one, so positions tell the phases apart: after the
// signing key come keys published but not yet signing, before it keys
// that have retired.
func nextKeySet(cur kmsKeySet, newKey string) kmsKeySet {
	keys := append(slices.Clone(cur.Keys), newKey)
	s := slices.Index(keys, cur.SigningKey)
	// The oldest key published after the current signing key signs next;
	// on the very first rotation there is none and the current key keeps
	// signing, so a key never signs before it has been published.
	if s+1 < len(cur.Keys) {
		s++
	}
	// keys[s-1] retires now and keys[s-2] retired one rotation ago; both
	// may have tokens still alive. keys[s-3] and older have not signed for
	// two periods: drop them.
	if drop := s - 2; drop > 0 {
		keys = keys[drop:]
		s -= drop
	}
	return kmsKeySet{Alg: cur.Alg, SigningKey: keys[s], Keys: keys}
}

// createKMSKey creates the next asymmetric signing key. If a retry of
// createSecret follows a failure after this call, one unused key is left
// behind: harmless (never published), and tagged with the rotation token
// so it can be found and deleted.
func (r *Rotator) createKMSKey(ctx context.Context, secretID, token, alg string) (string, error) {
	if r.km == nil {
		return "", fmt.Errorf("rotate %s: %s key set needs a KMS client", secretID, alg)
	}
	spec := kmstypes.KeySpecRsa2048
	if alg == ES256 {
		spec = kmstypes.KeySpecEccNistP256
	}
	tags := []kmstypes.Tag{
		{TagKey: ptr("mad:purpose"), TagValue: ptr("jwt-signing")},
		{TagKey: ptr("mad:jwt-secret"), TagValue: ptr(secretID)},
		{TagKey: ptr("mad:rotation-token"), TagValue: ptr(token)},
	}
	for k, v := range r.cfg.KeyTags {
		tags = append(tags, kmstypes.Tag{TagKey: ptr(k), TagValue: ptr(v)})
	}
	out, err := r.km.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec:     spec,
		KeyUsage:    kmstypes.KeyUsageTypeSignVerify,
		Description: ptr(fmt.Sprintf("MAD JWT %s signing key (secret %s)", alg, secretID)),
		Tags:        tags,
	})
	if err != nil {
		return "", fmt.Errorf("rotate %s: create kms key: %w", secretID, err)
	}
	if out.KeyMetadata == nil || out.KeyMetadata.KeyId == nil {
		return "", fmt.Errorf("rotate %s: create kms key: no key id", secretID)
	}
	return *out.KeyMetadata.KeyId, nil
}

// test signs a probe token with the pending version's signing key and
// verifies it with the pending version's keys (for a KMS key set also
// with the newest key, which will sign next period), so a broken version
// never becomes current.
func (r *Rotator) test(ctx context.Context, secretID, token string) error {
	pending := stagePending
	out, err := r.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionId: &token, VersionStage: &pending})
	if err != nil {
		return fmt.Errorf("rotate %s: read pending: %w", secretID, err)
	}
	if out.SecretString == nil {
		return fmt.Errorf("rotate %s: pending version has no string value", secretID)
	}
	alg, err := secretAlg(*out.SecretString)
	if err != nil {
		return fmt.Errorf("rotate %s: pending: %w", secretID, err)
	}
	cfg, err := Config{Alg: alg, SecretID: secretID, Issuer: r.cfg.Issuer, Audience: r.cfg.Audience,
		Log: r.cfg.Log}.withDefaults()
	if err != nil {
		return err
	}
	v := &version{id: token, value: *out.SecretString}
	if alg == HS256 {
		ks, err := buildHMACSet(v, nil)
		if err != nil {
			return fmt.Errorf("rotate %s: pending version: %w", secretID, err)
		}
		if err := probeKeySet(ctx, cfg, nil, ks); err != nil {
			return fmt.Errorf("rotate %s: pending version fails its probe: %w", secretID, err)
		}
		return nil
	}
	if r.km == nil {
		return fmt.Errorf("rotate %s: %s key set needs a KMS client", secretID, alg)
	}
	builder := newKeys(cfg, nil, r.km)
	ks, err := builder.buildKMSSet(ctx, v)
	if err != nil {
		return fmt.Errorf("rotate %s: pending version: %w", secretID, err)
	}
	set, _ := parseKMSKeySet(v.value, alg) // buildKMSSet parsed it already
	refs := []string{set.SigningKey}
	if newest := set.Keys[len(set.Keys)-1]; newest != set.SigningKey {
		refs = append(refs, newest)
	}
	for _, ref := range refs {
		probe := *ks
		probe.signKMS, probe.signKID = ref, builder.pubkeys[ref].kid
		if err := probeKeySet(ctx, cfg, r.km, &probe); err != nil {
			return fmt.Errorf("rotate %s: pending key %s fails its probe: %w", secretID, ref, err)
		}
	}
	return nil
}

// probeKeySet signs and verifies one access token with ks.
func probeKeySet(ctx context.Context, cfg Config, km KMSAPI, ks *keySet) error {
	k := newStaticKeys(cfg, km, ks)
	now := cfg.Clock()
	raw, err := k.Signer().Sign(ctx, app.Token{ID: domain.NewID(), Use: app.TokenAccess, SubjectID: domain.NewID(),
		SubjectType: domain.SubjectUser, OrgID: domain.NewID(), Roles: []domain.Role{domain.RoleViewer},
		IssuedAt: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		return err
	}
	_, err = k.Verifier().Verify(ctx, raw, app.TokenAccess)
	return err
}

// finish moves AWSCURRENT to the token's version; Secrets Manager labels
// the old current AWSPREVIOUS. It then detaches AWSPENDING, leaving the
// state RotateSecret expects for the next rotation.
func (r *Rotator) finish(ctx context.Context, secretID, token string, versions map[string][]string) error {
	var current string
	for id, stages := range versions {
		if slices.Contains(stages, stageCurrent) {
			current = id
		}
	}
	if current == token {
		return nil
	}
	stage := stageCurrent
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: &secretID, VersionStage: &stage, MoveToVersionId: &token}
	if current != "" {
		in.RemoveFromVersionId = &current
	}
	if _, err := r.sm.UpdateSecretVersionStage(ctx, in); err != nil {
		return fmt.Errorf("rotate %s: move AWSCURRENT to %s: %w", secretID, token, err)
	}
	pending := stagePending
	if _, err := r.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: &secretID, VersionStage: &pending, RemoveFromVersionId: &token}); err != nil {
		// Harmless: AWSPENDING on the current version is also a state
		// Secrets Manager accepts after a rotation.
		r.cfg.Log.Warn("rotation: could not detach AWSPENDING", "secret", secretID, "version", token, "err", err)
	}
	r.cfg.Log.Info("rotation finished", "secret", secretID, "current", token, "previous", current)
	return nil
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlphanumeric returns n characters from crypto/rand, uniform over
// 62 symbols (bytes >= 248 are rejected so the modulo has no bias).
func randomAlphanumeric(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random key: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, alphanumerics[b%62])
			}
		}
	}
	return string(out), nil
}

func ptr[T any](v T) *T { return &v }
