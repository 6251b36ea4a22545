// Command engine is the docking engine: a container-image Lambda fed by
// the jobs queue (batch size 1). It runs AutoDock Vina and Open Babel as
// child processes in a scratch directory.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/sqsqueue"
	"github.com/mad-bio/mad/shared/vina"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnEngine, config.NeedDB, config.NeedStorage, config.NeedEngine)
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
	runner := &vina.Runner{VinaPath: env.Config.VinaPath, ObabelPath: env.Config.ObabelPath, CPUs: env.Config.EngineCPUs, Logger: env.Log}
	// A missing or broken vina binary must fail the cold start, not every job.
	if _, err := runner.Version(ctx); err != nil {
		bootstrap.Exit(env.Log, "vina", err)
	}
	engine := &app.Engine{Store: store, Objects: objects, Docker: vina.Docker{Runner: runner},
		ScratchDir: env.Config.ScratchDir, MaxReceives: env.Config.JobsMaxReceives,
		Log: env.Log, Function: routes.FnEngine}
	h := handler{engine: engine, decode: sqsqueue.DecodeJobMessage, log: env.Log}
	lambda.Start(h.handle)
}
