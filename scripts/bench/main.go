// Command bench is `make bench`: in one process tree and one run it
// measures MAD's hot paths and prints each figure next to its physical
// floor, then writes bench-out/<timestamp>/{bench.json,bench.md,gobench.txt}.
//
//  1. authorizer: jwtauth's verify path vs a bare jwt.Parse of the same
//     token, HS256/RS256/ES256 (go test -bench ./shared/jwtauth), and the
//     authorizer use case (verify + its one Postgres query) vs the verify
//     alone (./shared/app);
//  2. cold start of every function binary under aws-lambda-rie, with the
//     running stack's configuration, next to a hello-world aws-lambda-go
//     binary built the same way (scripts/bench/hello); binary sizes;
//  3. GET /jobs/{id}/status and POST /pipelines/{id}/jobs (cache hit)
//     through the local gateway at 1, 4 and 16 clients, next to the jobs
//     mux served in-process and to the SQL it runs
//     (BenchmarkJobsAPI in ./functions/jobs);
//  4. a 1iep docking job end to end vs vina alone on the same inputs, and
//     the queue's throughput with scripts/fakevina as the engine;
//  5. each function's peak RSS after that load.
//
// It needs the test harness's Postgres and moto for parts 1 (the Makefile
// runs it under scripts/testenv.sh) and starts two throwaway local stacks
// for the rest (real vina, then fakevina). Benchmarks report; nothing is
// asserted about absolute times.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
)

type options struct {
	out          string
	duration     time.Duration
	warmup       time.Duration
	clients      []int
	coldStarts   int
	jobs         int
	jobClients   int
	jobRuns      int
	count        int
	benchtime    string
	inprocTime   string
	concurrency  int
	fakeSleep    time.Duration
	poll         time.Duration
	skip         map[string]bool
	dbMaxConns   int
	visibilitySe int
}

func parseFlags() options {
	var o options
	var clients, skip string
	flag.StringVar(&o.out, "out", "", "output directory (default bench-out/<timestamp>)")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "gateway load: measured duration per route and concurrency")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "gateway load: warm-up before each measurement")
	flag.StringVar(&clients, "clients", "1,4,16", "concurrent clients of the API load")
	flag.IntVar(&o.coldStarts, "coldstarts", 5, "cold starts per function (median reported)")
	flag.IntVar(&o.jobs, "jobs", 100, "jobs of the queue throughput run")
	flag.IntVar(&o.jobClients, "job-clients", 16, "concurrent clients creating the throughput jobs")
	flag.IntVar(&o.jobRuns, "job-runs", 3, "docking jobs end to end and vina runs alone, alternated (ABBA)")
	flag.IntVar(&o.count, "count", 5, "go test -count of the authorizer benchmarks")
	flag.StringVar(&o.benchtime, "benchtime", "500ms", "go test -benchtime of the authorizer benchmarks")
	flag.StringVar(&o.inprocTime, "inproc-benchtime", "1s", "go test -benchtime of the in-process and SQL benchmarks")
	flag.IntVar(&o.concurrency, "concurrency", 4, "MAD_LOCAL_CONCURRENCY: emulator instances per function")
	flag.DurationVar(&o.fakeSleep, "fake-sleep", 50*time.Millisecond, "FAKEVINA_SLEEP of the throughput run")
	flag.DurationVar(&o.poll, "poll", 100*time.Millisecond, "status polling interval of the docking job")
	flag.IntVar(&o.dbMaxConns, "inproc-db-conns", 16, "MAD_DB_MAX_CONNS of the in-process handler")
	flag.StringVar(&skip, "skip", "", "comma-separated parts to skip: auth,coldstart,job,api,inprocess,throughput")
	flag.Parse()
	for _, c := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad -clients %q\n", clients)
			os.Exit(2)
		}
		o.clients = append(o.clients, n)
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	o.visibilitySe = 120
	return o
}

// bench is one run.
type bench struct {
	o      options
	root   string
	dir    string // output directory
	bins   string // compiled helpers
	rep    *report
	tb     *runTB
	raw    *os.File // gobench.txt
	out    io.Writer
	ctx    context.Context
	tests  map[string]testBinary
	fake   string // fakevina binary
	hello  string // hello bootstrap
	recPDB []byte
	ligPDB []byte
	// pkgLine: the last "pkg:" line of gobench.txt is this package's
	// (go test output switches it).
	pkgLine bool
}

