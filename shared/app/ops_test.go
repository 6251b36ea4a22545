package app_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/sqsqueue"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// drain receives and deletes every visible message of the jobs queue and
// returns the job ids they carried.
func drain(t *testing.T, env *apptest.Env) []string {
	t.Helper()
	var ids []string
	for {
		msgs := testenv.Receive(t, env.AWS.Queues.URL, 10, 0)
		if len(msgs) == 0 {
			return ids
		}
		for _, m := range msgs {
			jm, err := sqsqueue.DecodeJobMessage(aws.ToString(m.Body))
			ok(t, err)
			ids = append(ids, jm.JobID)
			_, err = env.AWS.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(env.AWS.Queues.URL), ReceiptHandle: m.ReceiptHandle})
			ok(t, err)
		}
	}
}

// commitWithoutMessage stores a job the way CreateJob's transaction does,
// created at `at`, and never sends its message: a crash after the commit.
func commitWithoutMessage(t *testing.T, env *apptest.Env, m apptest.Member, rec, lig domain.Molecule, at time.Time) *domain.Job {
	t.Helper()
	params, err := dockParams().Resolve("params", domain.BuiltinVinaDefaults())
	ok(t, err)
	pl := domain.Pipeline{ID: domain.BuiltinPipelineID, Version: domain.BuiltinPipelineVersion}
	job := domain.NewJob(domain.NewID(), m.OrgID, m.UserID, pl, domain.JobInputs{Receptor: rec.ID, Ligand: lig.ID}, params, "sig-"+domain.NewID(), at)
	ok(t, env.DB.Store.Tx(ctx, domain.OrgScope(m.OrgID), func(tx app.Tx) error { return tx.Jobs().CreateJob(ctx, job) }))
	return job
}

// The sweeper reads the outbox of every org, so its scenarios run in
// sequence in one test; jobs of other tests are never due (they are not
// backdated and the windows are minutes long).
func TestSweeper(t *testing.T) {
	t.Parallel()
	docker := flaky(t, 1000) // every run fails transiently: claimed jobs stay RUNNING
	env := apptest.New(t, apptest.Options{Docker: docker, PendingAfter: time.Minute, StaleAfter: 10 * time.Minute})
	org, admin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)

	t.Run("a job committed without its message is sent and becomes QUEUED", func(t *testing.T) {
		job := commitWithoutMessage(t, env, admin, rec, lig, env.Clock.Now().Add(-time.Hour))
		fresh := commitWithoutMessage(t, env, admin, rec, lig, env.Clock.Now()) // within PendingAfter: not yet
		drain(t, env)
		rep, err := env.Sweeper.Sweep(ctx)
		ok(t, err)
		if rep.Sent < 1 || rep.Failed != 0 {
			t.Fatalf("report %+v", rep)
		}
		sent := drain(t, env)
		if !slices.Contains(sent, job.ID) || slices.Contains(sent, fresh.ID) {
			t.Fatalf("sent %v; want %s and not %s", sent, job.ID, fresh.ID)
		}
		j := getJob(t, env, org.ID, job.ID)
		if j.Status != domain.JobQueued {
			t.Fatalf("job is %s", j.Status)
		}
		if got := events(t, env, org.ID, job.ID); !sameEvents(got, []domain.JobEventType{domain.EventCreated, domain.EventQueued}) {
			t.Fatalf("events %v", got)
		}
		if n := count(t, env, "", `SELECT count(*) FROM job_outbox WHERE job_id = $1 AND sent_at IS NOT NULL AND attempts = 1`, job.ID); n != 1 {
			t.Fatal("outbox entry not marked sent once")
		}
		if getJob(t, env, org.ID, fresh.ID).Status != domain.JobPending {
			t.Fatal("a job inside the grace period was touched")
		}
	})
	t.Run("an unclaimed job whose message was lost is resent", func(t *testing.T) {
		job := newJob(t, env, admin, jobRequest(rec, lig))
		drain(t, env) // the message is lost
		ok(t, env.DB.Store.Tx(ctx, domain.OrgScope(org.ID), func(tx app.Tx) error {
			return tx.Jobs().MarkOutboxSent(ctx, job.ID, env.Clock.Now().Add(-time.Hour))
		}))
		rep, err := env.Sweeper.Sweep(ctx)
		ok(t, err)
		if rep.Resent < 1 {
			t.Fatalf("report %+v", rep)
		}
		if sent := drain(t, env); !slices.Contains(sent, job.ID) {
			t.Fatalf("resent %v, want %s", sent, job.ID)
		}
		if j := getJob(t, env, org.ID, job.ID); j.Status != domain.JobQueued {
			t.Fatalf("job is %s", j.Status)
		}
		// Resent just now: the next sweep leaves it alone.
		ok(t, ignore(env.Sweeper.Sweep(ctx)))
		if sent := drain(t, env); slices.Contains(sent, job.ID) {
			t.Fatal("resent again at once")
		}
	})
	t.Run("claimed jobs are not resent", func(t *testing.T) {
		job := newJob(t, env, admin, jobRequest(rec, lig))
		// Sent long ago: it would be due if it were still unclaimed.
		ok(t, env.DB.Store.Tx(ctx, domain.OrgScope(org.ID), func(tx app.Tx) error {
			return tx.Jobs().MarkOutboxSent(ctx, job.ID, env.Clock.Now().Add(-time.Hour))
		}))
		if err := process(env, job, 1); err == nil {
			t.Fatal("the flaky docker succeeded")
		}
		if j := getJob(t, env, org.ID, job.ID); j.Status != domain.JobRunning {
			t.Fatalf("job is %s", j.Status)
		}
		drain(t, env)
		ok(t, ignore(env.Sweeper.Sweep(ctx)))
		if sent := drain(t, env); slices.Contains(sent, job.ID) {
			t.Fatal("a claimed job was resent")
		}
		if n := count(t, env, "", `SELECT count(*) FROM job_outbox WHERE job_id = $1`, job.ID); n != 0 {
			t.Fatal("a claimed job kept its outbox entry")
		}
	})
	t.Run("a sweeper without a logger does not panic", func(t *testing.T) {
		job := commitWithoutMessage(t, env, admin, rec, lig, env.Clock.Now().Add(-time.Hour))
		s := &app.Sweeper{Store: env.DB.Store, Queue: env.AWS.Queue, Clock: env.Clock.Now, PendingAfter: time.Minute, StaleAfter: 10 * time.Minute}
		noPanic(t, "Sweep with a nil Log", func() { _, _ = s.Sweep(ctx) })
		drain(t, env)
		_ = job
	})
}

