// Command rotate is the Secrets Manager rotation function of the JWT
// signing key: HS256 keys rotate as secret versions; KMS key sets publish
// a new key one period before it signs.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/jwtauth"
	"github.com/mad-bio/mad/shared/routes"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnRotate, config.NeedJWT)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	r := jwtauth.NewRotator(secretsmanager.NewFromConfig(env.AWS), kms.NewFromConfig(env.AWS), jwtauth.RotatorConfig{
		Issuer: env.Config.JWTIssuer, Audience: env.Config.JWTAudience,
		KeyTags: map[string]string{"mad-jwt-stage": env.Config.Stage}, Log: env.Log})
	lambda.Start(handler{rotator: r, secretID: env.Config.JWTSecretID, log: env.Log}.handle)
}
