// Command molecules serves molecule uploads (inline and presigned),
// listings, downloads and deletion.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/routes"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnMolecules, config.NeedDB, config.NeedStorage)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	store, err := env.Postgres(ctx, env.Secrets())
	if err != nil {
		bootstrap.Exit(env.Log, "database", err)
	}
	objects, err := env.Objects()
	if err != nil {
		bootstrap.Exit(env.Log, "storage", err)
	}
	// Upload run requests are validated here; the job itself is created
	// by ingest, so this function never sends to the jobs queue.
	jobs := &app.Jobs{Store: store, Objects: objects, PresignTTL: env.Config.PresignTTL, Log: env.Log, Function: routes.FnMolecules}
	mols := &app.Molecules{Store: store, Objects: objects, Jobs: jobs, PresignTTL: env.Config.PresignTTL, Log: env.Log}
	mux := newMux(handler{molecules: mols}, apigw.NewMux(routes.FnMolecules, env.Log))
	if err := mux.Check(); err != nil {
		bootstrap.Exit(env.Log, "routes", err)
	}
	lambda.Start(mux.Lambda)
}
