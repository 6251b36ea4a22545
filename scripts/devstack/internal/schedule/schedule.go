// Package schedule plays EventBridge scheduled rules locally: it invokes a
// function every period with the "Scheduled Event" shape.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Invoker invokes a function by name with a JSON payload.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// Rule is one schedule.
type Rule struct {
	Function string
	RuleName string // e.g. mad-local-sweeper-schedule
	Period   time.Duration
	Account  string
	Region   string
	Invoker  Invoker
	Log      *slog.Logger
}

// Event builds the scheduled event for time t.
func Event(r Rule, t time.Time) events.EventBridgeEvent {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return events.EventBridgeEvent{
		Version:    "0",
		ID:         fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]),
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  r.Account,
		Time:       t.UTC().Truncate(time.Second),
		Region:     r.Region,
		Resources:  []string{fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", r.Region, r.Account, r.RuleName)},
		Detail:     json.RawMessage(`{}`),
	}
}

// Run invokes the function every period until ctx is done. A run that
// outlasts the period delays the next one (no overlap).
func Run(ctx context.Context, r Rule) {
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(r.Period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			payload, _ := json.Marshal(Event(r, now))
			start := time.Now()
			if _, err := r.Invoker.Invoke(context.WithoutCancel(ctx), r.Function, payload); err != nil {
				r.Log.Warn("scheduled invoke failed", "function", r.Function, "error", err.Error())
			} else {
				r.Log.Debug("scheduled invoke", "function", r.Function, "ms", time.Since(start).Milliseconds())
			}
		}
	}
}
