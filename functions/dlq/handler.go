package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/sqsevent"
)

type processor interface {
	Process(ctx context.Context, msg app.JobMessage, receiveCount int) error
}

// handler consumes the jobs dead-letter queue: each message's job is
// marked FAILED with the reason.
type handler struct {
	dead   processor
	decode func(body string) (app.JobMessage, error)
	log    *slog.Logger
}

func (h handler) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return sqsevent.HandleDecoded(ctx, h.log, ev, h.decode, h.dead.Process), nil
}
