package reliability

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
)

// load is a run of job creations from concurrent clients that retry until
// each creation is accepted.
type load struct {
	jobs, clients int
	seedBase      int64
	// retryWait is the pause after a refused creation.
	retryWait time.Duration
	// onAccepted, when set, is called after each accepted creation with the
	// number accepted so far.
	onAccepted func(n int)
}

type loadResult struct {
	ids      []string
	outcomes *tally // every creation answer
	took     time.Duration
	peak     int      // the org's most active jobs seen at once
	samples  int      // how many times that was sampled
	invalid  []string // answers outside what a client may get
}

// sampleActive counts the org's active jobs in SQL (one statement, one
// MVCC snapshot) until stop closes, and returns the peak. A failed query
// (the database is down) is retried on a new connection.
func sampleActive(s *stacktest.Stack, orgID string, stop <-chan struct{}, peak, samples *atomic.Int64) {
	ctx := context.Background()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(ctx)
		}
	}()
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if conn == nil {
			c, err := pgx.Connect(ctx, s.Runtime.DatabaseURL)
			if err != nil {
				continue
			}
			if _, err := c.Exec(ctx, `SELECT set_config('app.org_id', $1, false)`, orgID); err != nil {
				c.Close(ctx)
				continue
			}
			conn = c
		}
		var n int64
		err := conn.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE org_id = $1 AND status IN ('PENDING', 'QUEUED', 'RUNNING')`, orgID).Scan(&n)
		if err != nil {
			conn.Close(ctx)
			conn = nil
			continue
		}
		samples.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
	}
}

// run sends l.jobs creations (distinct seeds, no cache) from l.clients
// clients; valid says which answers a client may get (others are
// recorded in invalid). Accepted (202) creations are not retried; any
// other answer is retried after retryWait.
func (l load) run(t *testing.T, o *org, valid func(response) bool) loadResult {
	t.Helper()
	if l.retryWait == 0 {
		l.retryWait = 100 * time.Millisecond
	}
	res := loadResult{ids: make([]string, l.jobs), outcomes: &tally{}}
	var peak, samples atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() { defer sampler.Done(); sampleActive(o.s, o.ID, stop, &peak, &samples) }()

	next := make(chan int)
	go func() {
		for i := range l.jobs {
			next <- i
		}
		close(next)
	}()
	var (
		mu       sync.Mutex
		accepted int
		wg       sync.WaitGroup
	)
	t0 := time.Now()
	for range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(o.s.URL).withToken(o.admin.token)
			for i := range next {
				for {
					r := o.createJob(c, l.seedBase+int64(i), 1)
					res.outcomes.add(r.outcome())
					if !valid(r) {
						mu.Lock()
						res.invalid = append(res.invalid, r.outcome()+": "+string(r.Body))
						mu.Unlock()
					}
					if r.Err == nil && r.Code == 202 {
						var out struct {
							JobID string `json:"job_id"`
						}
						_ = json.Unmarshal(r.Body, &out)
						mu.Lock()
						res.ids[i] = out.JobID
						accepted++
						n := accepted
						mu.Unlock()
						if l.onAccepted != nil {
							l.onAccepted(n)
						}
						break
					}
					time.Sleep(l.retryWait)
				}
			}
		}()
	}
	wg.Wait()
	res.took = time.Since(t0)
	close(stop)
	sampler.Wait()
	res.peak, res.samples = int(peak.Load()), int(samples.Load())
	return res
}

// TestReliabilityLoad: 200 creations from 16 clients against an org with
// max_active_jobs 40, fake vina. Creations are answered 202 or 429
// QUOTA_EXCEEDED only, the org never has more than 40 active jobs, and
// every job completes exactly once.
func TestReliabilityLoad(t *testing.T) {
	s := start(t, 5, withFake(t, map[string]string{"MAD_LOCAL_CONCURRENCY": "4"}))
	const quota = 40
	o := newOrg(t, s, quota)
	l := load{jobs: 200, clients: 16, seedBase: 1}
	res := l.run(t, o, func(r response) bool {
		switch r.outcome() {
		case "202", "429 QUOTA_EXCEEDED":
			return true
		}
		return false
	})
	t.Logf("200 creations accepted in %s; answers: %s; peak active %d (%d samples)", res.took.Round(time.Millisecond), res.outcomes, res.peak, res.samples)
	for _, inv := range res.invalid {
		t.Errorf("answer outside 202/429 QUOTA_EXCEEDED: %s", inv)
	}
	if res.peak > quota {
		t.Errorf("the org had %d active jobs at once, quota %d", res.peak, quota)
	}
	if res.outcomes.get("429 QUOTA_EXCEEDED") == 0 {
		t.Errorf("the quota was never reached: the load did not test it")
	}
	seen := map[string]bool{}
	for i, id := range res.ids {
		if id == "" || seen[id] {
			t.Fatalf("creation %d: job id %q missing or repeated", i, id)
		}
		seen[id] = true
	}

	db := orgDB(t, s, o.ID)
	t1 := time.Now()
	counts := waitAllTerminal(t, db, o.ID, 5*time.Minute)
	t.Logf("all terminal %s after the last acceptance (%.1f jobs/s from first creation to last completion): %v",
		time.Since(t1).Round(time.Millisecond), 200/(res.took+time.Since(t1)).Seconds(), counts)
	var total int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE org_id = $1`, o.ID).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 200 || counts["COMPLETED"] != 200 {
		t.Errorf("%d jobs in the database (%v), want 200 COMPLETED", total, counts)
	}
	for _, p := range exactlyOnce(t, db, o.ID) {
		t.Error(p)
	}
	var retried int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM job_events WHERE org_id = $1 AND event = 'RETRY'`, o.ID).Scan(&retried); err != nil {
		t.Fatal(err)
	}
	t.Logf("RETRY events under load: %d", retried)
}
