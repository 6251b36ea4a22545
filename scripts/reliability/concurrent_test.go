package reliability

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestReliabilityConcurrentCreations (issue 6): 100 job creations sent at
// once with the fake vina end as 100 terminal jobs, none lost or doubled.
func TestReliabilityConcurrentCreations(t *testing.T) {
	s := start(t, 5, withFake(t, map[string]string{"MAD_LOCAL_CONCURRENCY": "3"}))
	o := newOrg(t, s, 100)
	const n = 100
	ids := make([]string, n)
	outcomes := &tally{}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			r := o.createJob(o.admin, int64(1000+i), 1)
			outcomes.add(r.outcome())
			if r.Err == nil && r.Code == 202 {
				var out struct {
					JobID string `json:"job_id"`
				}
				if r.must(t, 202, &out); out.JobID != "" {
					ids[i] = out.JobID
				}
			}
		}()
	}
	close(gate)
	wg.Wait()
	created := time.Since(t0)
	t.Logf("%d concurrent creations in %s: %s", n, created.Round(time.Millisecond), outcomes)
	if outcomes.get("202") != n {
		t.Fatalf("want %d x 202, got %s", n, outcomes)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("job id %s answered twice", id)
		}
		seen[id] = true
	}

	db := orgDB(t, s, o.ID)
	counts := waitAllTerminal(t, db, o.ID, 5*time.Minute)
	t.Logf("all terminal %s after the last creation (%.1f jobs/s end to end): %v",
		(time.Since(t0) - created).Round(time.Millisecond), float64(n)/time.Since(t0).Seconds(), counts)
	var total int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE org_id = $1`, o.ID).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != n || counts["COMPLETED"] != n {
		t.Errorf("jobs in the database %d (%v), want %d COMPLETED", total, counts, n)
	}
	for _, p := range exactlyOnce(t, db, o.ID) {
		t.Error(p)
	}
}
