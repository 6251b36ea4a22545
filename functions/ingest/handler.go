package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/sqsevent"
)

// ingester registers uploaded objects.
type ingester interface {
	Ingest(ctx context.Context, key string, size int64) (domain.Upload, error)
}

// S3Object is one object of an S3 event notification.
type S3Object struct {
	Bucket, Key string
	Size        int64
}

// handler consumes the uploads queue: S3 ObjectCreated notifications of
// the uploads bucket.
type handler struct {
	ingest ingester
	decode func(body string) ([]S3Object, error)
	bucket string // only objects of the uploads bucket are ingested
	log    *slog.Logger
}

func (h handler) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return sqsevent.Handle(ctx, h.log, ev, func(ctx context.Context, r sqsevent.Record) error {
		objs, err := h.decode(r.Body)
		if err != nil {
			h.log.ErrorContext(ctx, "undecodable upload event dropped", "message_id", r.MessageID, "err", err)
			return nil
		}
		for _, o := range objs {
			if o.Bucket != h.bucket {
				h.log.WarnContext(ctx, "event of another bucket ignored", "bucket", o.Bucket)
				continue
			}
			_, uploadID, _ := app.ParseUploadKey(o.Key)
			octx := obs.With(ctx, obs.Fields{UploadID: uploadID})
			up, err := h.ingest.Ingest(octx, o.Key, o.Size)
			switch {
			case errors.Is(err, app.ErrIgnoredObject):
				h.log.WarnContext(octx, "object is not a pending upload; ignored", "key", o.Key)
			case err != nil:
				return err
			default:
				h.log.InfoContext(obs.With(octx, obs.Fields{OrgID: up.OrgID}), "upload ingested", "status", up.Status,
					"molecule_id", up.MoleculeID, "job_id", up.JobID, "error", up.Error)
			}
		}
		return nil
	}), nil
}
