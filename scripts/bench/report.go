package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// machine describes where the figures come from.
type machine struct {
	CPUModel   string  `json:"cpu_model"`
	NProc      int     `json:"nproc"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	MemGiB     float64 `json:"mem_gib"`
	Kernel     string  `json:"kernel"`
	GoVersion  string  `json:"go_version"`
	LoadStart  string  `json:"loadavg_start"`
	LoadEnd    string  `json:"loadavg_end"`
}

func readMachine() machine {
	m := machine{NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				m.MemGiB = float64(kib(strings.TrimPrefix(l, "MemTotal:"))) / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadStart = loadavg()
	return m
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// authRow is one verify path next to its floor.
type authRow struct {
	Path        string  `json:"path"`
	NsOp        float64 `json:"ns_op"`
	NsMin       float64 `json:"ns_op_min"`
	NsMax       float64 `json:"ns_op_max"`
	AllocsOp    float64 `json:"allocs_op"`
	BytesOp     float64 `json:"bytes_op"`
	Floor       string  `json:"floor"`
	FloorNs     float64 `json:"floor_ns_op"`
	FloorAllocs float64 `json:"floor_allocs_op"`
	RatioNs     float64 `json:"ratio_ns"`
	RatioAllocs float64 `json:"ratio_allocs"`
	Samples     int     `json:"samples"`
	// The ratio of the fastest samples: other work on a shared machine
	// only ever adds time, so minima show the code's own cost.
	FloorNsMin float64 `json:"floor_ns_op_min"`
	RatioNsMin float64 `json:"ratio_ns_min"`
}

// report is bench.json.
type report struct {
	Started    time.Time      `json:"started"`
	Seconds    float64        `json:"duration_seconds"`
	Command    string         `json:"command"`
	Machine    machine        `json:"machine"`
	Settings   map[string]any `json:"settings"`
	Auth       []authRow      `json:"authorizer"`
	ColdStarts []*coldStart   `json:"cold_starts"`
	API        []apiPoint     `json:"api"`
	Job        *jobE2E        `json:"job"`
	Throughput *throughput    `json:"throughput"`
	RSS        []rssRow       `json:"rss"`
	CPU        []cpuRow       `json:"cpu"`
	Notes      []string       `json:"notes"`
	Phases     []phaseTime    `json:"phases"`
}

type phaseTime struct {
	Phase   string  `json:"phase"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// rssRow is one function's memory after a load.
type rssRow struct {
	Stack string `json:"stack"` // which load ran before the reading
	functionRSS
}

// table is a titled grid rendered aligned (terminal) or as Markdown.
type table struct {
	Title string
	Head  []string
	Rows  [][]string
	Foot  []string // notes under the table
	Left  []int    // text columns (left-aligned); column 0 always is
}

// maxCell bounds a cell's width in the terminal (Markdown keeps all).
const maxCell = 72

func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxCell {
		return s
	}
	return string([]rune(s)[:maxCell-1]) + "…"
}

