package domain

import (
	"fmt"
	"time"
)

// JobStatus is the status of a docking job.
type JobStatus string

// Job statuses. COMPLETED, FAILED and CANCELLED are terminal.
const (
	JobPending   JobStatus = "PENDING"
	JobQueued    JobStatus = "QUEUED"
	JobRunning   JobStatus = "RUNNING"
	JobCompleted JobStatus = "COMPLETED"
	JobFailed    JobStatus = "FAILED"
	JobCancelled JobStatus = "CANCELLED"
)

// JobStatuses lists every status.
var JobStatuses = []JobStatus{JobPending, JobQueued, JobRunning, JobCompleted, JobFailed, JobCancelled}

// ParseJobStatus returns the status named s.
func ParseJobStatus(s string) (JobStatus, error) {
	for _, st := range JobStatuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown job status %q", s)
}

// Terminal reports whether no transition leaves s.
func (s JobStatus) Terminal() bool {
	return s == JobCompleted || s == JobFailed || s == JobCancelled
}

// Active reports whether s counts against an org's max_active_jobs.
func (s JobStatus) Active() bool {
	return s == JobPending || s == JobQueued || s == JobRunning
}

// transitions is the job state machine. PENDING -> RUNNING exists because
// the engine may receive a message before the API has recorded QUEUED;
// RUNNING -> RUNNING is a retry after SQS redelivers.
var transitions = map[JobStatus][]JobStatus{
	JobPending: {JobQueued, JobRunning, JobFailed, JobCancelled},
	JobQueued:  {JobRunning, JobFailed, JobCancelled},
	JobRunning: {JobRunning, JobCompleted, JobFailed, JobCancelled},
}

// CanTransition reports whether from -> to is allowed.
func CanTransition(from, to JobStatus) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// JobEventType names an entry of a job's event log.
type JobEventType string

// Job events, as the contract lists them.
const (
	EventCreated       JobEventType = "CREATED"
	EventQueued        JobEventType = "QUEUED"
	EventStarted       JobEventType = "STARTED"
	EventRetry         JobEventType = "RETRY"
	EventTaskCompleted JobEventType = "TASK_COMPLETED"
	EventCompleted     JobEventType = "COMPLETED"
	EventFailed        JobEventType = "FAILED"
	EventCancelled     JobEventType = "CANCELLED"
)

// JobEvent is one entry of a job's event log.
type JobEvent struct {
	Seq    int
	TS     time.Time
	Event  JobEventType
	Detail map[string]any
}

// JobInputs names the molecules a docking job uses.
type JobInputs struct {
	Receptor string // molecule id
	Ligand   string // molecule id
}

// CacheInfo says whether a job was answered from the org's result cache.
type CacheInfo struct {
	Hit            bool
	CanonicalJobID string
}

// Job is a docking job. Its status changes only through the methods below,
// which enforce the state machine and record the matching event.
type Job struct {
	ID              string
	OrgID           string
	PipelineID      string
	PipelineVersion string
	Inputs          JobInputs
	Params          VinaParams
	InputSignature  string
	Status          JobStatus
	Attempts        int
	CreatedBy       string
	CreatedAt       time.Time
	StartedAt       *time.Time
	FinishedAt      *time.Time
	UpdatedAt       time.Time
	Error           string
	Cache           CacheInfo

	// pending holds events produced by transitions and not yet stored.
	pending []JobEvent
}

// TakeEvents returns and clears the events produced since the last call;
// the repository stores them in the same transaction as the job row.
func (j *Job) TakeEvents() []JobEvent {
	ev := j.pending
	j.pending = nil
	return ev
}

func (j *Job) record(now time.Time, ev JobEventType, detail map[string]any) {
	j.pending = append(j.pending, JobEvent{TS: now, Event: ev, Detail: detail})
}

