// Package sqsevent runs SQS-triggered functions the way Lambda's event
// source mapping expects with ReportBatchItemFailures: each record is
// processed on its own, and only the records that failed are reported, so
// SQS redelivers those after the visibility timeout and deletes the rest.
package sqsevent

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// Record is what a record handler gets: the body and the delivery count.
type Record struct {
	MessageID    string
	Body         string
	ReceiveCount int
}

// Handler processes one record; an error asks SQS to redeliver it.
type Handler func(ctx context.Context, r Record) error

// Handle runs h for every record of the batch, recovering panics, and
// reports the failures.
func Handle(ctx context.Context, log *slog.Logger, ev events.SQSEvent, h Handler) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		n, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
		err := safe(ctx, h, Record{MessageID: m.MessageId, Body: m.Body, ReceiveCount: n})
		if err != nil {
			log.WarnContext(ctx, "record failed; SQS will redeliver it", "message_id", m.MessageId, "receive_count", n, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp
}

func safe(ctx context.Context, h Handler, r Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, r)
}

// HandleDecoded runs process for every record whose body decode accepts.
// A body no decoder accepts can never succeed, so it is logged and
// acknowledged rather than cycled to the dead-letter queue.
func HandleDecoded[T any](ctx context.Context, log *slog.Logger, ev events.SQSEvent,
	decode func(body string) (T, error), process func(ctx context.Context, msg T, receiveCount int) error) events.SQSEventResponse {
	return Handle(ctx, log, ev, func(ctx context.Context, r Record) error {
		msg, err := decode(r.Body)
		if err != nil {
			log.ErrorContext(ctx, "undecodable message dropped", "message_id", r.MessageID, "err", err)
			return nil
		}
		return process(ctx, msg, r.ReceiveCount)
	})
}
