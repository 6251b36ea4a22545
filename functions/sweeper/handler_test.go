package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// scheduled loads the sample scheduled event into the exact type the
// function receives.
func scheduled(t testing.TB) (events.EventBridgeEvent, []byte) {
	t.Helper()
	b := apitest.ReadEvent(t, "schedule/sweeper.json")
	var ev events.EventBridgeEvent
	apitest.DecodeStrict(t, b, &ev)
	return ev, b
}

// queueFunc is a jobs queue that fails, to leave a job unsent (a crash
// between commit and send).
type queueFunc func(ctx context.Context, m app.JobMessage) error

func (f queueFunc) SendJob(ctx context.Context, m app.JobMessage) error { return f(ctx, m) }

// received returns the job ids of the messages on the jobs queue.
func received(t *testing.T, env *apptest.Env) []string {
	t.Helper()
	var ids []string
	for range 3 {
		for _, m := range testenv.Receive(t, env.AWS.Queues.URL, 10, 1) {
			var b map[string]string
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &b); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, b["job_id"])
		}
		if len(ids) > 0 {
			return ids
		}
	}
	return ids
}

// TestSweep: a scheduled event sends the message of a job whose send
// failed, and later resends it while no engine claims the job.
func TestSweep(t *testing.T) {
	env := apptest.New(t, apptest.Options{PendingAfter: time.Minute, StaleAfter: 10 * time.Minute})
	ctx := context.Background()
	_, admin := env.NewOrg(t)
	user := env.NewUser(t, admin, domain.RoleStandard)
	rec := apitest.Testdata(t, "1iep/1iep_receptor.pdbqt")
	mol := func(format string, content []byte) string {
		m, err := env.Molecules.CreateMolecule(ctx, user.Principal, app.NewMoleculeInput{Name: format, Format: format, Content: content})
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	down := *env.Jobs
	down.Queue = queueFunc(func(context.Context, app.JobMessage) error { return errors.New("sqs: service unavailable") })
	res, err := down.CreateJob(ctx, user.Principal, app.CreateJobInput{PipelineID: domain.BuiltinPipelineID,
		Receptor: mol("pdbqt", rec), Ligand: mol("smi", []byte("CCO ethanol\n")),
		Params: domain.VinaParamsPatch{Center: &[3]float64{1, 2, 3}, Size: &[3]float64{20, 20, 20}}})
	if err != nil {
		t.Fatal(err)
	}
	job := res.Job.ID
	if res.Job.Status != domain.JobPending {
		t.Fatalf("job %s after a failed send, want PENDING", res.Job.Status)
	}

	h := handler{sweeper: env.Sweeper, log: apptest.Quiet}
	ev, raw := scheduled(t)

	// Within the grace period nothing is sent: the API may still send it.
	rep, err := h.handle(ctx, ev)
	if err != nil || rep.Sent != 0 || rep.Failed != 0 {
		t.Fatalf("sweep in the grace period = %+v, %v", rep, err)
	}

	env.Clock.Advance(2 * time.Minute)
	rep, err = h.handle(ctx, ev)
	if err != nil || rep.Sent < 1 || rep.Failed != 0 {
		t.Fatalf("sweep = %+v, %v; want the unsent job sent", rep, err)
	}
	if ids := received(t, env); !slices.Contains(ids, job) {
		t.Fatalf("jobs queue holds %v, not %s", ids, job)
	}
	j, err := env.Jobs.GetJob(ctx, user.Principal, job)
	if err != nil || j.Status != domain.JobQueued {
		t.Fatalf("job after the sweep: %+v (%v)", j, err)
	}

	// Sent and not yet stale: left alone.
	if rep, err = h.handle(ctx, ev); err != nil || rep.Sent != 0 || rep.Resent != 0 {
		t.Fatalf("second sweep = %+v, %v", rep, err)
	}
	// Unclaimed past StaleAfter: resent. Through the Lambda runtime's JSON.
	env.Clock.Advance(11 * time.Minute)
	out, err := lambda.NewHandler(h.handle).Invoke(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var report app.SweepReport
	if err := json.Unmarshal(out, &report); err != nil || report.Resent != 1 || report.Sent != 0 {
		t.Fatalf("runtime response %s (%v), want one resend", out, err)
	}
	if ids := received(t, env); !slices.Contains(ids, job) {
		t.Fatalf("jobs queue holds %v after the resend, not %s", ids, job)
	}
	// The resend was recorded: the next sweep leaves the job alone.
	if rep, err = h.handle(ctx, ev); err != nil || rep.Resent != 0 {
		t.Fatalf("sweep right after a resend = %+v, %v", rep, err)
	}
	// Once the engine claims the job, the sweeper never sends it again.
	if err := env.Engine.Process(ctx, app.JobMessage{JobID: job, OrgID: user.OrgID}, 1); err == nil {
		t.Fatal("the engine without docking succeeded")
	}
	if j, err := env.Jobs.GetJob(ctx, user.Principal, job); err != nil || j.Status != domain.JobRunning {
		t.Fatalf("job after a claim: %+v (%v)", j, err)
	}
	env.Clock.Advance(11 * time.Minute)
	if rep, err = h.handle(ctx, ev); err != nil || rep.Sent != 0 || rep.Resent != 0 {
		t.Fatalf("sweep after the claim = %+v, %v", rep, err)
	}
}

type sweepFunc func(ctx context.Context) (app.SweepReport, error)

func (f sweepFunc) Sweep(ctx context.Context) (app.SweepReport, error) { return f(ctx) }

// TestSweepFailure: a failed sweep is the invocation's error, so the
// schedule's failure metrics and alarms see it.
func TestSweepFailure(t *testing.T) {
	t.Parallel()
	down := errors.New("read outbox: connection refused")
	h := handler{sweeper: sweepFunc(func(context.Context) (app.SweepReport, error) { return app.SweepReport{Sent: 1}, down }), log: apptest.Quiet}
	ev, _ := scheduled(t)
	if rep, err := h.handle(context.Background(), ev); !errors.Is(err, down) || rep.Sent != 1 {
		t.Fatalf("handle = %+v, %v", rep, err)
	}
}
