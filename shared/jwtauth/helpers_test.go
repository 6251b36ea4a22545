package jwtauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingSM counts GetSecretValue calls that reach Secrets Manager.
type countingSM struct {
	RotationSecretsAPI
	gets atomic.Int64
}

func (c *countingSM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.gets.Add(1)
	return c.RotationSecretsAPI.GetSecretValue(ctx, in, opts...)
}

// env is one test's AWS clients (moto).
type env struct {
	sm *secretsmanager.Client
	km *kms.Client
}

func newEnv(t testing.TB) env {
	t.Helper()
	cfg := testenv.AWSConfig(t)
	return env{sm: secretsmanager.NewFromConfig(cfg), km: kms.NewFromConfig(cfg)}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newHS256Secret creates a secret with a random name and a fresh key.
func (e env) newHS256Secret(t testing.TB) (id string, key []byte) {
	t.Helper()
	k, err := randomAlphanumeric(64)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := json.Marshal(hmacSecret{Alg: HS256, K: k})
	return e.newSecret(t, string(v)), []byte(k)
}

func (e env) newSecret(t testing.TB, value string) string {
	t.Helper()
	id := "mad/test/jwt-" + domain.NewID()
	if _, err := e.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: &id, SecretString: &value}); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return id
}

// newKMSKey creates an asymmetric signing key for alg.
func (e env) newKMSKey(t testing.TB, alg string) string {
	t.Helper()
	spec := kmstypes.KeySpecRsa2048
	if alg == ES256 {
		spec = kmstypes.KeySpecEccNistP256
	}
	out, err := e.km.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
		Description: aws.String("mad jwtauth test " + t.Name())})
	if err != nil {
		t.Fatalf("create kms key: %v", err)
	}
	return *out.KeyMetadata.KeyId
}

// newKMSSecret creates a key set secret with one new KMS key.
func (e env) newKMSSecret(t testing.TB, alg string) (id, keyID string) {
	t.Helper()
	keyID = e.newKMSKey(t, alg)
	v, _ := json.Marshal(kmsKeySet{Alg: alg, SigningKey: keyID, Keys: []string{keyID}})
	return e.newSecret(t, string(v)), keyID
}

// newSecretFor creates a secret of alg and returns it with the real
// signing key material (HMAC key or KMS key id).
func (e env) newSecretFor(t testing.TB, alg string) (id, signKey string) {
	if alg == HS256 {
		id, k := e.newHS256Secret(t)
		return id, string(k)
	}
	return e.newKMSSecret(t, alg)
}

func (e env) keys(t testing.TB, alg, secretID string, now func() time.Time) *Keys {
	t.Helper()
	k, err := New(Config{Alg: alg, SecretID: secretID, Clock: now, Log: quiet}, e.sm, e.km)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

// accessToken is a valid access token's content at now.
func accessToken(now time.Time) app.Token {
	return app.Token{ID: domain.NewID(), Use: app.TokenAccess, SubjectID: domain.NewID(), SubjectType: domain.SubjectUser,
		OrgID: domain.NewID(), Roles: []domain.Role{domain.RoleStandard}, Scopes: []domain.Permission{domain.PermJobView},
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
}

func refreshToken(now time.Time) app.Token {
	t := accessToken(now)
	t.Use, t.FamilyID, t.ExpiresAt = app.TokenRefresh, domain.NewID(), now.Add(7*24*time.Hour)
	return t
}

func sign(t testing.TB, k *Keys, tok app.Token) string {
	t.Helper()
	raw, err := k.Signer().Sign(context.Background(), tok)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw
}

// header decodes a token's header.
func header(t testing.TB, raw string) map[string]any {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("parse header: %v", err)
	}
	return tok.Header
}

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func requireUnauthorized(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	if code := domain.ErrorCode(err); code != domain.CodeUnauthorized {
		t.Fatalf("code %s (%v), want AUTH_UNAUTHORIZED", code, err)
	}
	if de, _ := domain.AsError(err); de.Message != clientMessage {
		t.Fatalf("client message %q, want the generic %q", de.Message, clientMessage)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("must: %v", err))
	}
	return v
}
