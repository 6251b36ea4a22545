package domain

import (
	"testing"
	"time"
)

func newTestJob(st JobStatus) *Job {
	return &Job{ID: NewID(), OrgID: NewID(), Status: st}
}

// apply performs the transition "to" through the method that owns it.
func apply(j *Job, to JobStatus, t time.Time) error {
	switch to {
	case JobQueued:
		// MarkQueued is a no-op outside PENDING by design; use transition
		// to test the raw machine.
		return j.transition(JobQueued, t)
	case JobRunning:
		return j.transition(JobRunning, t)
	case JobCompleted:
		return j.Complete(t, nil)
	case JobFailed:
		return j.Fail(t, "reason", nil)
	case JobCancelled:
		return j.Cancel(t, "someone")
	case JobPending:
		return j.transition(JobPending, t)
	}
	return nil
}

func TestEveryJobTransitionIsAllowedOrRefusedAsSpecified(t *testing.T) {
	allowed := map[[2]JobStatus]bool{
		{JobPending, JobQueued}: true, {JobPending, JobRunning}: true, {JobPending, JobFailed}: true, {JobPending, JobCancelled}: true,
		{JobQueued, JobRunning}: true, {JobQueued, JobFailed}: true, {JobQueued, JobCancelled}: true,
		{JobRunning, JobRunning}: true, {JobRunning, JobCompleted}: true, {JobRunning, JobFailed}: true, {JobRunning, JobCancelled}: true,
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, from := range JobStatuses {
		for _, to := range JobStatuses {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				t.Parallel()
				want := allowed[[2]JobStatus{from, to}]
				if got := CanTransition(from, to); got != want {
					t.Fatalf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
				}
				j := newTestJob(from)
				err := apply(j, to, now)
				if want {
					if err != nil {
						t.Fatalf("allowed transition refused: %v", err)
					}
					if j.Status != to {
						t.Fatalf("status after transition = %s, want %s", j.Status, to)
					}
					return
				}
				if err == nil {
					t.Fatalf("illegal transition %s -> %s accepted", from, to)
				}
				if ErrorCode(err) != CodeConflict {
					t.Fatalf("illegal transition error code = %s, want CONFLICT", ErrorCode(err))
				}
				if j.Status != from {
					t.Fatalf("status changed to %s by a refused transition", j.Status)
				}
			})
		}
	}
}

func TestTerminalStatusesHaveNoWayOut(t *testing.T) {
	for _, s := range JobStatuses {
		if s.Terminal() && len(transitions[s]) != 0 {
			t.Errorf("terminal status %s has transitions %v", s, transitions[s])
		}
		if s.Terminal() == s.Active() {
			t.Errorf("%s is both or neither terminal and active", s)
		}
	}
}

func TestJobLifecycleRecordsEventsInOrder(t *testing.T) {
	t0 := time.Now()
	j := NewJob(NewID(), NewID(), NewID(), Pipeline{ID: BuiltinPipelineID, Version: "1"}, JobInputs{}, VinaParams{}, "sig", t0)
	if err := j.MarkQueued(t0); err != nil {
		t.Fatal(err)
	}
	ok, err := j.Claim(t0, 1)
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	ok, err = j.Claim(t0, 2)
	if err != nil || !ok {
		t.Fatalf("retry claim: %v %v", ok, err)
	}
	if err := j.Complete(t0, nil); err != nil {
		t.Fatal(err)
	}
	var got []JobEventType
	for _, e := range j.TakeEvents() {
		got = append(got, e.Event)
	}
	want := []JobEventType{EventCreated, EventQueued, EventStarted, EventRetry, EventTaskCompleted, EventCompleted}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if j.Attempts != 2 || j.StartedAt == nil || j.FinishedAt == nil {
		t.Fatalf("attempts %d started %v finished %v", j.Attempts, j.StartedAt, j.FinishedAt)
	}
	if len(j.TakeEvents()) != 0 {
		t.Fatal("TakeEvents did not clear the pending events")
	}
}

func TestClaimOfAFinishedJobIsASkipNotAnError(t *testing.T) {
	for _, st := range []JobStatus{JobCompleted, JobFailed, JobCancelled} {
		j := newTestJob(st)
		ok, err := j.Claim(time.Now(), 3)
		if ok || err != nil || j.Status != st {
			t.Errorf("claim of %s job: ok=%v err=%v status=%s; want a silent skip", st, ok, err, j.Status)
		}
	}
}

func TestClaimFromPendingRecordsTheMissingQueuedEvent(t *testing.T) {
	j := NewJob(NewID(), NewID(), NewID(), Pipeline{}, JobInputs{}, VinaParams{}, "s", time.Now())
	j.TakeEvents()
	if ok, err := j.Claim(time.Now(), 1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	ev := j.TakeEvents()
	if len(ev) != 2 || ev[0].Event != EventQueued || ev[1].Event != EventStarted {
		t.Fatalf("events %+v, want QUEUED then STARTED", ev)
	}
}

func TestMarkQueuedAfterTheEngineStartedChangesNothing(t *testing.T) {
	j := newTestJob(JobRunning)
	if err := j.MarkQueued(time.Now()); err != nil || j.Status != JobRunning || len(j.TakeEvents()) != 0 {
		t.Fatalf("MarkQueued on a running job: err=%v status=%s", err, j.Status)
	}
}

func TestCancelOfAFinishedJobIsAConflict(t *testing.T) {
	for _, st := range []JobStatus{JobCompleted, JobFailed, JobCancelled} {
		if err := newTestJob(st).Cancel(time.Now(), "x"); ErrorCode(err) != CodeConflict {
			t.Errorf("cancel of %s: %v, want CONFLICT", st, err)
		}
	}
}
