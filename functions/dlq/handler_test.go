package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/sqsqueue"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// dlqEvent loads the dead-letter sample event with body as its message.
func dlqEvent(t testing.TB, body string) events.SQSEvent {
	t.Helper()
	return apitest.WithBody(apitest.LoadEvent[events.SQSEvent](t, "sqs/jobs-dlq-message.json"), body)
}

func jobBody(jobID, orgID string) string {
	return `{"job_id":"` + jobID + `","org_id":"` + orgID + `"}`
}

type dockFunc func(ctx context.Context, req app.DockRequest) (app.DockResult, error)

func (f dockFunc) Dock(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
	return f(ctx, req)
}

type fixture struct {
	env  *apptest.Env
	h    handler
	org  domain.Org
	user apptest.Member
	// receptor and ligand of the fixture's jobs
	receptor, ligand string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := apptest.New(t, apptest.Options{Docker: dockFunc(func(context.Context, app.DockRequest) (app.DockResult, error) {
		return app.DockResult{Scores: []app.Score{{Pose: 1, Affinity: -9}}, EngineVersion: "1.2.3"}, nil
	})})
	org, admin := env.NewOrg(t)
	f := &fixture{env: env, org: org, user: env.NewUser(t, admin, domain.RoleStandard),
		h: handler{dead: env.DeadLetters, decode: sqsqueue.DecodeJobMessage, log: apptest.Quiet}}
	mol := func(format, content string) string {
		m, err := env.Molecules.CreateMolecule(context.Background(), f.user.Principal, app.NewMoleculeInput{Name: format, Format: format, Content: []byte(content)})
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	rec := apitest.Testdata(t, "1iep/1iep_receptor.pdbqt")
	f.receptor, f.ligand = mol("pdbqt", string(rec)), mol("smi", "CCO ethanol\n")
	return f
}

func (f *fixture) newJob(t *testing.T, seed int64) *domain.Job {
	t.Helper()
	res, err := f.env.Jobs.CreateJob(context.Background(), f.user.Principal, app.CreateJobInput{PipelineID: domain.BuiltinPipelineID,
		Receptor: f.receptor, Ligand: f.ligand,
		Params: domain.VinaParamsPatch{Center: &[3]float64{1, 2, 3}, Size: &[3]float64{20, 20, 20}, Seed: &seed}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

func (f *fixture) job(t *testing.T, id string) *domain.Job {
	t.Helper()
	j, err := f.env.Jobs.GetJob(context.Background(), f.user.Principal, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *fixture) handle(t *testing.T, ev events.SQSEvent) []string {
	t.Helper()
	resp, err := f.h.handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	return apitest.Failures(resp)
}

func TestDeadLetterFailsJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	job := f.newJob(t, 1)
	ev := dlqEvent(t, jobBody(job.ID, f.org.ID))
	if ids := f.handle(t, ev); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}
	j := f.job(t, job.ID)
	if j.Status != domain.JobFailed || !strings.Contains(j.Error, "dead-letter") || j.FinishedAt == nil {
		t.Fatalf("job %s, error %q", j.Status, j.Error)
	}
	evs, err := f.env.Jobs.JobEvents(context.Background(), f.user.Principal, job.ID)
	if err != nil || evs[len(evs)-1].Event != domain.EventFailed {
		t.Fatalf("events %+v (%v)", evs, err)
	}
	audit, err := f.env.Admin.ListAudit(context.Background(), domain.Principal{SubjectID: domain.NewID(), SubjectType: domain.SubjectUser,
		Roles: []domain.Role{domain.RoleRoot}}, app.AuditQuery{OrgID: f.org.ID, Action: string(domain.AuditJobFailed)}, app.Page{Limit: 10})
	if err != nil || len(audit.Items) != 1 || audit.Items[0].JobID != job.ID || audit.Items[0].ActorID != "dlq" {
		t.Fatalf("audit %+v (%v)", audit.Items, err)
	}

	// A second delivery changes nothing.
	if ids := f.handle(t, ev); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}

	// Through the Lambda runtime's JSON.
	apitest.RequireRuntimeAcks(t, f.h.handle, ev)
}

// TestDeadLetterLeavesFinishedJobs: a message that reached the DLQ after
// its job finished (a late duplicate) does not undo the result.
func TestDeadLetterLeavesFinishedJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	job := f.newJob(t, 2)
	if err := f.env.Engine.Process(context.Background(), app.JobMessage{JobID: job.ID, OrgID: f.org.ID}, 1); err != nil {
		t.Fatal(err)
	}
	if ids := f.handle(t, dlqEvent(t, jobBody(job.ID, f.org.ID))); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}
	if j := f.job(t, job.ID); j.Status != domain.JobCompleted {
		t.Fatalf("completed job became %s", j.Status)
	}

	// Another org's id with this job: not found there, acknowledged.
	other := domain.NewID()
	if ids := f.handle(t, dlqEvent(t, jobBody(job.ID, other))); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}
}

func TestDeadLetterAcknowledgesUndecodable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, body := range []string{"", "Hello from SQS!", `{"job_id":"x"}`, jobBody(domain.NewID(), f.org.ID)} {
		if ids := f.handle(t, dlqEvent(t, body)); len(ids) != 0 {
			t.Fatalf("body %q: batchItemFailures %v", body, ids)
		}
	}
}

type processFunc func(ctx context.Context, msg app.JobMessage, receiveCount int) error

func (f processFunc) Process(ctx context.Context, msg app.JobMessage, receiveCount int) error {
	return f(ctx, msg, receiveCount)
}

// TestDeadLetterRetriesTransientFailures: when the job cannot be marked
// (the database is down), the message stays for another try.
func TestDeadLetterRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	var got []app.JobMessage
	h := handler{decode: sqsqueue.DecodeJobMessage, log: apptest.Quiet, dead: processFunc(func(_ context.Context, m app.JobMessage, n int) error {
		got = append(got, m)
		return errors.New("connection refused")
	})}
	job, org := domain.NewID(), domain.NewID()
	ev := dlqEvent(t, jobBody(job, org))
	resp, err := h.handle(context.Background(), ev)
	if err != nil || !slices.Equal(apitest.Failures(resp), []string{ev.Records[0].MessageId}) {
		t.Fatalf("handle = %v, %v", apitest.Failures(resp), err)
	}
	if len(got) != 1 || got[0] != (app.JobMessage{JobID: job, OrgID: org}) {
		t.Fatalf("processed %+v", got)
	}
}
