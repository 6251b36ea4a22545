package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/jwtauth"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

var steps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// rotationEvent loads a sample rotation event into the aws-lambda-go
// type, points it at secret and version, and returns the JSON Secrets
// Manager would send.
func rotationPayload(t testing.TB, step, secret, version string) []byte {
	t.Helper()
	ev := apitest.LoadEvent[events.SecretsManagerSecretRotationEvent](t, "rotate/"+step+".json")
	if ev.Step != step {
		t.Fatalf("events/rotate/%s.json has Step %q", step, ev.Step)
	}
	ev.SecretID, ev.ClientRequestToken = secret, version
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type fixture struct {
	sm      *secretsmanager.Client
	arn     string
	h       handler
	invoke  func(payload []byte) error
	current func() *jwtauth.Keys // a container's keys, loaded now
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sm := testenv.SecretsClient(t)
	name := testenv.NewJWTSecret(t)
	d, err := sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sm: sm, arn: aws.ToString(d.ARN)}
	// Wired as main.go wires it: the function rotates only its configured
	// secret (by ARN, as Secrets Manager names it in the event).
	f.h = handler{rotator: jwtauth.NewRotator(sm, nil, jwtauth.RotatorConfig{Log: apptest.Quiet}), secretID: f.arn, log: apptest.Quiet}
	// The Lambda runtime decodes the payload into the handler's own type.
	rt := lambda.NewHandler(f.h.handle)
	f.invoke = func(payload []byte) error {
		_, err := rt.Invoke(context.Background(), payload)
		return err
	}
	f.current = func() *jwtauth.Keys {
		k, err := jwtauth.New(jwtauth.Config{Alg: jwtauth.HS256, SecretID: f.arn, Log: apptest.Quiet}, sm, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		return k
	}
	return f
}

// startRotation does Secrets Manager's first half: the version id
// becomes AWSPENDING, without a value until createSecret.
func (f *fixture) startRotation(t *testing.T) string {
	t.Helper()
	version := domain.NewID()
	if _, err := f.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(f.arn),
		ClientRequestToken: aws.String(version),
		RotationLambdaARN:  aws.String("arn:aws:lambda:us-east-1:123456789012:function:mad-dev-rotate"),
		RotationRules:      &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}); err != nil {
		t.Fatal(err)
	}
	return version
}

func (f *fixture) stages(t *testing.T) map[string][]string {
	t.Helper()
	d, err := f.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(f.arn)})
	if err != nil {
		t.Fatal(err)
	}
	return d.VersionIdsToStages
}

func sign(t *testing.T, k *jwtauth.Keys) string {
	t.Helper()
	s, err := k.Signer().Sign(context.Background(), app.Token{Use: app.TokenAccess, SubjectID: domain.NewID(),
		SubjectType: domain.SubjectUser, OrgID: domain.NewID(), Roles: []domain.Role{domain.RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kid(t *testing.T, token string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(h, &v); err != nil {
		t.Fatal(err)
	}
	return v.Kid
}

// TestRotateFourSteps runs a rotation as Secrets Manager does, every step
// twice (Secrets Manager retries steps): the new key signs, and tokens of
// the old key keep verifying.
func TestRotateFourSteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	before := f.current()
	oldToken := sign(t, before)
	oldKID := kid(t, oldToken)

	version := f.startRotation(t)
	for _, step := range steps {
		for range 2 {
			if err := f.invoke(rotationPayload(t, step, f.arn, version)); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
		}
		if step == "testSecret" && kid(t, sign(t, f.current())) != oldKID {
			t.Fatal("the pending key signs before finishSecret")
		}
	}
	st := f.stages(t)
	if !slices.Contains(st[version], "AWSCURRENT") || !slices.Contains(st[oldKID], "AWSPREVIOUS") {
		t.Fatalf("stages after rotation: %v (new %s, old %s)", st, version, oldKID)
	}
	after := f.current()
	newToken := sign(t, after)
	if kid(t, newToken) != version {
		t.Fatalf("new tokens have kid %s, want the new version %s", kid(t, newToken), version)
	}
	for _, tok := range []string{oldToken, newToken} {
		if _, err := after.Verifier().Verify(context.Background(), tok, app.TokenAccess); err != nil {
			t.Fatalf("token of kid %s no longer verifies: %v", kid(t, tok), err)
		}
	}
}

// TestRotateRefusesOtherSecrets: the function only rotates the secret it
// was configured with; any other id (a name instead of the ARN, another
// secret) is refused before anything is read or written.
func TestRotateRefusesOtherSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := newFixture(t)
	version := other.startRotation(t)
	before := other.stages(t)
	for _, id := range []string{other.arn, "mad/dev/db-app", "", strings.ToUpper(f.arn), f.arn + "x"} {
		for _, step := range steps {
			err := f.invoke(rotationPayload(t, step, id, version))
			if err == nil || !strings.Contains(err.Error(), "refusing to rotate") {
				t.Fatalf("%s of %q: %v, want a refusal", step, id, err)
			}
		}
	}
	if after := other.stages(t); len(after) != len(before) || !slices.Equal(after[version], before[version]) {
		t.Fatalf("the other secret changed: %v -> %v", before, after)
	}

	// An unknown step is refused too.
	var ev map[string]string
	if err := json.Unmarshal(rotationPayload(t, "setSecret", f.arn, version), &ev); err != nil {
		t.Fatal(err)
	}
	ev["Step"] = "deleteSecret"
	payload, _ := json.Marshal(ev)
	if err := f.invoke(payload); err == nil || !strings.Contains(err.Error(), "unknown rotation step") {
		t.Fatalf("unknown step: %v", err)
	}
}

// TestRotateUnknownVersion: a step for a version that was never started
// fails (Secrets Manager would retry, then mark the rotation failed)
// rather than inventing a version.
func TestRotateUnknownVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, step := range steps[1:] {
		if err := f.invoke(rotationPayload(t, step, f.arn, domain.NewID())); err == nil {
			t.Fatalf("%s of an unknown version succeeded", step)
		}
	}
}
