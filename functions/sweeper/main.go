// Command sweeper runs on a schedule: it sends job messages a crash left
// unsent, resends those of jobs unclaimed for too long, and expires old
// tokens, login failures and idempotency keys.
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
	env, err := bootstrap.Start(ctx, routes.FnSweeper, config.NeedDB, config.NeedQueue)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	store, err := env.Postgres(ctx, env.Secrets())
	if err != nil {
		bootstrap.Exit(env.Log, "database", err)
	}
	sw := &app.Sweeper{Store: store, Queue: env.Queue(), PendingAfter: env.Config.SweepPendingAfter,
		StaleAfter: env.Config.SweepStaleAfter, Log: env.Log}
	lambda.Start(handler{sweeper: sw, log: env.Log}.handle)
}
