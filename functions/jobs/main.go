// Command jobs serves pipelines, docking jobs, their results and artifacts.
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
	env, err := bootstrap.Start(ctx, routes.FnJobs, config.NeedDB, config.NeedStorage, config.NeedQueue)
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
	jobs := &app.Jobs{Store: store, Queue: env.Queue(), Objects: objects, PresignTTL: env.Config.PresignTTL,
		Log: env.Log, Function: routes.FnJobs}
	mux := newMux(handler{jobs: jobs}, apigw.NewMux(routes.FnJobs, env.Log))
	if err := mux.Check(); err != nil {
		bootstrap.Exit(env.Log, "routes", err)
	}
	lambda.Start(mux.Lambda)
}
