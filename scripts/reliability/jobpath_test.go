package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

type faultRule struct {
	ID           int    `json:"id"`
	Method       string `json:"method,omitempty"`
	PathContains string `json:"path_contains,omitempty"`
	Count        int    `json:"count"`
	Status       int    `json:"status,omitempty"`
	Failed       int    `json:"failed"`
}

func addFault(t *testing.T, admin string, r faultRule) faultRule {
	t.Helper()
	b, _ := json.Marshal(r)
	out, err := callFaultAdmin(admin, "POST", "/faults", string(b))
	if err != nil {
		t.Fatal(err)
	}
	var got faultRule
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

func faultRules(t *testing.T, admin string) map[int]faultRule {
	t.Helper()
	out, err := callFaultAdmin(admin, "GET", "/faults", "")
	if err != nil {
		t.Fatal(err)
	}
	var rules []faultRule
	if err := json.Unmarshal(out, &rules); err != nil {
		t.Fatal(err)
	}
	m := map[int]faultRule{}
	for _, r := range rules {
		m[r.ID] = r
	}
	return m
}

// sdkAttempts is how many times the AWS SDK's standard retryer tries a
// retryable S3 error (503) before giving up: to fail an engine attempt,
// a fault must fail that many requests for one object. Rules name one
// object (the engine transfers the inputs, and the artifacts, concurrently).
const sdkAttempts = 3

// TestReliabilityS3FailsFirstAttempt: with the S3 fault proxy in front of
// the engine, the first attempt's artifact upload fails; the job records
// RETRY and then COMPLETED, with its four artifacts stored once. A single
// 503 is absorbed by the SDK's retry and costs no attempt.
func TestReliabilityS3FailsFirstAttempt(t *testing.T) {
	s := start(t, 5, withFake(t, map[string]string{"MAD_LOCAL_S3_FAULTS": "engine"}))
	admin := adminURL(t, s)
	o := newOrg(t, s, 0)

	t.Run("one 503 is retried by the SDK", func(t *testing.T) {
		r := addFault(t, admin, faultRule{Method: "PUT", PathContains: "/poses.pdbqt", Count: 1, Status: 503})
		id := o.mustCreateJob(t, 11, 1)
		j := o.waitJob(t, id, 2*time.Minute)
		if j.Status != "COMPLETED" || j.Attempts != 1 {
			t.Errorf("job %s after %d attempts, want COMPLETED on the first", j.Status, j.Attempts)
		}
		if got := faultRules(t, admin)[r.ID]; got.Failed != 1 {
			t.Errorf("rule failed %d requests, want 1", got.Failed)
		}
		wantArtifacts(t, s, o.ID, id)
	})
	t.Run("an attempt whose upload fails is retried", func(t *testing.T) {
		r := addFault(t, admin, faultRule{Method: "PUT", PathContains: "/poses.pdbqt", Count: sdkAttempts, Status: 503})
		id := o.mustCreateJob(t, 12, 1)
		j := o.waitJob(t, id, 2*time.Minute)
		evs := o.events(t, id)
		t.Logf("job %s, %d attempts, events %s", j.Status, j.Attempts, eventNames(evs))
		if j.Status != "COMPLETED" || j.Attempts != 2 || countEvents(evs, "RETRY") != 1 || countEvents(evs, "COMPLETED") != 1 {
			t.Errorf("want COMPLETED after exactly one RETRY: %s, %d attempts, %s", j.Status, j.Attempts, eventNames(evs))
		}
		if got := faultRules(t, admin)[r.ID]; got.Failed != sdkAttempts {
			t.Errorf("rule failed %d requests, want %d", got.Failed, sdkAttempts)
		}
		wantArtifacts(t, s, o.ID, id)
	})
	for _, p := range exactlyOnce(t, orgDB(t, s, o.ID), o.ID) {
		t.Error(p)
	}
}

// TestReliabilityRedeliveryAfterVisibilityTimeout (issue 3): a message
// whose first invoke fails (the engine cannot read its inputs from S3) is
// left on the queue, received again once the visibility timeout has
// passed, with ApproximateReceiveCount 2, and then processed.
func TestReliabilityRedeliveryAfterVisibilityTimeout(t *testing.T) {
	const vis = 8
	s := start(t, vis, withFake(t, map[string]string{"MAD_LOCAL_S3_FAULTS": "engine"}))
	admin := adminURL(t, s)
	o := newOrg(t, s, 0)
	r := addFault(t, admin, faultRule{Method: "GET", PathContains: "/molecules/" + o.Receptor, Count: sdkAttempts, Status: 503})
	id := o.mustCreateJob(t, 21, 1)
	j := o.waitJob(t, id, 2*time.Minute)
	evs := o.events(t, id)
	if got := faultRules(t, admin)[r.ID]; got.Failed != sdkAttempts {
		t.Errorf("rule failed %d requests, want %d", got.Failed, sdkAttempts)
	}
	var started, retry *event
	for i := range evs {
		switch evs[i].Event {
		case "STARTED":
			started = &evs[i]
		case "RETRY":
			retry = &evs[i]
		}
	}
	if j.Status != "COMPLETED" || started == nil || retry == nil {
		t.Fatalf("job %s, events %s: want STARTED, RETRY, COMPLETED", j.Status, eventNames(evs))
	}
	if fmt.Sprint(started.Detail["receive_count"]) != "1" || fmt.Sprint(retry.Detail["receive_count"]) != "2" || fmt.Sprint(retry.Detail["attempt"]) != "2" {
		t.Errorf("receive counts: STARTED %v, RETRY %v; want 1 then 2 (attempt 2)", started.Detail, retry.Detail)
	}
	gap := retry.TS.Sub(started.TS)
	t.Logf("first delivery failed; redelivered %s later (visibility timeout %ds)", gap.Round(100*time.Millisecond), vis)
	// Behaviour, not speed: the message stayed invisible for the timeout.
	if gap < time.Duration(vis-1)*time.Second {
		t.Errorf("redelivered after %s, before the %ds visibility timeout", gap, vis)
	}
	if countEvents(evs, "COMPLETED") != 1 {
		t.Errorf("events %s", eventNames(evs))
	}
	wantArtifacts(t, s, o.ID, id)
}

type auditEntry struct {
	Action  string         `json:"action"`
	JobID   string         `json:"job_id"`
	Outcome string         `json:"outcome"`
	Detail  map[string]any `json:"detail"`
}

func (o *org) failedAudit(t *testing.T, jobID string) *auditEntry {
	t.Helper()
	var list struct {
		Items []auditEntry `json:"items"`
	}
	o.admin.do("GET", "/api/v1/audit?action=job.failed&limit=200", nil).must(t, 200, &list)
	for i := range list.Items {
		if list.Items[i].JobID == jobID {
			return &list.Items[i]
		}
	}
	return nil
}

// TestReliabilityPoisonJob: a job whose every engine attempt fails
// transiently (the fake vina crashes for its seed) is delivered
// maxReceiveCount (5) times and then FAILED by the last-attempt rule with
// a readable reason and a job.failed audit entry; a healthy job next to it
// completes.
func TestReliabilityPoisonJob(t *testing.T) {
	s := start(t, 2, withFake(t, map[string]string{"FAKEVINA_FAIL": "crash", "FAKEVINA_FAIL_SEEDS": "666"}))
	o := newOrg(t, s, 0)
	poison := o.mustCreateJob(t, 666, 1)
	healthy := o.mustCreateJob(t, 7, 1)
	t0 := time.Now()
	j := o.waitJob(t, poison, 3*time.Minute)
	evs := o.events(t, poison)
	reason := ""
	if j.Error != nil {
		reason = *j.Error
	}
	t.Logf("poison job %s after %s and %d attempts: %q; events %s", j.Status, time.Since(t0).Round(100*time.Millisecond), j.Attempts, reason, eventNames(evs))
	if j.Status != "FAILED" || j.Attempts != 5 || countEvents(evs, "RETRY") != 4 || countEvents(evs, "FAILED") != 1 {
		t.Errorf("want FAILED after 5 attempts (4 RETRY): %s, %d, %s", j.Status, j.Attempts, eventNames(evs))
	}
	if !strings.Contains(reason, "last attempt (5)") || !strings.Contains(reason, "vina failed") {
		t.Errorf("reason %q does not say what happened", reason)
	}
	a := o.failedAudit(t, poison)
	if a == nil || a.Outcome != "failure" || a.Detail["reason"] != reason || a.Detail["class"] != "transient" {
		t.Errorf("job.failed audit entry %+v", a)
	}
	if h := o.waitJob(t, healthy, time.Minute); h.Status != "COMPLETED" || h.Attempts != 1 {
		t.Errorf("healthy job %s after %d attempts", h.Status, h.Attempts)
	}
}

// TestReliabilityDeadLetter: when the engine cannot even start (its vina
// is broken, so every cold start fails and no attempt runs the last-attempt
// rule), the message goes to the DLQ after maxReceiveCount receives and
// the dlq function marks the job FAILED with a reason, audited.
func TestReliabilityDeadLetter(t *testing.T) {
	s := start(t, 2, withFake(t, map[string]string{"FAKEVINA_FAIL": "version"}))
	o := newOrg(t, s, 0)
	id := o.mustCreateJob(t, 31, 1)
	t0 := time.Now()
	j := o.waitJob(t, id, 3*time.Minute)
	evs := o.events(t, id)
	reason := ""
	if j.Error != nil {
		reason = *j.Error
	}
	t.Logf("job %s after %s, %d attempts: %q; events %s", j.Status, time.Since(t0).Round(100*time.Millisecond), j.Attempts, reason, eventNames(evs))
	if j.Status != "FAILED" || !strings.Contains(reason, "dead-letter queue") {
		t.Fatalf("want FAILED by the dlq function, got %s %q", j.Status, reason)
	}
	a := o.failedAudit(t, id)
	if a == nil || a.Outcome != "failure" || a.Detail["class"] != "dead_letter" {
		t.Errorf("job.failed audit entry %+v", a)
	}
}

// TestReliabilitySweeperFinishesUnsentJob: a job committed without its
// message (a crash between the commit and the send: the row and its outbox
// entry exist, no message) is sent by the sweeper and completes.
func TestReliabilitySweeperFinishesUnsentJob(t *testing.T) {
	s := start(t, 5, withFake(t, map[string]string{"MAD_LOCAL_SWEEP_SECONDS": "5"}))
	o := newOrg(t, s, 0)
	template := o.mustCreateJob(t, 41, 1)
	if j := o.waitJob(t, template, time.Minute); j.Status != "COMPLETED" {
		t.Fatalf("template job %s", j.Status)
	}
	db := orgDB(t, s, o.ID)
	ctx := context.Background()
	id := newUUID()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO jobs (id, org_id, pipeline_id, pipeline_version, receptor_id, ligand_id, params, input_signature,
		        status, attempts, created_by, created_at, updated_at, cache_hit)
		 SELECT $1, org_id, pipeline_id, pipeline_version, receptor_id, ligand_id, params, input_signature,
		        'PENDING', 0, created_by, now() - interval '2 minutes', now() - interval '2 minutes', false
		 FROM jobs WHERE org_id = $2 AND id = $3`,
		`INSERT INTO job_events (org_id, job_id, seq, ts, event, detail)
		 SELECT org_id, $1, seq, now() - interval '2 minutes', event, detail
		 FROM job_events WHERE org_id = $2 AND job_id = $3 AND event = 'CREATED'`,
		`INSERT INTO job_outbox (job_id, org_id, created_at) SELECT $1, $2, now() - interval '2 minutes' WHERE $3::uuid IS NOT NULL`,
	} {
		tag, err := tx.Exec(ctx, q, id, o.ID, template)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("insert (%v rows): %v\n%s", tag.RowsAffected(), err, q)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	j := o.waitJob(t, id, 2*time.Minute)
	evs := o.events(t, id)
	t.Logf("unsent job %s %s after it was committed; events %s", j.Status, time.Since(t0).Round(100*time.Millisecond), eventNames(evs))
	if j.Status != "COMPLETED" || countEvents(evs, "COMPLETED") != 1 || countEvents(evs, "QUEUED") != 1 {
		t.Errorf("want COMPLETED via the sweeper (one QUEUED, one COMPLETED): %s %s", j.Status, eventNames(evs))
	}
	var left int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM job_outbox WHERE job_id = $1`, id).Scan(&left); err != nil || left != 0 {
		t.Errorf("outbox entry left: %d (%v)", left, err)
	}
	wantArtifacts(t, s, o.ID, id)
	for _, p := range exactlyOnce(t, db, o.ID) {
		t.Error(p)
	}
}

func newUUID() string {
	h := randomHex(16)
	b := []byte(h)
	b[12] = '4'
	b[16] = "89ab"[int(b[16])%4]
	return fmt.Sprintf("%s-%s-%s-%s-%s", b[0:8], b[8:12], b[12:16], b[16:20], b[20:32])
}
