package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
)

// DeadLetters handles job messages that exhausted their deliveries: the
// job is marked FAILED with the reason, audited.
type DeadLetters struct {
	Store Store
	Clock Clock
	Log   *slog.Logger
}

// Process fails the job of a dead-lettered message. Unknown jobs are
// acknowledged.
func (d *DeadLetters) Process(ctx context.Context, msg JobMessage, receiveCount int) error {
	ctx = obs.With(ctx, obs.Fields{OrgID: msg.OrgID, JobID: msg.JobID})
	sys := domain.SystemPrincipal(msg.OrgID, "dlq")
	reason := "the engine did not finish the job after repeated deliveries (moved to the dead-letter queue)"
	err := FailJob(ctx, d.Store, sys, msg.JobID, reason, "dead_letter", d.Clock)
	if domain.ErrorCode(err) == domain.CodeJobNotFound {
		return nil
	}
	return err
}

// Sweeper repairs what crashes leave behind and keeps tables small: it
// sends job messages that were never sent, resends messages of jobs that
// stayed unclaimed too long, and deletes expired tokens, login failures
// and idempotency keys.
type Sweeper struct {
	Store        Store
	Queue        JobQueue
	Clock        Clock
	PendingAfter time.Duration // grace before an unsent job is sent by the sweeper
	StaleAfter   time.Duration // a sent but unclaimed job is resent after this
	Log          *slog.Logger
}

func (s *Sweeper) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// SweepReport says what one sweep did.
type SweepReport struct {
	Sent, Resent, Failed, Deleted int
}

// Sweep runs once.
func (s *Sweeper) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	t := now(s.Clock)
	var due []OutboxEntry
	err := s.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
		var err error
		due, err = tx.Jobs().FindDueOutbox(ctx, t.Add(-s.PendingAfter), t.Add(-s.StaleAfter), 500)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("read outbox: %w", err)
	}
	for _, e := range due {
		ectx := obs.With(ctx, obs.Fields{OrgID: e.OrgID, JobID: e.JobID})
		if err := s.Queue.SendJob(ectx, JobMessage{JobID: e.JobID, OrgID: e.OrgID}); err != nil {
			rep.Failed++
			s.log().ErrorContext(ectx, "sweeper could not send job message", "err", err)
			continue
		}
		err := s.Store.Tx(ectx, domain.OrgScope(e.OrgID), func(tx Tx) error {
			if err := tx.Jobs().MarkOutboxSent(ectx, e.JobID, t); err != nil {
				return err
			}
			_, err := tx.Jobs().UpdateJob(ectx, e.JobID, func(j *domain.Job) error { return j.MarkQueued(t) })
			return err
		})
		if err != nil && domain.ErrorCode(err) != domain.CodeJobNotFound {
			s.log().ErrorContext(ectx, "sweeper could not record the send", "err", err)
		}
		if e.SentAt == nil {
			rep.Sent++
			s.log().InfoContext(ectx, "sweeper sent a job message that was never sent")
		} else {
			rep.Resent++
			s.log().WarnContext(ectx, "sweeper resent the message of a job unclaimed since", "sent_at", e.SentAt)
		}
	}
	n, err := s.housekeeping(ctx, t)
	rep.Deleted = n
	return rep, err
}

func (s *Sweeper) housekeeping(ctx context.Context, t time.Time) (int, error) {
	total := 0
	err := s.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
		n, err := tx.Throttle().DeleteLoginFailuresBefore(ctx, t.Add(-24*time.Hour))
		total += n
		if err != nil {
			return err
		}
		n, err = tx.Tokens().DeleteExpired(ctx, t.Add(-time.Hour))
		total += n
		return err
	})
	if err != nil {
		return total, fmt.Errorf("global housekeeping: %w", err)
	}
	page := Page{Limit: 200}
	for {
		var orgs []domain.Org
		if err := s.Store.Tx(ctx, domain.GlobalScope(), func(tx Tx) error {
			var err error
			orgs, err = tx.Orgs().FindOrgs(ctx, page)
			return err
		}); err != nil {
			return total, err
		}
		p := paginate(orgs, page, func(o domain.Org) string { return o.ID })
		for _, o := range p.Items {
			err := s.Store.Tx(ctx, domain.OrgScope(o.ID), func(tx Tx) error {
				n, err := tx.Tokens().DeleteExpired(ctx, t.Add(-time.Hour))
				total += n
				if err != nil {
					return err
				}
				n, err = tx.Jobs().DeleteExpiredIdempotencyKeys(ctx, t)
				total += n
				return err
			})
			if err != nil {
				return total, fmt.Errorf("housekeeping of org %s: %w", o.ID, err)
			}
		}
		if p.NextCursor == "" {
			return total, nil
		}
		page.After, _ = DecodeCursor(p.NextCursor)
	}
}

// Check is one readiness check.
type Check func(ctx context.Context) error

// Readiness runs the readiness checks of /ready concurrently, each bounded.
type Readiness struct {
	Checks  map[string]Check
	Timeout time.Duration
	Log     *slog.Logger
}

// Ready returns each check's state ("ok" or "error") and whether all passed.
func (r *Readiness) Ready(ctx context.Context) (map[string]string, bool) {
	type result struct {
		name string
		err  error
	}
	ch := make(chan result, len(r.Checks))
	for name, c := range r.Checks {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, r.Timeout)
			defer cancel()
			ch <- result{name, c(cctx)}
		}()
	}
	out := make(map[string]string, len(r.Checks))
	ok := true
	for range r.Checks {
		res := <-ch
		if res.err != nil {
			ok = false
			out[res.name] = "error"
			if r.Log != nil {
				r.Log.WarnContext(ctx, "readiness check failed", "check", res.name, "err", res.err)
			}
			continue
		}
		out[res.name] = "ok"
	}
	return out, ok
}
