// Command authorizer is the HTTP API Lambda authorizer: it verifies the
// bearer token and checks its subject, org and revocation.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/routes"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnAuthorizer, config.NeedDB, config.NeedJWT)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	store, err := env.Postgres(ctx, env.Secrets())
	if err != nil {
		bootstrap.Exit(env.Log, "database", err)
	}
	keys, err := env.Keys()
	if err == nil {
		err = keys.Load(ctx) // a missing or malformed key secret fails the cold start
	}
	if err != nil {
		bootstrap.Exit(env.Log, "token keys", err)
	}
	h := handler{authz: &app.Authorizer{Store: store, Verifier: keys.Verifier()}, log: env.Log}
	lambda.Start(h.handle)
}
