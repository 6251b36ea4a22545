// Command rotate is a stand-in of functions/rotate: the Secrets Manager
// rotation steps for the HS256 signing key, as AWS's rotation templates do them.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mad-bio/mad/scripts/devstack/testdata/functions/fake"
)

type event struct {
	Step               string `json:"Step"`
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
}

func handle(ctx context.Context, ev event) error {
	sm := secretsmanager.NewFromConfig(fake.AWS(ctx))
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return err
	}
	stages, ok := d.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return fmt.Errorf("version %s has no stage for rotation", ev.ClientRequestToken)
	}
	switch ev.Step {
	case "createSecret":
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ev.SecretID), VersionId: aws.String(ev.ClientRequestToken), VersionStage: aws.String("AWSPENDING")})
		var nf *smtypes.ResourceNotFoundException
		if err == nil {
			return nil
		} else if !errors.As(err, &nf) {
			return err
		}
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		v, _ := json.Marshal(map[string]string{"alg": "HS256", "k": hex.EncodeToString(k)})
		_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(ev.SecretID), ClientRequestToken: aws.String(ev.ClientRequestToken),
			SecretString: aws.String(string(v)), VersionStages: []string{"AWSPENDING"}})
		return err
	case "setSecret", "testSecret":
		return nil
	case "finishSecret":
		for _, s := range stages {
			if s == "AWSCURRENT" {
				return nil
			}
		}
		var current string
		for id, ss := range d.VersionIdsToStages {
			for _, s := range ss {
				if s == "AWSCURRENT" {
					current = id
				}
			}
		}
		_, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(ev.SecretID), VersionStage: aws.String("AWSCURRENT"),
			MoveToVersionId: aws.String(ev.ClientRequestToken), RemoveFromVersionId: aws.String(current)})
		return err
	}
	return fmt.Errorf("unknown step %q", ev.Step)
}

func main() { lambda.Start(handle) }
