// Command admin serves organizations, users, service accounts and the
// audit log.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/password"
	"github.com/mad-bio/mad/shared/routes"
)

func main() {
	ctx := context.Background()
	env, err := bootstrap.Start(ctx, routes.FnAdmin, config.NeedDB)
	if err != nil {
		bootstrap.Exit(env.Log, "configuration", err)
	}
	store, err := env.Postgres(ctx, env.Secrets())
	if err != nil {
		bootstrap.Exit(env.Log, "database", err)
	}
	admin := &app.Admin{Store: store, Hasher: password.New(), Secrets: password.Secrets{}}
	mux := newMux(handler{admin: admin}, apigw.NewMux(routes.FnAdmin, env.Log))
	if err := mux.Check(); err != nil {
		bootstrap.Exit(env.Log, "routes", err)
	}
	lambda.Start(mux.Lambda)
}