func main() {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := stacktest.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	if o.out == "" {
		o.out = filepath.Join(root, "bench-out", start.Format("20060102-150405"))
	}
	b := &bench{o: o, root: root, dir: o.out, out: os.Stdout, ctx: ctx, tb: &runTB{name: "bench"}}
	b.rep = &report{Started: start, Command: "make bench   # = bash scripts/testenv.sh go run ./scripts/bench " + strings.Join(os.Args[1:], " "),
		Machine: readMachine(), Settings: map[string]any{
			"concurrency": o.concurrency, "clients": o.clients, "duration": o.duration.String(), "warmup": o.warmup.String(),
			"cold_starts": o.coldStarts, "jobs": o.jobs, "job_clients": o.jobClients, "count": o.count, "benchtime": o.benchtime,
			"inproc_benchtime": o.inprocTime, "fake_vina_sleep": o.fakeSleep.String(), "inprocess_db_max_conns": o.dbMaxConns,
			"queue_visibility_seconds": o.visibilitySe}}
	code := 0
	if err := b.run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	b.tb.runCleanups()
	os.Exit(code)
}

// phase runs one part, timing it; a failure is recorded in the report's
// notes and the run goes on with what does not depend on it.
func (b *bench) phase(name string, fn func() error) (ok bool) {
	t0 := time.Now()
	fmt.Fprintf(b.out, "\n[%s] %s\n", t0.Format("15:04:05"), name)
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				if f, isFatal := p.(fatal); isFatal {
					err = fmt.Errorf("%s", f.msg)
				} else {
					err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				}
			}
		}()
		err = fn()
	}()
	pt := phaseTime{Phase: name, Seconds: time.Since(t0).Seconds()}
	if err != nil {
		pt.Error = err.Error()
		b.note("%s failed: %v", name, err)
		fmt.Fprintf(b.out, "  FAILED: %v\n", err)
	}
	b.rep.Phases = append(b.rep.Phases, pt)
	fmt.Fprintf(b.out, "  (%s: %.1f s)\n", name, pt.Seconds)
	return err == nil
}

// benchLine prints a result line of this program's own measurements and
// adds it to gobench.txt under this package.
func (b *bench) benchLine(line string) {
	if !b.pkgLine {
		fmt.Fprintln(b.raw, "pkg: github.com/mad-bio/mad/scripts/bench")
		b.pkgLine = true
	}
	fmt.Fprintln(b.out, "  "+line)
	fmt.Fprintln(b.raw, line)
}

func (b *bench) note(format string, args ...any) {
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf(format, args...))
}

func (b *bench) run() error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	b.bins = filepath.Join(b.dir, "bin")
	raw, err := os.Create(filepath.Join(b.dir, "gobench.txt"))
	if err != nil {
		return err
	}
	defer raw.Close()
	b.raw = raw
	fmt.Fprintf(raw, "goos: linux\ngoarch: %s\ncpu: %s\n", runtime.GOARCH, b.rep.Machine.CPUModel)
	if l := b.rep.Machine.LoadStart; l != "" {
		if f, _ := strconv.ParseFloat(strings.Fields(l)[0], 64); f > float64(b.rep.Machine.NProc) {
			b.note("the machine was busy when the run started (load average %s on %d CPUs): other work competes with every figure", l, b.rep.Machine.NProc)
		}
	}
	if b.recPDB, err = os.ReadFile(filepath.Join(b.root, "shared/testdata/1iep/1iep_receptor.pdbqt")); err != nil {
		return err
	}
	if b.ligPDB, err = os.ReadFile(filepath.Join(b.root, "shared/testdata/1iep/1iep_ligand.pdbqt")); err != nil {
		return err
	}

	if !b.phase("build test binaries, hello and fakevina", b.build) {
		return fmt.Errorf("build failed")
	}
	if !b.o.skip["auth"] {
		b.phase("1. authorizer benchmarks (go test -bench ./shared/jwtauth ./shared/app)", b.authBenches)
	}
	if b.needsStackA() {
		b.stackA()
	}
	if !b.o.skip["throughput"] {
		b.stackB()
	}
	b.rep.Seconds = time.Since(b.rep.Started).Seconds()
	b.rep.Machine.LoadEnd = loadavg()
	if err := b.rep.write(b.dir, b.out); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "\nwrote %s/{bench.json,bench.md,gobench.txt} in %.0f s\n", b.dir, b.rep.Seconds)
	return nil
}

