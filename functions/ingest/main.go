// Command ingest consumes the uploads queue: S3 ObjectCreated events of
// presigned uploads become molecules, and docking jobs when asked.
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
	env, err := bootstrap.Start(ctx, routes.FnIngest, config.NeedDB, config.NeedStorage, config.NeedQueue)
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
		Log: env.Log, Function: routes.FnIngest}
	mols := &app.Molecules{Store: store, Objects: objects, Jobs: jobs, PresignTTL: env.Config.PresignTTL, Log: env.Log}
	h := handler{ingest: mols, decode: decodeS3, bucket: env.Config.UploadsBucket, log: env.Log}
	lambda.Start(h.handle)
}

func decodeS3(body string) ([]S3Object, error) {
	objs, err := sqsqueue.DecodeS3Event(body)
	if err != nil {
		return nil, err
	}
	out := make([]S3Object, len(objs))
	for i, o := range objs {
		out[i] = S3Object{Bucket: o.Bucket, Key: o.Key, Size: o.Size}
	}
	return out, nil
}