// transition applies one step of the state machine; an illegal step is a
// CONFLICT, since it means the job moved on under the caller.
func (j *Job) transition(to JobStatus, now time.Time) error {
	if !CanTransition(j.Status, to) {
		return &Error{Code: CodeConflict, Message: fmt.Sprintf("job is %s and cannot become %s", j.Status, to)}
	}
	j.Status = to
	j.UpdatedAt = now
	return nil
}

// NewJob returns a PENDING job with its CREATED event.
func NewJob(id, orgID, createdBy string, p Pipeline, in JobInputs, params VinaParams, signature string, now time.Time) *Job {
	j := &Job{
		ID: id, OrgID: orgID, PipelineID: p.ID, PipelineVersion: p.Version,
		Inputs: in, Params: params, InputSignature: signature,
		Status: JobPending, CreatedBy: createdBy, CreatedAt: now, UpdatedAt: now,
	}
	j.record(now, EventCreated, nil)
	return j
}

// NewCachedJob returns a job answered from the result cache: COMPLETED at
// once, pointing at the job whose results it shares.
func NewCachedJob(id, orgID, createdBy string, p Pipeline, in JobInputs, params VinaParams, signature, canonicalID string, now time.Time) *Job {
	j := NewJob(id, orgID, createdBy, p, in, params, signature, now)
	j.Status = JobCompleted
	j.StartedAt, j.FinishedAt = &now, &now
	j.Cache = CacheInfo{Hit: true, CanonicalJobID: canonicalID}
	j.record(now, EventCompleted, map[string]any{"cache_hit": true, "canonical_job_id": canonicalID})
	return j
}

// MarkQueued records that the job's message was sent. It is a no-op when
// the engine got there first (the job is already RUNNING or finished).
func (j *Job) MarkQueued(now time.Time) error {
	if j.Status != JobPending {
		return nil
	}
	if err := j.transition(JobQueued, now); err != nil {
		return err
	}
	j.record(now, EventQueued, nil)
	return nil
}

// Claim is the engine taking the job for an attempt. It returns false (and
// changes nothing) when the job is already terminal, so a duplicate or late
// message is acknowledged and skipped.
func (j *Job) Claim(now time.Time, receiveCount int) (bool, error) {
	if j.Status.Terminal() {
		return false, nil
	}
	prev := j.Status
	if err := j.transition(JobRunning, now); err != nil {
		return false, err
	}
	j.Attempts++
	if prev == JobPending {
		j.record(now, EventQueued, nil)
	}
	detail := map[string]any{"attempt": j.Attempts}
	if receiveCount > 0 {
		detail["receive_count"] = receiveCount
	}
	if prev == JobRunning {
		j.record(now, EventRetry, detail)
	} else {
		j.StartedAt = &now
		j.record(now, EventStarted, detail)
	}
	return true, nil
}

// Complete finishes a running job successfully.
func (j *Job) Complete(now time.Time, detail map[string]any) error {
	if err := j.transition(JobCompleted, now); err != nil {
		return err
	}
	j.FinishedAt = &now
	j.record(now, EventTaskCompleted, map[string]any{"task_name": "dock"})
	j.record(now, EventCompleted, detail)
	return nil
}

// Fail finishes the job with a reason a user can read.
func (j *Job) Fail(now time.Time, reason string, detail map[string]any) error {
	if err := j.transition(JobFailed, now); err != nil {
		return err
	}
	j.FinishedAt = &now
	j.Error = reason
	d := map[string]any{"reason": reason}
	for k, v := range detail {
		d[k] = v
	}
	j.record(now, EventFailed, d)
	return nil
}

// Cancel stops the job; finished jobs answer CONFLICT.
func (j *Job) Cancel(now time.Time, by string) error {
	if j.Status.Terminal() {
		return Errorf(CodeConflict, "job is already %s", j.Status)
	}
	if err := j.transition(JobCancelled, now); err != nil {
		return err
	}
	j.FinishedAt = &now
	j.record(now, EventCancelled, map[string]any{"by": by})
	return nil
}