func (b *bench) needsStackA() bool {
	for _, p := range []string{"coldstart", "job", "api", "inprocess"} {
		if !b.o.skip[p] {
			return true
		}
	}
	return false
}

// build compiles everything the run executes up front, so no compiler
// competes with a measurement.
func (b *bench) build() error {
	if err := os.MkdirAll(b.bins, 0o755); err != nil {
		return err
	}
	var err error
	b.tests, err = compileTests(b.ctx, b.root, b.bins, "./shared/jwtauth", "./shared/app", "./functions/jobs")
	if err != nil {
		return err
	}
	b.hello = filepath.Join(b.bins, "hello", "bootstrap")
	b.fake = filepath.Join(b.bins, "fakevina")
	for _, x := range []struct {
		out, pkg string
		lambda   bool
	}{{b.hello, "./scripts/bench/hello", true}, {b.fake, "./scripts/fakevina", false}} {
		args := []string{"build", "-o", x.out}
		if x.lambda {
			// The Makefile's build-local recipe.
			args = []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", x.out}
		}
		cmd := exec.CommandContext(b.ctx, "go", append(args, x.pkg)...)
		cmd.Dir = b.root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", x.pkg, err, out)
		}
	}
	for _, fn := range functionNames(b.root) {
		if _, err := os.Stat(filepath.Join(b.root, "build/local", fn, "bootstrap")); err != nil {
			return fmt.Errorf("build/local/%s/bootstrap missing: run make build-local (make bench does)", fn)
		}
	}
	return nil
}

