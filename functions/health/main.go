// Command health serves /health, /ready, /openapi.json, the JWKS and the
// catch-all route.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/openapi"
	"github.com/mad-bio/mad/shared/routes"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnHealth, config.NeedDB, config.NeedJWT, config.NeedStorage, config.NeedQueue)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	// Lazy: /ready must start, and answer 503 not_ready, while the
	// database is down.
	store, err := env.PostgresLazy(ctx, env.Secrets())
	if err != nil {
		bootstrap.Exit(env.Log, "database", err)
	}
	keys, err := env.Keys()
	if err != nil {
		bootstrap.Exit(env.Log, "token keys", err)
	}
	ready := newReadiness(store, env.Queue(), env.S3(), env.Config.ArtifactsBucket, keys, env.Log)
	mux := newMux(handler{ready: ready, jwks: keys, openapi: openapi.Document}, apigw.NewMux(routes.FnHealth, env.Log))
	if err := mux.Check(); err != nil {
		bootstrap.Exit(env.Log, "routes", err)
	}
	lambda.Start(mux.Lambda)
}
