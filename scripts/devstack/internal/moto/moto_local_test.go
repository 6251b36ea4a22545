package moto_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
)

// TestRotationLikeAWS checks moto_local.py's Secrets Manager behaviour on
// the harness's moto (scripts/lib.sh runs the same script): RotateSecret
// with a function leaves an AWSPENDING version without a value, and moving
// AWSCURRENT makes GetSecretValue answer the new value.
func TestRotationLikeAWS(t *testing.T) {
	ep := os.Getenv("MAD_TEST_AWS_ENDPOINT")
	if ep == "" {
		t.Fatal("MAD_TEST_AWS_ENDPOINT is not set: run the tests with `make test` (or scripts/testenv.sh go test ./scripts/...), which starts moto")
	}
	ctx := context.Background()
	c, err := awsx.New(ctx, ep, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	sm := c.Secrets
	name := "rotation-" + state.Random(8)
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	token := "00000000-0000-4000-8000-" + state.Random(12)
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(name), ClientRequestToken: aws.String(token),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:mad-test-rotate"),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}); err != nil {
		t.Fatal(err)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.VersionIdsToStages[token]; len(got) != 1 || got[0] != "AWSPENDING" {
		t.Fatalf("after RotateSecret the token's stages are %v, want [AWSPENDING] (is moto_local.py running?)", d.VersionIdsToStages)
	}
	if cur := d.VersionIdsToStages[aws.ToString(created.VersionId)]; len(cur) != 1 || cur[0] != "AWSCURRENT" {
		t.Fatalf("the old version must stay AWSCURRENT: %v", d.VersionIdsToStages)
	}
	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(token), VersionStage: aws.String("AWSPENDING")})
	var nf *smtypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("the pending version must have no value yet: %v", err)
	}
	// createSecret, then finishSecret.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), ClientRequestToken: aws.String(token),
		SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(name),
		VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token), RemoveFromVersionId: created.VersionId}); err != nil {
		t.Fatal(err)
	}
	for stage, want := range map[string]string{"": "v2", "AWSCURRENT": "v2", "AWSPREVIOUS": "v1"} {
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}
		if stage != "" {
			in.VersionStage = aws.String(stage)
		}
		out, err := sm.GetSecretValue(ctx, in)
		if err != nil || aws.ToString(out.SecretString) != want {
			t.Errorf("GetSecretValue(%q) = %v %v, want %s", stage, out, err, want)
		}
	}
}