// functionNames lists functions/<name> directories.
func functionNames(root string) []string {
	ents, _ := os.ReadDir(filepath.Join(root, "functions"))
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

func (b *bench) authBenches() error {
	if os.Getenv("MAD_TEST_PG_URL") == "" || os.Getenv("MAD_TEST_AWS_ENDPOINT") == "" {
		return fmt.Errorf("MAD_TEST_PG_URL / MAD_TEST_AWS_ENDPOINT unset: run under scripts/testenv.sh (make bench does)")
	}
	// -count rounds of every benchmark once, rather than -count runs of
	// each in a row: on a shared machine a burst of other work then
	// lands on both sides of a ratio instead of on one.
	common := []string{"benchmem", "count=1", "benchtime=" + b.o.benchtime}
	jwt, authz := benchSet{}, benchSet{}
	for range b.o.count {
		j, err := b.runBench(b.tests["./shared/jwtauth"], nil,
			append([]string{"bench=^Benchmark(Verify|BareParse)(HS256|RS256|ES256)$"}, common...)...)
		if err != nil {
			return err
		}
		a, err := b.runBench(b.tests["./shared/app"], nil, append([]string{"bench=^BenchmarkAuthorize"}, common...)...)
		if err != nil {
			return err
		}
		jwt.merge(j)
		authz.merge(a)
	}
	row := func(set benchSet, path, name, floor, floorName string) authRow {
		lo, hi := set.spread(name, "ns/op")
		r := authRow{Path: path, NsOp: set.median(name, "ns/op"), NsMin: lo, NsMax: hi, AllocsOp: set.median(name, "allocs/op"),
			BytesOp: set.median(name, "B/op"), Floor: floor, Samples: len(set[name])}
		fs := jwt
		if _, ok := set[floorName]; ok {
			fs = set
		}
		r.FloorNs, r.FloorAllocs = fs.median(floorName, "ns/op"), fs.median(floorName, "allocs/op")
		r.RatioNs, r.RatioAllocs = div(r.NsOp, r.FloorNs), div(r.AllocsOp, r.FloorAllocs)
		flo, _ := fs.spread(floorName, "ns/op")
		r.FloorNsMin, r.RatioNsMin = flo, div(lo, flo)
		return r
	}
	for _, alg := range []string{"HS256", "RS256", "ES256"} {
		if _, ok := jwt["Verify"+alg]; ok {
			b.rep.Auth = append(b.rep.Auth, row(jwt, "Verify "+alg, "Verify"+alg, "jwt.Parse "+alg, "BareParse"+alg))
		}
	}
	b.rep.Auth = append(b.rep.Auth,
		row(authz, "Authorize HS256 (verify + DB)", "Authorize", "Verify only (same token)", "AuthorizeVerifyOnly"),
		row(authz, "Authorize HS256 (verify + DB)", "Authorize", "jwt.Parse HS256", "BareParseHS256"))
	return nil
}

// stackA runs the parts on the stack with the real vina.
func (b *bench) stackA() {
	tb := &runTB{name: "stack-a", quiet: true}
	defer tb.runCleanups()
	var st *stacktest.Stack
	ok := b.phase(fmt.Sprintf("start local stack A (real vina, MAD_LOCAL_CONCURRENCY=%d)", b.o.concurrency), func() error {
		st = stacktest.Start(tb, stacktest.Options{VisibilityTimeout: b.o.visibilitySe,
			Env: map[string]string{"MAD_LOCAL_CONCURRENCY": strconv.Itoa(b.o.concurrency)}})
		fmt.Fprintf(b.out, "  %s (state %s)\n", st.URL, st.StateDir)
		return nil
	})
	if !ok {
		return
	}
	rt := st.Runtime
	if !b.o.skip["coldstart"] {
		b.phase(fmt.Sprintf("2. cold starts (%d per function, with stack A's configuration)", b.o.coldStarts), func() error {
			return b.coldStarts(rt.FunctionEnv)
		})
	}
	hc := newHTTPClient(64)
	c := &client{base: st.URL, http: hc}
	var tn *tenant
	email, password := st.RootCredentials()
	if !b.phase("set up an org, its admin and the 1iep pair", func() error {
		var err error
		tn, err = newTenant(b.ctx, c, email, password, b.recPDB, b.ligPDB)
		return err
	}) {
		return
	}
	var jobID string
	if !b.o.skip["job"] {
		b.phase("4a. 1iep docking job end to end, then vina alone", func() error {
			j, err := measureJob(b.ctx, tn, rt.FunctionEnv["engine"], b.recPDB, b.ligPDB, b.o.poll, b.o.jobRuns, b.out)
			if err != nil {
				return err
			}
			b.rep.Job, jobID = j, j.JobID
			b.benchLine(fmt.Sprintf("BenchmarkDockingJob/1iep-exh1/e2e-%d\t%8d\t%12.0f ns/op\t%12.4g server-s\t%12.4g engine-vina-s",
				b.rep.Machine.GOMAXPROCS, len(j.E2ERuns), j.E2ESeconds*1e9, j.ServerSeconds, j.EngineVina))
			b.benchLine(fmt.Sprintf("BenchmarkDockingJob/1iep-exh1/vina-alone-%d\t%8d\t%12.0f ns/op\t%12.4g maxrss-MiB",
				b.rep.Machine.GOMAXPROCS, len(j.VinaRuns), j.VinaSeconds*1e9, float64(j.VinaMaxRSSKiB)/1024))
			fmt.Fprintf(b.out, "  median e2e %.2f s, vina alone %.2f s: overhead %+.1f%%\n", j.E2ESeconds, j.VinaSeconds, 100*j.Overhead)
			return nil
		})
	}
	if jobID == "" && (!b.o.skip["api"] || !b.o.skip["inprocess"]) {
		// The API parts need a completed job for the status and the cache.
		b.phase("complete one docking job for the API load", func() error {
			var created struct {
				JobID string `json:"job_id"`
			}
			if err := tn.Admin.do(b.ctx, "POST", "/api/v1/pipelines/"+builtinPipeline+"/jobs", tn.jobRequest(), 202, &created); err != nil {
				return err
			}
			for range 600 {
				var s struct {
					Status string `json:"status"`
				}
				if err := tn.Admin.do(b.ctx, "GET", "/api/v1/jobs/"+created.JobID+"/status", nil, 200, &s); err != nil {
					return err
				}
				if s.Status == "COMPLETED" {
					jobID = created.JobID
					return nil
				}
				time.Sleep(500 * time.Millisecond)
			}
			return fmt.Errorf("job %s not completed within 5 minutes", created.JobID)
		})
	}
	if jobID == "" {
		return
	}
	if !b.o.skip["api"] {
		b.phase(fmt.Sprintf("3. API load through the gateway (%s per point after %s warm-up; clients %v)", b.o.duration, b.o.warmup, b.o.clients), func() error {
			if _, _, err := createJob(b.ctx, tn, true); err != nil {
				return fmt.Errorf("the create request is not a cache hit: %w", err)
			}
			status := httpOp(hc, "GET", st.URL+"/api/v1/jobs/"+jobID+"/status", tn.AdminToken, nil, 200)
			create := httpOp(hc, "POST", st.URL+"/api/v1/pipelines/"+builtinPipeline+"/jobs?use_cache=true", tn.AdminToken, tn.jobRequest(), 200)
			cpu := func() map[string]float64 {
				return cpuByComponent(rt.PID, st.StateDir, filepath.Join(b.root, "build", "local"))
			}
			b.rep.API = append(b.rep.API, b.gatewayLoad("status", status, cpu)...)
			b.rep.API = append(b.rep.API, b.gatewayLoad("create-cache-hit", create, cpu)...)
			return nil
		})
	}
	if !b.o.skip["inprocess"] {
		b.phase("3. the same routes in-process and as bare SQL (go test -bench JobsAPI ./functions/jobs)", func() error {
			return b.inProcess(rt.FunctionEnv["jobs"], rt.DatabaseURL, tn, jobID)
		})
	}
	b.phase("5. peak RSS of stack A's functions", func() error {
		b.readRSS("A: after 4a + 3 (real vina job, API load)", rt.PID)
		return nil
	})
}

func (b *bench) coldStarts(envs map[string][]string) error {
	rie := filepath.Join(b.root, ".state", "bin", "aws-lambda-rie")
	if _, err := os.Stat(rie); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	bins := map[string]string{"hello": b.hello}
	env := map[string][]string{"hello": envs["health"]}
	for _, fn := range functionNames(b.root) {
		e, ok := envs[fn]
		if !ok {
			b.note("cold start: %s has no environment in runtime.json; skipped", fn)
			continue
		}
		bins[fn] = filepath.Join(b.root, "build/local", fn, "bootstrap")
		env[fn] = e
	}
	cs, err := measureColdStarts(b.ctx, b.root, rie, bins, env, b.o.coldStarts, 50, filepath.Join(b.dir, "coldstart-logs"), b.out)
	if err != nil {
		return err
	}
	b.rep.ColdStarts = cs
	for _, c := range cs {
		line := fmt.Sprintf("BenchmarkColdStart/%s-%d\t%8d\t%12.0f ns/op\t%12.4g warm-p50-ms\t%12.4g size-MB\t%12.4g rss-MiB", c.Function, b.rep.Machine.GOMAXPROCS,
			len(c.StartsMS), c.MedianMS*1e6, c.WarmP50MS, float64(c.SizeBytes)/1e6, float64(c.InitRSSKiB)/1024)
		b.benchLine(line)
		if !c.OK {
			b.note("cold start of %s: %s", c.Function, c.Outcome)
		}
	}
	return nil
}

func (b *bench) inProcess(fnEnv []string, dbURL string, tn *tenant, jobID string) error {
	authz, err := authorizerContext(tn.AdminToken)
	if err != nil {
		return err
	}
	cfg := map[string]any{"function_env": fnEnv, "database_url": dbURL, "authorizer": authz, "org_id": tn.OrgID,
		"job_id": jobID, "pipeline_id": builtinPipeline, "create_body": string(tn.jobRequest()), "clients": b.o.clients,
		"db_max_conns": b.o.dbMaxConns}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(b.bins, "jobs-bench.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return err
	}
	set, err := b.runBench(b.tests["./functions/jobs"], []string{"MAD_BENCH_JOBS=" + path},
		"bench=^BenchmarkJobsAPI$", "benchtime="+b.o.inprocTime)
	if err != nil {
		return err
	}
	for _, route := range []string{"status", "create-cache-hit"} {
		for _, c := range b.o.clients {
			for _, layer := range []string{"inprocess", "sql"} {
				name := fmt.Sprintf("JobsAPI/%s/%s/c=%d", route, layer, c)
				if s, ok := set[name]; ok && len(s) > 0 {
					b.rep.API = append(b.rep.API, pointFromBench(route, layer, c, s[len(s)-1]))
				}
			}
		}
	}
	return nil
}

func (b *bench) readRSS(label string, devstackPID int) {
	m := stackRSS(devstackPID, filepath.Join(b.root, "build", "local"))
	names := make([]string, 0, len(m))
	for fn := range m {
		names = append(names, fn)
	}
	slices.Sort(names)
	for _, fn := range names {
		x := m[fn]
		b.rep.RSS = append(b.rep.RSS, rssRow{Stack: label, functionRSS: *x})
		line := fmt.Sprintf("BenchmarkPeakRSS/%s/%s-%d\t%8d\t%12.4g peak-MiB\t%12.4g rie-peak-MiB", strings.SplitN(label, ":", 2)[0], fn,
			b.rep.Machine.GOMAXPROCS, max(x.Instances, 1), float64(x.PeakKiB)/1024, float64(x.RIEPeakKiB)/1024)
		b.benchLine(line)
	}
}

// stackB runs the queue throughput on a stack whose engine runs fakevina.
func (b *bench) stackB() {
	tb := &runTB{name: "stack-b", quiet: true}
	defer tb.runCleanups()
	var st *stacktest.Stack
	if !b.phase(fmt.Sprintf("start local stack B (MAD_LOCAL_VINA=fakevina, FAKEVINA_SLEEP=%s, MAD_LOCAL_CONCURRENCY=%d)", b.o.fakeSleep, b.o.concurrency), func() error {
		st = stacktest.Start(tb, stacktest.Options{VisibilityTimeout: b.o.visibilitySe, Env: map[string]string{
			"MAD_LOCAL_CONCURRENCY": strconv.Itoa(b.o.concurrency), "MAD_LOCAL_VINA": b.fake,
			"FAKEVINA_SLEEP": b.o.fakeSleep.String()}})
		fmt.Fprintf(b.out, "  %s (state %s)\n", st.URL, st.StateDir)
		return nil
	}) {
		return
	}
	rt := st.Runtime
	vina := envValue(rt.FunctionEnv["engine"], "MAD_VINA_PATH")
	if vina != b.fake {
		b.note("stack B's engine runs %q, not the fakevina build %q: MAD_LOCAL_VINA was not applied, the throughput figure is not the stand-in's", vina, b.fake)
	}
	if envValue(rt.FunctionEnv["engine"], "FAKEVINA_SLEEP") == "" {
		b.note("FAKEVINA_SLEEP did not reach the engine; fakevina's default sleep applied")
	}
	c := &client{base: st.URL, http: newHTTPClient(b.o.jobClients)}
	var tn *tenant
	email, password := st.RootCredentials()
	if !b.phase("set up an org on stack B", func() error {
		var err error
		tn, err = newTenant(b.ctx, c, email, password, b.recPDB, b.ligPDB)
		return err
	}) {
		return
	}
	b.phase(fmt.Sprintf("4b. queue throughput: %d jobs from %d clients", b.o.jobs, b.o.jobClients), func() error {
		buildDir := filepath.Join(b.root, "build", "local")
		before, t0 := cpuByComponent(rt.PID, st.StateDir, buildDir), time.Now()
		q, err := measureThroughput(b.ctx, tn, rt.DatabaseURL, b.o.jobs, b.o.jobClients, b.o.concurrency, b.o.fakeSleep, vina)
		if err != nil {
			return err
		}
		b.addCPU(fmt.Sprintf("4b. queue throughput (%d jobs)", b.o.jobs), "job", q.Completed, time.Since(t0), cpuDelta(before, cpuByComponent(rt.PID, st.StateDir, buildDir)))
		b.rep.Throughput = q
		if f, err := measureSQSFloor(b.ctx, rt.AWSEndpoint, rt.Region, rt.FunctionEnv["engine"], b.o.jobs, b.o.concurrency); err != nil {
			b.note("SQS floor not measured: %v", err)
		} else {
			q.SQS = f
			b.benchLine(fmt.Sprintf("BenchmarkQueueFloor/moto-sqs/consumers=%d-%d\t%8d\t%12.0f ns/op\t%12.4g p50-ms\t%12.4g p95-ms\t%12.4g msgs/s",
				f.Consumers, b.rep.Machine.GOMAXPROCS, f.Messages, 1e9/f.PerSecond, f.CycleP50, f.CycleP95, f.PerSecond))
		}
		line := fmt.Sprintf("BenchmarkQueueThroughput/fakevina-%s/engines=%d-%d\t%8d\t%12.0f ns/op\t%12.4g jobs/s\t%12.4g p50-s\t%12.4g p95-s",
			b.o.fakeSleep, b.o.concurrency, b.rep.Machine.GOMAXPROCS, q.Completed, div(q.TotalSeconds*1e9, float64(q.Completed)), q.JobsPerSecond, q.LatencyP50, q.LatencyP95)
		b.benchLine(line)
		return nil
	})
	b.phase("5. peak RSS of stack B's functions", func() error {
		b.readRSS(fmt.Sprintf("B: after 4b (%d jobs, fakevina)", b.o.jobs), rt.PID)
		return nil
	})
}
