package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/sqsevent"
)

// processor runs one job message.
type processor interface {
	Process(ctx context.Context, msg app.JobMessage, receiveCount int) error
}

// handler consumes the jobs queue (batch size 1).
type handler struct {
	engine processor
	decode func(body string) (app.JobMessage, error)
	log    *slog.Logger
}

func (h handler) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return sqsevent.Handle(ctx, h.log, ev, func(ctx context.Context, r sqsevent.Record) error {
		msg, err := h.decode(r.Body)
		if err != nil {
			// A message no engine can read will never succeed: drop it
			// (logged) rather than cycle it to the DLQ.
			h.log.ErrorContext(ctx, "undecodable job message dropped", "message_id", r.MessageID, "err", err)
			return nil
		}
		return h.engine.Process(ctx, msg, r.ReceiveCount)
	}), nil
}
