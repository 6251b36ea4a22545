package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/scripts/bench/loadgen"
)

// builtinPipeline is the built-in vina-docking pipeline.
const builtinPipeline = "00000000-0000-7000-8000-000000000001"

// jobEvent is one entry of GET /jobs/{id}/events.
type jobEvent struct {
	Seq   int    `json:"seq"`
	TS    string `json:"ts"`
	Event string `json:"event"`
}

// jobParams are the resolved parameters GET /jobs/{id} shows.
type jobParams struct {
	Center         [3]float64 `json:"center"`
	Size           [3]float64 `json:"size"`
	Exhaustiveness int        `json:"exhaustiveness"`
	NumModes       int        `json:"num_modes"`
	EnergyRange    float64    `json:"energy_range"`
	Seed           *int64     `json:"seed"`
}

// jobE2E is the docking job measured end to end, next to vina alone.
type jobE2E struct {
	JobID string `json:"job_id"` // the first run's job (the cache entry the API load hits)
	Runs  int    `json:"runs"`
	// E2ESeconds: POST sent -> COMPLETED observed by polling (median of E2ERuns).
	E2ESeconds float64   `json:"e2e_seconds"`
	E2ERuns    []float64 `json:"e2e_runs"`
	PollMS     int       `json:"poll_interval_ms"`
	// Server-side breakdown (the job's own timestamps and the engine's
	// task result), medians over the runs; events of the first run.
	ServerSeconds  float64            `json:"server_seconds"` // created_at -> finished_at
	EventOffsetsMS map[string]float64 `json:"event_offsets_ms"`
	EngineVina     float64            `json:"engine_vina_seconds"`    // vina's wall time inside the engine
	EnginePrepare  float64            `json:"engine_prepare_seconds"` // staging/conversion inside the engine
	BestAffinity   float64            `json:"best_affinity"`
	// The floor: vina run directly with the same arguments on the same
	// inputs, alternating with the end-to-end runs (ABBA).
	VinaCommand   string    `json:"vina_command"`
	VinaSeconds   float64   `json:"vina_seconds"`
	VinaRuns      []float64 `json:"vina_runs"`
	VinaMaxRSSKiB int64     `json:"vina_max_rss_kib"`
	Overhead      float64   `json:"overhead_ratio"` // (e2e - vina alone) / vina alone, medians
	// PairedOverhead compares each job with the vina run inside it
	// (median of (e2e - engine vina) / engine vina): the pipeline's share
	// without the run-to-run drift of vina itself on a shared machine.
	PairedOverhead float64 `json:"paired_overhead_ratio"`
	PairedExtra    float64 `json:"paired_extra_seconds"` // median of e2e - engine vina
	EngineCPUs     int     `json:"engine_cpus"`
	VinaPath       string  `json:"vina_path"`
	DirectAffinity string  `json:"direct_best_affinity"`
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func parseTS(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// createJob posts the tenant's 1iep request and returns the job id and
// the status code.
func createJob(ctx context.Context, t *tenant, useCache bool) (string, int, error) {
	var out struct {
		JobID string `json:"job_id"`
		Cache struct {
			Hit bool `json:"hit"`
		} `json:"cache"`
	}
	want := 202
	if useCache {
		want = 200
	}
	err := t.Admin.do(ctx, "POST", "/api/v1/pipelines/"+builtinPipeline+"/jobs?use_cache="+strconv.FormatBool(useCache), t.jobRequest(), want, &out)
	return out.JobID, want, err
}

// oneJob is one end-to-end run.
type oneJob struct {
	id                  string
	e2e, server         float64
	vina, prepare, best float64
	events              map[string]float64
	params              jobParams
}

// runJob creates one docking job that runs (use_cache=false) and polls
// its status until COMPLETED.
func runJob(ctx context.Context, t *tenant, poll time.Duration) (*oneJob, error) {
	r := &oneJob{}
	var created struct {
		JobID string `json:"job_id"`
	}
	t0 := time.Now()
	if err := t.Admin.do(ctx, "POST", "/api/v1/pipelines/"+builtinPipeline+"/jobs?use_cache=false", t.jobRequest(), 202, &created); err != nil {
		return nil, err
	}
	r.id = created.JobID
	deadline := t0.Add(5 * time.Minute)
	for {
		var st struct {
			Status string `json:"status"`
		}
		if err := t.Admin.do(ctx, "GET", "/api/v1/jobs/"+r.id+"/status", nil, 200, &st); err != nil {
			return nil, err
		}
		if st.Status == "COMPLETED" {
			r.e2e = time.Since(t0).Seconds()
			break
		}
		if st.Status == "FAILED" || st.Status == "CANCELLED" {
			return nil, fmt.Errorf("job %s ended %s", r.id, st.Status)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("job %s not COMPLETED within 5 minutes (last %s)", r.id, st.Status)
		}
		time.Sleep(poll)
	}
	var job struct {
		Params     jobParams `json:"params"`
		CreatedAt  string    `json:"created_at"`
		FinishedAt *string   `json:"finished_at"`
	}
	if err := t.Admin.do(ctx, "GET", "/api/v1/jobs/"+r.id, nil, 200, &job); err != nil {
		return nil, err
	}
	r.params = job.Params
	if job.FinishedAt != nil {
		r.server = parseTS(*job.FinishedAt).Sub(parseTS(job.CreatedAt)).Seconds()
	}
	var evs []jobEvent
	if err := t.Admin.do(ctx, "GET", "/api/v1/jobs/"+r.id+"/events", nil, 200, &evs); err != nil {
		return nil, err
	}
	r.events = map[string]float64{}
	created0 := parseTS(job.CreatedAt)
	for _, e := range evs {
		if _, dup := r.events[e.Event]; !dup {
			r.events[e.Event] = float64(parseTS(e.TS).Sub(created0).Microseconds()) / 1000
		}
	}
	var res struct {
		Scores []struct {
			Affinity float64 `json:"affinity"`
		} `json:"scores"`
		TaskResults []struct {
			ResultData map[string]any `json:"result_data"`
		} `json:"task_results"`
	}
	if err := t.Admin.do(ctx, "GET", "/api/v1/jobs/"+r.id+"/results", nil, 200, &res); err != nil {
		return nil, err
	}
	if len(res.TaskResults) > 0 {
		d := res.TaskResults[0].ResultData
		r.vina, _ = d["vina_seconds"].(float64)
		r.prepare, _ = d["prepare_seconds"].(float64)
	}
	for i, s := range res.Scores {
		if i == 0 || s.Affinity < r.best {
			r.best = s.Affinity
		}
	}
	return r, nil
}

// vinaArgs mirrors shared/vina's argument list for the job's resolved
// parameters and the engine's CPU count.
func vinaArgs(p jobParams, cpus int) []string {
	fl := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	args := []string{"--receptor", "receptor.pdbqt", "--ligand", "ligand.pdbqt",
		"--center_x", fl(p.Center[0]), "--center_y", fl(p.Center[1]), "--center_z", fl(p.Center[2]),
		"--size_x", fl(p.Size[0]), "--size_y", fl(p.Size[1]), "--size_z", fl(p.Size[2]),
		"--exhaustiveness", strconv.Itoa(p.Exhaustiveness), "--num_modes", strconv.Itoa(p.NumModes),
		"--energy_range", fl(p.EnergyRange), "--cpu", strconv.Itoa(cpus)}
	if p.Seed != nil {
		args = append(args, "--seed", strconv.FormatInt(*p.Seed, 10))
	}
	return append(args, "--out", "out.pdbqt")
}

// runVina runs vina in a fresh work directory holding the inputs under
// the engine's file names; it returns the wall time, the peak RSS and the
// best affinity of vina's table.
func runVina(ctx context.Context, path string, args []string, receptor, ligand []byte) (float64, int64, string, error) {
	work, err := os.MkdirTemp("", "mad-bench-vina-")
	if err != nil {
		return 0, 0, "", err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "receptor.pdbqt"), receptor, 0o644); err != nil {
		return 0, 0, "", err
	}
	if err := os.WriteFile(filepath.Join(work, "ligand.pdbqt"), ligand, 0o644); err != nil {
		return 0, 0, "", err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = work
	v0 := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(v0).Seconds()
	if err != nil {
		return 0, 0, "", fmt.Errorf("%s %s: %w\n%s", path, strings.Join(args, " "), err, out)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	best := ""
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "1" {
			best = f[1]
			break
		}
	}
	return wall, rss, best, nil
}

// measureJob alternates end-to-end docking jobs and direct vina runs
// (e2e, vina, vina, e2e, ...: drift in the machine's load hits both
// sides alike) and reports medians.
func measureJob(ctx context.Context, t *tenant, engineEnv []string, receptor, ligand []byte, poll time.Duration, runs int, progress io.Writer) (*jobE2E, error) {
	r := &jobE2E{PollMS: int(poll.Milliseconds()), Runs: runs}
	r.VinaPath = envValue(engineEnv, "MAD_VINA_PATH")
	if r.VinaPath == "" {
		r.VinaPath = "vina"
	}
	r.EngineCPUs = runtime.NumCPU()
	if v, err := strconv.Atoi(envValue(engineEnv, "MAD_ENGINE_CPUS")); err == nil && v > 0 {
		r.EngineCPUs = v
	}
	var jobs []*oneJob
	e2e := func() error {
		j, err := runJob(ctx, t, poll)
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
		r.E2ERuns = append(r.E2ERuns, j.e2e)
		fmt.Fprintf(progress, "  job %s: %.2f s end to end (vina inside %.2f s)\n", j.id, j.e2e, j.vina)
		return nil
	}
	direct := func() error {
		if len(jobs) == 0 {
			return fmt.Errorf("vina alone before any job")
		}
		args := vinaArgs(jobs[0].params, r.EngineCPUs)
		r.VinaCommand = r.VinaPath + " " + strings.Join(args, " ")
		wall, rss, best, err := runVina(ctx, r.VinaPath, args, receptor, ligand)
		if err != nil {
			return err
		}
		r.VinaRuns = append(r.VinaRuns, wall)
		r.VinaMaxRSSKiB, r.DirectAffinity = max(r.VinaMaxRSSKiB, rss), best
		fmt.Fprintf(progress, "  vina alone: %.2f s\n", wall)
		return nil
	}
	for i := range runs {
		order := []func() error{e2e, direct}
		if i%2 == 1 {
			order = []func() error{direct, e2e}
		}
		for _, f := range order {
			if err := f(); err != nil {
				return nil, err
			}
		}
	}
	r.JobID, r.EventOffsetsMS, r.BestAffinity = jobs[0].id, jobs[0].events, jobs[0].best
	var server, vina, prep []float64
	for _, j := range jobs {
		server, vina, prep = append(server, j.server), append(vina, j.vina), append(prep, j.prepare)
	}
	r.E2ESeconds, r.VinaSeconds = median(r.E2ERuns), median(r.VinaRuns)
	r.ServerSeconds, r.EngineVina, r.EnginePrepare = median(server), median(vina), median(prep)
	r.Overhead = (r.E2ESeconds - r.VinaSeconds) / r.VinaSeconds
	var paired, extra []float64
	for _, j := range jobs {
		if j.vina > 0 {
			paired, extra = append(paired, (j.e2e-j.vina)/j.vina), append(extra, j.e2e-j.vina)
		}
	}
	r.PairedOverhead, r.PairedExtra = median(paired), median(extra)
	return r, nil
}

// throughput is the queue's throughput with the stand-in engine.
type throughput struct {
	Jobs          int     `json:"jobs"`
	Clients       int     `json:"clients"`
	EngineConc    int     `json:"engine_concurrency"` // engine instances = SQS pollers
	FakeSleepMS   float64 `json:"fake_vina_sleep_ms"`
	CreateSeconds float64 `json:"create_seconds"` // first POST -> last 202
	CreateErrors  int     `json:"create_errors"`
	FirstError    string  `json:"first_error,omitempty"`
	TotalSeconds  float64 `json:"total_seconds"` // first POST -> last finished_at
	JobsPerSecond float64 `json:"jobs_per_second"`
	Completed     int     `json:"completed"`
	Failed        int     `json:"failed"`
	// Per-job latency created_at -> finished_at, from the rows.
	LatencyP50 float64 `json:"latency_p50_seconds"`
	LatencyP95 float64 `json:"latency_p95_seconds"`
	LatencyMax float64 `json:"latency_max_seconds"`
	// Ceiling is what the engine stand-in alone allows: instances / sleep.
	Ceiling float64 `json:"ceiling_jobs_per_second"`
	// PerJobCost is the pipeline's cost per job and engine instance
	// beyond the stand-in's sleep: concurrency / (jobs/s) - sleep.
	PerJobCostMS float64 `json:"per_job_cost_ms"`
	VinaPath     string  `json:"vina_path"`
	// Where a job's time goes (medians over the jobs, from their rows):
	// waiting in the queue (created -> started), inside the engine
	// (started -> finished), of which the stand-in vina process and the
	// staging/conversion (obabel) the engine reports; the rest of the
	// engine's time is its database and S3 work. Cycle is one engine
	// instance's time per job (concurrency / throughput); Gap = Cycle -
	// Engine is the poller's share (SQS receive/delete, the emulator hop).
	QueueWaitP50 float64 `json:"queue_wait_p50_ms"`
	EngineP50    float64 `json:"engine_p50_ms"`
	VinaP50      float64 `json:"vina_p50_ms"`
	PrepareP50   float64 `json:"prepare_p50_ms"`
	CycleMS      float64 `json:"cycle_ms"`
	// SQS is the queue's own floor on the same endpoint (sqsfloor.go).
	SQS *sqsFloor `json:"sqs_floor,omitempty"`
}

// measureThroughput creates n jobs (no cache) from clients concurrent
// clients as fast as the API takes them and waits until every one is
// terminal, watching the org's rows in the database.
func measureThroughput(ctx context.Context, t *tenant, dbURL string, n, clients, engineConc int, sleep time.Duration, vinaPath string) (*throughput, error) {
	r := &throughput{Jobs: n, Clients: clients, EngineConc: engineConc, FakeSleepMS: float64(sleep.Milliseconds()), VinaPath: vinaPath}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT set_config('app.org_id', $1, false)`, t.OrgID); err != nil {
		return nil, err
	}
	t0 := time.Now()
	res := loadgen.Run(ctx, clients, n, 0, func(ctx context.Context) error {
		_, _, err := createJob(ctx, t, false)
		return err
	})
	r.CreateSeconds = res.Wall.Seconds()
	r.CreateErrors, r.FirstError = res.Errors, res.FirstErr
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var done, failed, total int
		if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'COMPLETED'),
			count(*) FILTER (WHERE status IN ('FAILED', 'CANCELLED')), count(*) FROM jobs WHERE org_id = $1 AND NOT cache_hit`,
			t.OrgID).Scan(&done, &failed, &total); err != nil {
			return nil, err
		}
		r.Completed, r.Failed = done, failed
		if done+failed >= total {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d jobs terminal after 5 minutes", done+failed, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rows, err := conn.Query(ctx, `SELECT j.created_at, j.started_at, j.finished_at,
			COALESCE((r.task_results->0->'result_data'->>'vina_seconds')::float8, 0),
			COALESCE((r.task_results->0->'result_data'->>'prepare_seconds')::float8, 0)
		FROM jobs j LEFT JOIN job_results r ON r.org_id = j.org_id AND r.job_id = j.id
		WHERE j.org_id = $1 AND NOT j.cache_hit AND j.finished_at IS NOT NULL`, t.OrgID)
	if err != nil {
		return nil, err
	}
	var lat, wait, engine, vina, prep []float64
	var last time.Time
	for rows.Next() {
		var c, f time.Time
		var s *time.Time
		var v, p float64
		if err := rows.Scan(&c, &s, &f, &v, &p); err != nil {
			return nil, err
		}
		lat = append(lat, f.Sub(c).Seconds())
		if s != nil {
			wait = append(wait, float64(s.Sub(c).Microseconds())/1000)
			engine = append(engine, float64(f.Sub(*s).Microseconds())/1000)
		}
		vina, prep = append(vina, v*1000), append(prep, p*1000)
		if f.After(last) {
			last = f
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r.QueueWaitP50, r.EngineP50, r.VinaP50, r.PrepareP50 = median(wait), median(engine), median(vina), median(prep)
	slices.Sort(lat)
	if len(lat) > 0 {
		r.LatencyP50 = lat[(len(lat)-1)/2]
		r.LatencyP95 = lat[min(len(lat)-1, int(float64(len(lat))*0.95))]
		r.LatencyMax = lat[len(lat)-1]
	}
	r.TotalSeconds = last.Sub(t0).Seconds()
	if r.TotalSeconds > 0 {
		r.JobsPerSecond = float64(r.Completed) / r.TotalSeconds
	}
	if sleep > 0 {
		r.Ceiling = float64(engineConc) / sleep.Seconds()
	}
	if r.JobsPerSecond > 0 {
		r.CycleMS = float64(engineConc) / r.JobsPerSecond * 1000
		r.PerJobCostMS = r.CycleMS - float64(sleep.Milliseconds())
	}
	return r, nil
}
