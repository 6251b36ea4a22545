// Command dlq consumes the jobs dead-letter queue and marks each job FAILED.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/sqsqueue"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnDLQ, config.NeedDB)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	store, err := env.Postgres(ctx, env.Secrets())
	if err != nil {
		bootstrap.Exit(env.Log, "database", err)
	}
	h := handler{dead: &app.DeadLetters{Store: store, Log: env.Log}, decode: sqsqueue.DecodeJobMessage, log: env.Log}
	lambda.Start(h.handle)
}