func ignore[T any](_ T, err error) error { return err }

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	docker, _ := cannedDocker(t)
	env := apptest.New(t, apptest.Options{Docker: docker})
	org, admin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)

	t.Run("the job of a dead-lettered message fails with a reason", func(t *testing.T) {
		job := newJob(t, env, admin, jobRequest(rec, lig))
		ok(t, env.DeadLetters.Process(ctx, app.JobMessage{JobID: job.ID, OrgID: org.ID}, 1))
		j := getJob(t, env, org.ID, job.ID)
		if j.Status != domain.JobFailed || !strings.Contains(j.Error, "dead-letter") || j.FinishedAt == nil {
			t.Fatalf("job %+v", j)
		}
		e := auditFor(t, env, org.ID, domain.AuditJobFailed, job.ID)
		if len(e) != 1 || e[0].ActorType != domain.SubjectSystem || e[0].ActorID != "dlq" || e[0].Detail["class"] != "dead_letter" {
			t.Fatalf("job.failed entries %+v", e)
		}
	})
	t.Run("finished jobs are untouched", func(t *testing.T) {
		in := jobRequest(rec, lig)
		in.UseCache = false
		done := completedJob(t, env, admin, in)
		cancelled := newJob(t, env, admin, in)
		_, err := env.Jobs.CancelJob(ctx, admin.Principal, cancelled.ID)
		ok(t, err)
		for _, job := range []*domain.Job{done, cancelled} {
			before := events(t, env, org.ID, job.ID)
			status := getJob(t, env, org.ID, job.ID).Status
			ok(t, env.DeadLetters.Process(ctx, app.JobMessage{JobID: job.ID, OrgID: org.ID}, 1))
			if j := getJob(t, env, org.ID, job.ID); j.Status != status || j.Error != "" {
				t.Fatalf("job %+v, want still %s", j, status)
			}
			if after := events(t, env, org.ID, job.ID); !sameEvents(after, before) {
				t.Fatalf("events %v -> %v", before, after)
			}
			if e := auditFor(t, env, org.ID, domain.AuditJobFailed, job.ID); len(e) != 0 {
				t.Fatalf("job.failed entries %+v", e)
			}
		}
	})
	t.Run("unknown jobs are acknowledged", func(t *testing.T) {
		ok(t, env.DeadLetters.Process(ctx, app.JobMessage{JobID: domain.NewID(), OrgID: org.ID}, 1))
	})
}
