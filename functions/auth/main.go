// Command auth serves login, token refresh, logout and /me.
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
	env, err := bootstrap.Start(ctx, routes.FnAuth, config.NeedDB, config.NeedJWT)
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
	auth := &app.Auth{Store: store, Signer: keys.Signer(), Verifier: keys.Verifier(), Hasher: password.New(),
		Secrets: password.Secrets{}, AccessTTL: env.Config.AccessTTL, RefreshTTL: env.Config.RefreshTTL, Log: env.Log}
	mux := newMux(handler{auth: auth}, apigw.NewMux(routes.FnAuth, env.Log))
	if err := mux.Check(); err != nil {
		bootstrap.Exit(env.Log, "routes", err)
	}
	lambda.Start(mux.Lambda)
}
