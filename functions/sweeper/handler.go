package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/app"
)

type sweeper interface {
	Sweep(ctx context.Context) (app.SweepReport, error)
}

// handler runs one sweep per scheduled event.
type handler struct {
	sweeper sweeper
	log     *slog.Logger
}

func (h handler) handle(ctx context.Context, ev events.EventBridgeEvent) (app.SweepReport, error) {
	rep, err := h.sweeper.Sweep(ctx)
	h.log.InfoContext(ctx, "sweep", "sent", rep.Sent, "resent", rep.Resent, "failed", rep.Failed, "deleted", rep.Deleted, "err", err)
	return rep, err
}
