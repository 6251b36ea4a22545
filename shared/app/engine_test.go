package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// jobRows counts what the engine writes for a job.
type jobRows struct {
	results, artifacts, cache, events, completedAudits int
}

func rowsOf(t *testing.T, env *apptest.Env, orgID, jobID string) jobRows {
	t.Helper()
	return jobRows{
		results:         count(t, env, orgID, `SELECT count(*) FROM job_results WHERE job_id = $1`, jobID),
		artifacts:       count(t, env, orgID, `SELECT count(*) FROM artifacts WHERE job_id = $1`, jobID),
		cache:           count(t, env, orgID, `SELECT count(*) FROM result_cache WHERE job_id = $1`, jobID),
		events:          count(t, env, orgID, `SELECT count(*) FROM job_events WHERE job_id = $1`, jobID),
		completedAudits: count(t, env, orgID, `SELECT count(*) FROM audit_log WHERE job_id = $1 AND action = 'job.completed'`, jobID),
	}
}

func TestEngineCompletesAJobOnce(t *testing.T) {
	t.Parallel()
	docker, runs := cannedDocker(t)
	env := apptest.New(t, apptest.Options{Docker: docker})
	org, admin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)
	job := newJob(t, env, admin, jobRequest(rec, lig))

	ok(t, process(env, job, 1))
	done := getJob(t, env, org.ID, job.ID)
	if done.Status != domain.JobCompleted || done.Attempts != 1 || done.StartedAt == nil || done.FinishedAt == nil || done.Error != "" {
		t.Fatalf("job %+v", done)
	}
	want := []domain.JobEventType{domain.EventCreated, domain.EventQueued, domain.EventStarted, domain.EventTaskCompleted, domain.EventCompleted}
	if got := events(t, env, org.ID, job.ID); !sameEvents(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	rows := rowsOf(t, env, org.ID, job.ID)
	if rows != (jobRows{results: 1, artifacts: 4, cache: 1, events: 5, completedAudits: 1}) {
		t.Fatalf("rows %+v", rows)
	}
	for name := range domain.JobArtifacts {
		requireKMS(t, env, env.AWS.Buckets.Artifacts, domain.JobArtifactKey(org.ID, job.ID, name))
	}
	for _, action := range []domain.AuditAction{domain.AuditJobStarted, domain.AuditJobCompleted} {
		e := auditFor(t, env, org.ID, action, job.ID)
		if len(e) != 1 || e[0].ActorType != domain.SubjectSystem || e[0].JobID != job.ID {
			t.Fatalf("%s entries %+v", action, e)
		}
	}
	res, err := env.Jobs.JobResults(ctx, admin.Principal, job.ID)
	ok(t, err)
	if len(res.Scores) == 0 || res.Tasks[0].ResultData["best_affinity"] != res.Scores[0].Affinity {
		t.Fatalf("results %+v", res)
	}
	resultJSON, err := env.AWS.Objects.GetObject(ctx, domain.JobArtifactKey(org.ID, job.ID, "result.json"), 1<<20)
	ok(t, err)
	if !strings.Contains(string(resultJSON), `"job_id": "`+job.ID+`"`) || !strings.Contains(string(resultJSON), "-13.234") {
		t.Fatalf("result.json: %s", resultJSON)
	}

	t.Run("a redelivered message after completion writes nothing", func(t *testing.T) {
		audit := count(t, env, org.ID, `SELECT count(*) FROM audit_log`)
		ok(t, process(env, job, 2))
		if again := rowsOf(t, env, org.ID, job.ID); again != rows {
			t.Fatalf("rows %+v after redelivery, want %+v", again, rows)
		}
		if n := count(t, env, org.ID, `SELECT count(*) FROM audit_log`); n != audit {
			t.Fatalf("audit grew from %d to %d", audit, n)
		}
		if *runs != 1 {
			t.Fatalf("docked %d times", *runs)
		}
		if j := getJob(t, env, org.ID, job.ID); j.Attempts != 1 || j.Status != domain.JobCompleted {
			t.Fatalf("job %+v", j)
		}
	})
	t.Run("a message for an unknown job is acknowledged", func(t *testing.T) {
		ok(t, env.Engine.Process(ctx, app.JobMessage{JobID: domain.NewID(), OrgID: org.ID}, 1))
	})
	t.Run("a message naming the wrong org finds nothing", func(t *testing.T) {
		other, _ := env.NewOrg(t)
		ok(t, env.Engine.Process(ctx, app.JobMessage{JobID: job.ID, OrgID: other.ID}, 1))
		if again := rowsOf(t, env, org.ID, job.ID); again != rows {
			t.Fatalf("rows %+v", again)
		}
	})
}

