// Command health serves /health, /ready, /openapi.json, the JWKS and the
// catch-all route.
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
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
	store, err := env.Postgres(ctx, env.Secrets())
	if err != nil {
		bootstrap.Exit(env.Log, "database", err)
	}
	keys, err := env.Keys()
	if err != nil {
		bootstrap.Exit(env.Log, "token keys", err)
	}
	s3c, queue := env.S3(), env.Queue()
	bucket := env.Config.ArtifactsBucket
	ready := &app.Readiness{Timeout: 2 * time.Second, Log: env.Log, Checks: map[string]app.Check{
		"db": store.Ping,
		"queue": func(ctx context.Context) error {
			_, _, err := queue.Depth(ctx)
			return err
		},
		"storage": func(ctx context.Context) error {
			if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
				return fmt.Errorf("head bucket: %w", err)
			}
			return nil
		},
		"secrets": keys.Load,
	}}
	mux := newMux(handler{ready: ready, jwks: keys, openapi: openapi.Document}, apigw.NewMux(routes.FnHealth, env.Log))
	if err := mux.Check(); err != nil {
		bootstrap.Exit(env.Log, "routes", err)
	}
	lambda.Start(mux.Lambda)
}