func (t table) text(w io.Writer) {
	rows := make([][]string, len(t.Rows))
	for i, r := range t.Rows {
		rows[i] = make([]string, len(r))
		for j, c := range r {
			rows[i][j] = clip(c)
		}
	}
	t.Rows = rows
	width := make([]int, len(t.Head))
	for i, h := range t.Head {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.Rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			pad := width[i] - utf8.RuneCountInString(c)
			if i > 0 {
				b.WriteString("  ")
			}
			if i == 0 || slices.Contains(t.Left, i) {
				b.WriteString(c + strings.Repeat(" ", pad))
			} else {
				b.WriteString(strings.Repeat(" ", pad) + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintf(w, "\n== %s\n", t.Title)
	if len(t.Head) == 0 {
		for _, f := range t.Foot {
			fmt.Fprintln(w, "   "+f)
		}
		return
	}
	line(t.Head)
	sep := make([]string, len(t.Head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, r := range t.Rows {
		line(r)
	}
	for _, f := range t.Foot {
		fmt.Fprintln(w, "   "+f)
	}
}

func (t table) markdown(w io.Writer) {
	fmt.Fprintf(w, "\n### %s\n\n", t.Title)
	if len(t.Head) == 0 {
		for _, f := range t.Foot {
			fmt.Fprintf(w, "- %s\n", f)
		}
		return
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.Head, " | "))
	al := make([]string, len(t.Head))
	for i := range al {
		al[i] = "---:"
		if i == 0 || slices.Contains(t.Left, i) {
			al[i] = "---"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(al, "|"))
	for _, r := range t.Rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	if len(t.Foot) > 0 {
		fmt.Fprintln(w)
		for _, f := range t.Foot {
			fmt.Fprintf(w, "- %s\n", f)
		}
	}
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }
func f3(v float64) string { return fmt.Sprintf("%.3f", v) }
func ratio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}
func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
func mib(k int64) string { return fmt.Sprintf("%.1f", float64(k)/1024) }
func us(ns float64) string {
	if ns >= 1e6 {
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
	return fmt.Sprintf("%.1f µs", ns/1e3)
}

// tables renders the report as the tables printed and written.
func (r *report) tables() []table {
	var ts []table
	m := r.Machine
	ts = append(ts, table{Title: "machine", Head: []string{"what", "value"}, Left: []int{1}, Rows: [][]string{
		{"CPU", fmt.Sprintf("%s, nproc %d (GOMAXPROCS %d)", m.CPUModel, m.NProc, m.GOMAXPROCS)},
		{"memory", fmt.Sprintf("%.1f GiB", m.MemGiB)},
		{"kernel / Go", m.Kernel + " / " + m.GoVersion},
		{"load average (1/5/15 min) at start / end", m.LoadStart + " / " + m.LoadEnd},
		{"command", r.Command},
		{"started / duration", fmt.Sprintf("%s / %.0f s", r.Started.Format(time.RFC3339), r.Seconds)},
	}})

	if len(r.Auth) > 0 {
		t := table{Title: fmt.Sprintf("1. authorizer: verify path vs its floor (%d interleaved rounds; ratio = path / floor)", r.Auth[0].Samples),
			Head: []string{"path", "time/op median", "(min..max)", "allocs/op", "B/op", "floor", "floor time/op median", "(min)", "floor allocs/op",
				"time ratio of medians", "of minima", "allocs ratio"}, Left: []int{5}}
		for _, a := range r.Auth {
			t.Rows = append(t.Rows, []string{a.Path, us(a.NsOp), us(a.NsMin) + ".." + us(a.NsMax), fmt.Sprintf("%.0f", a.AllocsOp),
				fmt.Sprintf("%.0f", a.BytesOp), a.Floor, us(a.FloorNs), us(a.FloorNsMin), fmt.Sprintf("%.0f", a.FloorAllocs),
				ratio(a.RatioNs), ratio(a.RatioNsMin), ratio(a.RatioAllocs)})
		}
		t.Foot = []string{"Verify = jwtauth.Verifier.Verify (size check, key set, kid, signature, registered claims, Claims.Validate, token_use); floor = jwt.Parse into MapClaims with a fixed key.",
			"RS256/ES256 keys live in moto KMS; verification uses the cached public keys (no KMS call per request).",
			"Authorize = app.Authorizer.Authorize: Verify + one indexed Postgres query (token state) sent with its tenant setting in one round trip (Store.Read), over TCP to the local cluster."}
		ts = append(ts, t)
	}

	if len(r.ColdStarts) > 0 {
		var hello *coldStart
		for _, c := range r.ColdStarts {
			if c.Function == "hello" {
				hello = c
			}
		}
		t := table{Title: fmt.Sprintf("2. cold start under aws-lambda-rie: process start -> first answered invocation (median of %d)", len(r.ColdStarts[0].StartsMS)),
			Head: []string{"function", "cold start ms median", "(min..max)", "emulator listening ms", "x hello (medians)", "(minima)", "warm invoke p50 ms", "binary MB", "x hello", "RSS after init MiB", "x hello", "first invocation"}, Left: []int{11}}
		for _, c := range r.ColdStarts {
			lo, hi := 0.0, 0.0
			if len(c.StartsMS) > 0 {
				lo, hi = slices.Min(c.StartsMS), slices.Max(c.StartsMS)
			}
			var rc, rcMin, rs, rr float64
			if hello != nil {
				rc, rs, rr = div(c.MedianMS, hello.MedianMS), div(float64(c.SizeBytes), float64(hello.SizeBytes)), div(float64(c.InitRSSKiB), float64(hello.InitRSSKiB))
				if len(hello.StartsMS) > 0 {
					rcMin = div(lo, slices.Min(hello.StartsMS))
				}
			}
			oc := c.Outcome
			if !c.OK {
				oc = "FAILED: " + oc
			}
			t.Rows = append(t.Rows, []string{c.Function, f1(c.MedianMS), f1(lo) + ".." + f1(hi), f1(c.ListenMed), ratio(rc), ratio(rcMin), f2(c.WarmP50MS),
				f1(float64(c.SizeBytes) / 1e6), ratio(rs), mib(c.InitRSSKiB), ratio(rr), oc})
		}
		t.Foot = []string{"hello = scripts/bench/hello, an aws-lambda-go function doing nothing, built with the same flags (-tags lambda.norpc -trimpath -ldflags='-s -w').",
			"Each function runs with its environment from the running stack's runtime.json, so init really reads Secrets Manager (moto) and opens its Postgres pool.",
			"The emulator starts the runtime on the first invoke, as Lambda does on a cold invoke; 'emulator listening' is the part before that.",
			"warm invoke = the same event again through the same emulator (median of 50 after the first start): one emulator hop plus the handler; hello's is the hop alone."}
		ts = append(ts, t)
	}

	if len(r.API) > 0 {
		get := func(route, layer string, c int) *apiPoint {
			for i := range r.API {
				p := &r.API[i]
				if p.Route == route && p.Layer == layer && p.Clients == c {
					return p
				}
			}
			return nil
		}
		t := table{Title: "3. API: gateway vs the same handler in-process vs its SQL (closed loop, c concurrent clients)",
			Head: []string{"route", "c", "gateway p50/p95/p99 ms", "gateway req/s", "in-process p50/p95/p99 ms", "in-process req/s", "SQL p50/p95/p99 ms", "SQL req/s", "SQL statements / round trips",
				"p50 gw/in-proc", "p50 in-proc/SQL", "req/s in-proc/gw", "req/s SQL/in-proc"}}
		for _, route := range []string{"status", "create-cache-hit"} {
			for _, c := range clientsOf(r.API) {
				g, ip, s := get(route, "gateway", c), get(route, "inprocess", c), get(route, "sql", c)
				if g == nil && ip == nil {
					continue
				}
				cell := func(p *apiPoint) (string, string, float64, float64) {
					if p == nil {
						return "-", "-", 0, 0
					}
					e := ""
					if p.Errors > 0 {
						e = fmt.Sprintf(" (%d err)", p.Errors)
					}
					return fmt.Sprintf("%s/%s/%s", f2(p.P50), f2(p.P95), f2(p.P99)), fmt.Sprintf("%.0f%s", p.RPS, e), p.P50, p.RPS
				}
				gl, gr, gp, grps := cell(g)
				il, ir, ipp, irps := cell(ip)
				sl, sr, sp, srps := cell(s)
				trips := "-"
				if s != nil && s.Stmts > 0 {
					trips = fmt.Sprintf("%d / %d", s.Stmts, s.Trips)
				}
				t.Rows = append(t.Rows, []string{route, fmt.Sprint(c), gl, gr, il, ir, sl, sr, trips,
					ratio(div(gp, ipp)), ratio(div(ipp, sp)), ratio(div(irps, grps)), ratio(div(srps, irps))})
			}
		}
		t.Foot = []string{
			"status = GET /api/v1/jobs/{id}/status of a COMPLETED job; create-cache-hit = POST /api/v1/pipelines/{id}/jobs answered 200 from the org's result cache (inserts a job row, its events and an audit entry).",
			"gateway = HTTP to the local API Gateway: authorizer function + jobs function, each under aws-lambda-rie, " + fmt.Sprint(r.Settings["concurrency"]) + " instances per function (MAD_LOCAL_CONCURRENCY); at c above that, requests queue for an instance as on a Lambda concurrency limit.",
			"in-process = the jobs function's mux Serve with the event API Gateway sends (authorizer context included), wired exactly like main.go from the stack's configuration, no authorizer (its share is table 1); pool MAD_DB_MAX_CONNS=" + fmt.Sprint(r.Settings["inprocess_db_max_conns"]) + ".",
			"SQL = the statements one in-process request executes (recorded by a pgx tracer, batches included: the tenant setting, SELECT/INSERT..., COMMIT), replayed through pgx with the same arguments and the same batching; a batch is one round trip.",
			"Load generator, gateway, functions, emulators and Postgres share the same cores: at c=16 the figures are CPU-bound, not network-bound.",
			"A cache hit reads the org without locking it; only a cache miss takes the org's row lock (orgs ... FOR NO KEY UPDATE) for the max_active_jobs check, so hits of one org run in parallel.",
		}
		ts = append(ts, t)
	}

	if j := r.Job; j != nil {
		t := table{Title: fmt.Sprintf("4a. job path: 1iep docking job end to end vs vina alone (same inputs, same arguments; median of %d each, alternated)", j.Runs),
			Head: []string{"figure", "value", "floor", "floor value", "ratio"}, Left: []int{2, 4}}
		t.Rows = append(t.Rows,
			[]string{"POST -> COMPLETED observed by polling", f2(j.E2ESeconds) + " s", "vina run directly", f2(j.VinaSeconds) + " s", fmt.Sprintf("overhead (e2e-vina)/vina = %+.1f%%", 100*j.Overhead)},
			[]string{"created_at -> finished_at (server)", f2(j.ServerSeconds) + " s", "vina run directly", f2(j.VinaSeconds) + " s", fmt.Sprintf("%+.1f%%", 100*div(j.ServerSeconds-j.VinaSeconds, j.VinaSeconds))},
			[]string{"POST -> COMPLETED observed, same job", f2(j.E2ESeconds) + " s", "vina inside that job (engine's timer)", f2(j.EngineVina) + " s",
				fmt.Sprintf("paired overhead = %+.1f%% (%+.2f s)", 100*j.PairedOverhead, j.PairedExtra)},
			[]string{"vina inside the engine", f2(j.EngineVina) + " s", "vina run directly", f2(j.VinaSeconds) + " s", ratio(div(j.EngineVina, j.VinaSeconds))},
			[]string{"engine staging (prepare + convert)", f3(j.EnginePrepare) + " s", "", "", ""},
			[]string{"runs: e2e / vina alone (s)", floats(j.E2ERuns) + " / " + floats(j.VinaRuns), "", "", ""},
		)
		evs := make([]string, 0, len(j.EventOffsetsMS))
		for k := range j.EventOffsetsMS {
			evs = append(evs, k)
		}
		slices.SortFunc(evs, func(a, b string) int { return int(j.EventOffsetsMS[a] - j.EventOffsetsMS[b]) })
		for _, e := range evs {
			t.Rows = append(t.Rows, []string{"event " + e + " at", fmt.Sprintf("+%.0f ms", j.EventOffsetsMS[e]), "", "", ""})
		}
		t.Foot = []string{"vina: " + j.VinaCommand,
			"On a shared machine vina's own run-to-run spread (the runs above) can exceed the pipeline's overhead; the paired overhead compares each job with the vina run inside it, timed by the engine.",
			fmt.Sprintf("best affinity: job %.2f, direct %s kcal/mol; vina's peak RSS (direct run) %s MiB; status polled every %d ms",
				j.BestAffinity, j.DirectAffinity, mib(j.VinaMaxRSSKiB), j.PollMS)}
		ts = append(ts, t)
	}
	if q := r.Throughput; q != nil {
		t := table{Title: "4b. queue throughput with the trivial engine stand-in (scripts/fakevina)",
			Head: []string{"figure", "value", "floor", "floor value", "ratio"}, Left: []int{2, 4}}
		t.Rows = append(t.Rows,
			[]string{fmt.Sprintf("%d jobs from %d clients, first POST -> last COMPLETED", q.Jobs, q.Clients), f2(q.TotalSeconds) + " s", "", "", ""},
			[]string{"throughput", f2(q.JobsPerSecond) + " jobs/s", fmt.Sprintf("ceiling: %d engine instances / %.0f ms sleep", q.EngineConc, q.FakeSleepMS), f1(q.Ceiling) + " jobs/s", fmt.Sprintf("%.1f%% of ceiling", 100*div(q.JobsPerSecond, q.Ceiling))},
			[]string{"pipeline cost per job per engine instance", f1(q.PerJobCostMS) + " ms", "stand-in sleep", f1(q.FakeSleepMS) + " ms", ratio(div(q.PerJobCostMS, q.FakeSleepMS))},
			[]string{"throughput vs the queue alone", f2(q.JobsPerSecond) + " jobs/s", sqsRateName(q), sqsRateValue(q), fmt.Sprintf("%.0f%% of the queue's rate", 100*div(q.JobsPerSecond, sqsRate(q)))},
			[]string{"creating all jobs (202s)", f2(q.CreateSeconds) + " s", "", "", fmt.Sprintf("%.0f creates/s", div(float64(q.Jobs-q.CreateErrors), q.CreateSeconds))},
			[]string{"per-job latency p50 / p95 / max", fmt.Sprintf("%s / %s / %s s", f2(q.LatencyP50), f2(q.LatencyP95), f2(q.LatencyMax)), "", "", ""},
			[]string{"engine instance time per job (cycle)", f1(q.CycleMS) + " ms", "", "", ""},
			[]string{"  inside the engine: started -> finished, p50", f1(q.EngineP50) + " ms", "", "", ""},
			[]string{"    of which the stand-in vina process, p50", f1(q.VinaP50) + " ms", "FAKEVINA_SLEEP", f1(q.FakeSleepMS) + " ms", ratio(div(q.VinaP50, q.FakeSleepMS))},
			[]string{"    of which staging + pose conversion (obabel), p50", f1(q.PrepareP50) + " ms", "", "", ""},
			[]string{"    the rest: Postgres transitions, S3 inputs and 4 artifacts", f1(q.EngineP50-q.VinaP50-q.PrepareP50) + " ms", "", "", ""},
			[]string{"  between jobs: poller (SQS receive/delete, emulator hop)", f1(q.CycleMS-q.EngineP50) + " ms", sqsFloorName(q), sqsFloorValue(q), ratio(div(q.CycleMS-q.EngineP50, sqsFloorMS(q)))},
			[]string{"queue wait created -> started, p50", f1(q.QueueWaitP50) + " ms", "", "", "(all jobs are queued at once)"},
			[]string{"completed / failed / create errors", fmt.Sprintf("%d / %d / %d", q.Completed, q.Failed, q.CreateErrors), "", "", ""},
		)
		t.Foot = []string{fmt.Sprintf("engine concurrency %d (MAD_LOCAL_CONCURRENCY: %d engine instances, one SQS poller each, batch size 1); engine's vina: %s", q.EngineConc, q.EngineConc, q.VinaPath)}
		if q.FirstError != "" {
			t.Foot = append(t.Foot, "first create error: "+q.FirstError)
		}
		ts = append(ts, t)
	}

	if len(r.RSS) > 0 {
		var helloRSS int64
		for _, c := range r.ColdStarts {
			if c.Function == "hello" {
				helloRSS = c.InitRSSKiB
			}
		}
		t := table{Title: "5. peak RSS of each function after the load (VmHWM of the bootstraps, max over instances)",
			Head: []string{"stack / load", "function", "instances", "peak RSS MiB", "x hello", "RSS now MiB", "emulator peak MiB"}, Left: []int{1}}
		for _, x := range r.RSS {
			if x.Instances == 0 {
				t.Rows = append(t.Rows, []string{x.Stack, x.Function, "0", "not invoked", "-", "-", mib(x.RIEPeakKiB)})
				continue
			}
			t.Rows = append(t.Rows, []string{x.Stack, x.Function, fmt.Sprint(x.Instances), mib(x.PeakKiB), ratio(div(float64(x.PeakKiB), float64(helloRSS))),
				mib(x.RSSKiB), mib(x.RIEPeakKiB)})
		}
		t.Foot = []string{fmt.Sprintf("floor: hello's RSS after one invocation, %s MiB. A function that has not been invoked since its emulator started has no bootstrap yet (instances 0).", mib(helloRSS)),
			"vina's own memory is a separate process (see 4a)."}
		ts = append(ts, t)
	}
	if len(r.CPU) > 0 {
		t := table{Title: "6. where the CPU goes under load (CPU time of each component of the stack during the phase, /proc utime+stime)",
			Head: []string{"phase", "component", "CPU s", "cores busy", "CPU ms per op"}, Left: []int{1}}
		for _, c := range r.CPU {
			t.Rows = append(t.Rows, []string{c.Phase, c.Component, f2(c.Seconds), f2(c.Cores), fmt.Sprintf("%.2f per %s", c.PerOpMS, c.Op)})
		}
		t.Foot = []string{"cores busy = CPU s / the phase's wall time, of the machine's " + fmt.Sprint(r.Machine.NProc) + "; a child's time (vina, obabel, fakevina) counts for the function that ran it.",
			"Only this run's processes are counted; other work on the machine is not (see the load average)."}
		ts = append(ts, t)
	}
	if len(r.Notes) > 0 {
		ts = append(ts, table{Title: "notes", Foot: r.Notes})
	}
	return ts
}

// sqsFloorMS is the queue floor's mean cycle per consumer (consumers /
// messages per second): the figure the throughput's cycle compares with.
func sqsFloorMS(q *throughput) float64 {
	if q.SQS == nil || q.SQS.PerSecond == 0 {
		return 0
	}
	return float64(q.SQS.Consumers) / q.SQS.PerSecond * 1000
}

func sqsFloorName(q *throughput) string {
	if q.SQS == nil {
		return ""
	}
	return fmt.Sprintf("SQS receive+delete alone, %d consumers, mean cycle", q.SQS.Consumers)
}

func sqsFloorValue(q *throughput) string {
	if q.SQS == nil {
		return ""
	}
	return fmt.Sprintf("%s ms (p50 %s)", f1(sqsFloorMS(q)), f1(q.SQS.CycleP50))
}

func sqsRate(q *throughput) float64 {
	if q.SQS == nil {
		return 0
	}
	return q.SQS.PerSecond
}

func sqsRateName(q *throughput) string {
	if q.SQS == nil {
		return "(SQS floor not measured)"
	}
	return fmt.Sprintf("receive+delete of %d messages, %d consumers, same endpoint", q.SQS.Messages, q.SQS.Consumers)
}

func sqsRateValue(q *throughput) string {
	if q.SQS == nil {
		return ""
	}
	return f2(q.SQS.PerSecond) + " msgs/s"
}

func floats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = f2(x)
	}
	return strings.Join(s, " ")
}

func clientsOf(ps []apiPoint) []int {
	var cs []int
	for _, p := range ps {
		if !slices.Contains(cs, p.Clients) {
			cs = append(cs, p.Clients)
		}
	}
	slices.Sort(cs)
	return cs
}

// write prints the tables and writes bench.json and bench.md into dir.
func (r *report) write(dir string, out io.Writer) error {
	ts := r.tables()
	for _, t := range ts {
		t.text(out)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "bench.md"))
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "# make bench, %s\n\nGo benchmark lines (benchstat input): `gobench.txt` beside this file.\n", r.Started.Format(time.RFC3339))
	for _, t := range ts {
		t.markdown(f)
	}
	return nil
}