// flaky fails its first n runs with a transient error.
func flaky(t *testing.T, n int) *fakeDocker {
	res := canned(t)
	var mu sync.Mutex
	calls := 0
	return &fakeDocker{dock: func(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= n {
			return app.DockResult{}, errors.New("vina: killed by signal 9 (out of memory)")
		}
		return res, nil
	}}
}

func TestEngineRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{Docker: flaky(t, 1)})
	org, admin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)
	job := newJob(t, env, admin, jobRequest(rec, lig))

	if err := process(env, job, 1); err == nil {
		t.Fatal("a transient failure was acknowledged; SQS would not redeliver")
	}
	if j := getJob(t, env, org.ID, job.ID); j.Status != domain.JobRunning || j.Attempts != 1 {
		t.Fatalf("after a transient failure: %+v", j)
	}
	ok(t, process(env, job, 2))
	j := getJob(t, env, org.ID, job.ID)
	if j.Status != domain.JobCompleted || j.Attempts != 2 {
		t.Fatalf("after the retry: %+v", j)
	}
	want := []domain.JobEventType{domain.EventCreated, domain.EventQueued, domain.EventStarted, domain.EventRetry, domain.EventTaskCompleted, domain.EventCompleted}
	if got := events(t, env, org.ID, job.ID); !sameEvents(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if e := auditFor(t, env, org.ID, domain.AuditJobStarted, job.ID); len(e) != 1 {
		t.Fatalf("%d job.started entries, want 1", len(e))
	}
}

func TestEngineFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		err          error
		receiveCount int
		reason       string
		class        string
	}{
		{"transient error on the last attempt", errors.New("vina: killed by signal 9"), apptest.DefaultMaxReceives, "last attempt", "transient"},
		{"invalid input fails at once", fmt.Errorf("%w: ligand has no atoms", app.ErrInvalidInput), 1, "ligand has no atoms", "invalid_input"},
		{"timeout fails at once", fmt.Errorf("%w: after 600s", app.ErrDockTimeout), 1, "timeout_seconds=600", "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := apptest.New(t, apptest.Options{Docker: &fakeDocker{dock: func(context.Context, app.DockRequest) (app.DockResult, error) {
				return app.DockResult{}, tc.err
			}}})
			org, admin := env.NewOrg(t)
			rec, lig := pair(t, env, admin)
			job := newJob(t, env, admin, jobRequest(rec, lig))

			ok(t, process(env, job, tc.receiveCount)) // acknowledged: no redelivery
			j := getJob(t, env, org.ID, job.ID)
			if j.Status != domain.JobFailed || !strings.Contains(j.Error, tc.reason) || j.FinishedAt == nil {
				t.Fatalf("job %+v, want FAILED with a reason containing %q", j, tc.reason)
			}
			if evs := events(t, env, org.ID, job.ID); evs[len(evs)-1] != domain.EventFailed {
				t.Fatalf("events %v", evs)
			}
			e := auditFor(t, env, org.ID, domain.AuditJobFailed, job.ID)
			if len(e) != 1 || e[0].Outcome != domain.OutcomeFailure || e[0].Detail["class"] != tc.class {
				t.Fatalf("job.failed entries %+v", e)
			}
			if r := rowsOf(t, env, org.ID, job.ID); r.results != 0 || r.artifacts != 0 || r.cache != 0 {
				t.Fatalf("rows %+v", r)
			}
		})
	}
}

func TestEngineInputDeletedBeforeTheRun(t *testing.T) {
	t.Parallel()
	docker, runs := cannedDocker(t)
	env := apptest.New(t, apptest.Options{Docker: docker})
	org, admin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)
	job := newJob(t, env, admin, jobRequest(rec, lig))
	ok(t, env.Molecules.DeleteMolecule(ctx, admin.Principal, lig.ID))
	ok(t, process(env, job, 1))
	if j := getJob(t, env, org.ID, job.ID); j.Status != domain.JobFailed || *runs != 0 {
		t.Fatalf("job %+v after %d runs", j, *runs)
	}
}

func TestEngineJobCancelledWhileDocking(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// honour: the docker notices the cancellation and stops; otherwise
		// it finishes anyway and the engine must drop the results.
		honour bool
	}{
		{"docker stops", true},
		{"docker finishes anyway", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var env *apptest.Env
			var creator apptest.Member
			var job *domain.Job
			res := canned(t)
			docker := &fakeDocker{dock: func(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
				if _, err := env.Jobs.CancelJob(ctx, creator.Principal, job.ID); err != nil {
					return app.DockResult{}, fmt.Errorf("test: cancel: %w", err)
				}
				cancelled, err := req.Cancelled(ctx)
				if err != nil {
					return app.DockResult{}, err
				}
				if !cancelled {
					return app.DockResult{}, errors.New("test: Cancelled() reports false after CancelJob")
				}
				if tc.honour {
					return app.DockResult{}, fmt.Errorf("%w: stopped", app.ErrDockCancelled)
				}
				return res, nil
			}}
			env = apptest.New(t, apptest.Options{Docker: docker})
			org, admin := env.NewOrg(t)
			creator = env.NewUser(t, admin, domain.RoleStandard)
			rec, lig := pair(t, env, creator)
			job = newJob(t, env, creator, jobRequest(rec, lig))

			ok(t, process(env, job, 1))
			j := getJob(t, env, org.ID, job.ID)
			if j.Status != domain.JobCancelled {
				t.Fatalf("job %+v, want CANCELLED", j)
			}
			if r := rowsOf(t, env, org.ID, job.ID); r.results != 0 || r.artifacts != 0 || r.cache != 0 || r.completedAudits != 0 {
				t.Fatalf("rows %+v, want no results", r)
			}
			evs := events(t, env, org.ID, job.ID)
			if evs[len(evs)-1] != domain.EventCancelled {
				t.Fatalf("events %v", evs)
			}
			_, err := env.Jobs.JobResults(ctx, creator.Principal, job.ID)
			wantCode(t, err, domain.CodeJobNotCompleted)
		})
	}
}

func TestEngineConcurrentDeliveriesCompleteOnce(t *testing.T) {
	t.Parallel()
	res := canned(t)
	var mu sync.Mutex
	inside := 0
	both := make(chan struct{})
	docker := &fakeDocker{dock: func(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
		mu.Lock()
		inside++
		if inside == 2 {
			close(both)
		}
		mu.Unlock()
		// Hold both runs inside Dock at once when both get there; a
		// second delivery that is not let in must not hang the test.
		select {
		case <-both:
		case <-time.After(2 * time.Second):
		}
		return res, nil
	}}
	env := apptest.New(t, apptest.Options{Docker: docker})
	org, admin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)
	job := newJob(t, env, admin, jobRequest(rec, lig))

	errs := parallel(2, func(i int) error { return process(env, job, i+1) })
	for _, err := range errs {
		ok(t, err)
	}
	r := rowsOf(t, env, org.ID, job.ID)
	if r.results != 1 || r.artifacts != 4 || r.cache != 1 || r.completedAudits != 1 {
		t.Fatalf("rows %+v, want exactly one result set", r)
	}
	completed := 0
	for _, e := range events(t, env, org.ID, job.ID) {
		if e == domain.EventCompleted {
			completed++
		}
	}
	if completed != 1 {
		t.Fatalf("%d COMPLETED events", completed)
	}
	if j := getJob(t, env, org.ID, job.ID); j.Status != domain.JobCompleted {
		t.Fatalf("job %+v", j)
	}
}

// failingPuts is the object store with PutObject failing.
type failingPuts struct {
	app.ObjectStore
	put func(ctx context.Context, key string, body []byte, contentType string) error
}

func (f failingPuts) PutObject(ctx context.Context, key string, body []byte, contentType string) error {
	return f.put(ctx, key, body, contentType)
}

func TestEngineStorageFailure(t *testing.T) {
	t.Parallel()
	docker, _ := cannedDocker(t)
	env := apptest.New(t, apptest.Options{Docker: docker})
	env.Engine.Objects = failingPuts{ObjectStore: env.AWS.Objects, put: func(context.Context, string, []byte, string) error {
		return errors.New("s3: service unavailable")
	}}
	org, admin := env.NewOrg(t)
	rec, lig := pair(t, env, admin)
	job := newJob(t, env, admin, jobRequest(rec, lig))

	if err := process(env, job, 1); err == nil {
		t.Fatal("a storage failure before the last attempt was acknowledged")
	}
	if j := getJob(t, env, org.ID, job.ID); j.Status != domain.JobRunning {
		t.Fatalf("job %+v", j)
	}
	ok(t, process(env, job, apptest.DefaultMaxReceives))
	j := getJob(t, env, org.ID, job.ID)
	if j.Status != domain.JobFailed || !strings.Contains(j.Error, "could not be stored") {
		t.Fatalf("job %+v", j)
	}
	if r := rowsOf(t, env, org.ID, job.ID); r.results != 0 || r.artifacts != 0 {
		t.Fatalf("rows %+v", r)
	}
}
