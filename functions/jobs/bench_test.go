package main

// Benchmarks of the jobs function's two hottest routes without the Lambda
// emulator and the gateway, next to the SQL they execute:
//
//	BenchmarkJobsAPI/<route>/inprocess/c=N   the real mux (newMux + apigw
//	    wrapper + use case + Postgres store), Serve called with the event
//	    API Gateway would send, from N concurrent goroutines;
//	BenchmarkJobsAPI/<route>/sql/c=N         the statements that one
//	    Serve of the same event executes (recorded with a pgx tracer:
//	    BEGIN, set_config, the SELECTs/INSERTs, COMMIT), replayed raw
//	    through pgx with the same arguments and the same batches, so the
//	    same round trips (fresh ids for the rows a create inserts): the
//	    database floor of the route.
//
// Routes: status (GET /api/v1/jobs/{id}/status) and create-cache-hit
// (POST /api/v1/pipelines/{id}/jobs answered from the org's result cache).
//
// `make bench` (scripts/bench) runs them against its local stack's
// database and the jobs function's exact configuration: it writes a JSON
// file and points MAD_BENCH_JOBS at it. Without MAD_BENCH_JOBS they run on
// the test harness (`scripts/testenv.sh go test -run '^$' -bench JobsAPI
// ./functions/jobs`): apptest's Postgres and moto, a fake docking engine.
// Either way every figure is reported, nothing is asserted about time.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/scripts/bench/loadgen"
	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/bootstrap"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// benchConfig is the file MAD_BENCH_JOBS names (written by scripts/bench).
type benchConfig struct {
	// FunctionEnv is the jobs function's environment in the local stack
	// (runtime.json), so the in-process handler is wired from the same
	// configuration, secrets and endpoints as the emulated one.
	FunctionEnv []string `json:"function_env"`
	// DatabaseURL is the application role's URL (the SQL floor's pool).
	DatabaseURL string `json:"database_url"`
	// Authorizer is the context the authorizer returns for the
	// benchmark's user (apigw.PrincipalContext).
	Authorizer map[string]any `json:"authorizer"`
	OrgID      string         `json:"org_id"`
	JobID      string         `json:"job_id"` // a COMPLETED job: its status and its cache entry
	PipelineID string         `json:"pipeline_id"`
	CreateBody string         `json:"create_body"` // the request that hits the cache
	Clients    []int          `json:"clients"`
	// DBMaxConns is the in-process pool size (MAD_DB_MAX_CONNS); the
	// emulated functions keep the default of 2 per instance.
	DBMaxConns int `json:"db_max_conns"`
}

// jobsTarget is what the benchmarks drive.
type jobsTarget struct {
	mux      *apigw.Mux
	jobs     *app.Jobs
	dbURL    string
	status   events.APIGatewayV2HTTPRequest
	create   events.APIGatewayV2HTTPRequest
	clients  []int
	knownIDs []string // ids of the request: never replaced in the SQL replay
}

// stdoutToNull points os.Stdout at /dev/null while fn runs, so the
// function's JSON logger and EMF metric lines (written per request, as in
// Lambda, where the emulator reads them from a pipe) cost a write syscall
// each without flooding the benchmark output.
func stdoutToNull(b *testing.B, fn func()) {
	b.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { null.Close() })
	saved := os.Stdout
	os.Stdout = null
	defer func() { os.Stdout = saved }()
	fn()
}

// stackTarget wires the handler exactly as main does, from the stack's
// configuration of the jobs function.
func stackTarget(b *testing.B, path string) *jobsTarget {
	b.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var c benchConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	for _, kv := range c.FunctionEnv {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	if c.DBMaxConns > 0 {
		b.Setenv("MAD_DB_MAX_CONNS", strconv.Itoa(c.DBMaxConns))
	}
	ctx := context.Background()
	t := &jobsTarget{dbURL: c.DatabaseURL, clients: c.Clients}
	// The wiring of main.go, line for line (main cannot be called: it
	// ends in lambda.Start).
	stdoutToNull(b, func() {
		env, err := bootstrap.Start(ctx, routes.FnJobs, config.NeedDB, config.NeedStorage, config.NeedQueue)
		if err != nil {
			b.Fatalf("configuration: %v", err)
		}
		store, err := env.Postgres(ctx, env.Secrets())
		if err != nil {
			b.Fatalf("database: %v", err)
		}
		objects, err := env.Objects()
		if err != nil {
			b.Fatalf("storage: %v", err)
		}
		t.jobs = &app.Jobs{Store: store, Queue: env.Queue(), Objects: objects, PresignTTL: env.Config.PresignTTL,
			Log: env.Log, Function: routes.FnJobs}
		t.mux = newMux(handler{jobs: t.jobs}, apigw.NewMux(routes.FnJobs, env.Log))
	})
	if err := t.mux.Check(); err != nil {
		b.Fatal(err)
	}
	t.status = apitest.APIEvent(b, "apigw/jobs/job-status.json", nil, sampleJob, c.JobID, sampleOrg, c.OrgID)
	t.status.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: c.Authorizer}
	t.create = apitest.APIEvent(b, "apigw/jobs/create-job.json", nil, builtin, c.PipelineID, sampleOrg, c.OrgID)
	t.create.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: c.Authorizer}
	apitest.SetBody(&t.create, c.CreateBody)
	delete(t.create.Headers, "idempotency-key") // the load sends none: a repeated key is a replay, another path
	t.knownIDs = []string{c.OrgID, c.JobID, c.PipelineID}
	for _, v := range c.Authorizer {
		if s, ok := v.(string); ok {
			t.knownIDs = append(t.knownIDs, s)
		}
	}
	return t
}

// harnessTarget builds the same scenario on the test harness: an org, a
// standard user, the 1iep pair, one completed job (fake docking).
func harnessTarget(b *testing.B) *jobsTarget {
	b.Helper()
	env := apptest.New(b, apptest.Options{Docker: dockFunc(func(context.Context, app.DockRequest) (app.DockResult, error) {
		return docked, nil
	})})
	_, admin := env.NewOrg(b)
	m := env.NewUser(b, admin, domain.RoleStandard)
	ctx := context.Background()
	mol := func(name string) domain.Molecule {
		x, err := env.Molecules.CreateMolecule(ctx, m.Principal, app.NewMoleculeInput{Name: name, Format: "pdbqt", Content: apitest.Testdata(b, "1iep/"+name)})
		if err != nil {
			b.Fatal(err)
		}
		return x
	}
	rec, lig := mol("1iep_receptor.pdbqt"), mol("1iep_ligand.pdbqt")
	t := &jobsTarget{jobs: env.Jobs, dbURL: env.DB.AppURL, clients: []int{1, 4, 16}}
	t.mux = newMux(handler{jobs: env.Jobs}, apigw.NewMux(routes.FnJobs, slog.New(slog.NewJSONHandler(io.Discard, nil))))
	replace := []string{sampleOrg, m.OrgID, sampleReceptor, rec.ID, sampleLigand, lig.ID}
	t.create = apitest.APIEvent(b, "apigw/jobs/create-job.json", &m.Principal, replace...)
	delete(t.create.Headers, "idempotency-key")
	first := t.mux.Serve(ctx, &t.create)
	var created struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal([]byte(first.Body), &created); err != nil || first.StatusCode != 202 {
		b.Fatalf("first job: %d %s", first.StatusCode, first.Body)
	}
	if err := env.Engine.Process(ctx, app.JobMessage{JobID: created.JobID, OrgID: m.OrgID}, 1); err != nil {
		b.Fatal(err)
	}
	t.status = apitest.APIEvent(b, "apigw/jobs/job-status.json", &m.Principal, append([]string{sampleJob, created.JobID}, replace...)...)
	t.knownIDs = []string{m.OrgID, m.UserID, m.Principal.TokenID, created.JobID, rec.ID, lig.ID, builtin}
	return t
}

// stmt is one recorded statement. Statements sent together in one pgx
// batch share a non-zero Batch and are replayed as one batch: the floor
// keeps the store's round trips.
type stmt struct {
	SQL   string
	Args  []any
	Batch int
}

// recorder is a pgx tracer (single queries and batches) that keeps the
// statements of one request.
type recorder struct {
	mu      sync.Mutex
	on      bool
	stmts   []stmt
	batches int
}

func (r *recorder) add(sql string, args []any, batch int) {
	r.mu.Lock()
	if r.on {
		r.stmts = append(r.stmts, stmt{SQL: sql, Args: append([]any(nil), args...), Batch: batch})
	}
	r.mu.Unlock()
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL, d.Args, 0)
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type batchKey struct{}

func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.batches++
	n := r.batches
	r.mu.Unlock()
	return context.WithValue(ctx, batchKey{}, n)
}

func (r *recorder) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	n, _ := ctx.Value(batchKey{}).(int)
	r.add(d.SQL, d.Args, n)
}

func (r *recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// roundTrips counts the server round trips stmts take: one per batch, one
// per statement outside a batch.
func roundTrips(stmts []stmt) int {
	n := 0
	for i, s := range stmts {
		if s.Batch == 0 || i == 0 || stmts[i-1].Batch != s.Batch {
			n++
		}
	}
	return n
}

// record serves ev once through a copy of the use cases whose store is
// on a traced pool, and returns the statements it executed.
func (t *jobsTarget) record(b *testing.B, ev events.APIGatewayV2HTTPRequest) []stmt {
	b.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(t.dbURL)
	if err != nil {
		b.Fatal(err)
	}
	rec := &recorder{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	jobs := *t.jobs
	jobs.Store = postgres.NewStore(pool)
	jobs.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	mux := newMux(handler{jobs: &jobs}, apigw.NewMux(routes.FnJobs, jobs.Log))
	rec.on = true
	resp := mux.Serve(ctx, &ev)
	rec.on = false
	if resp.StatusCode/100 != 2 {
		b.Fatalf("record %s: %d %s", ev.RouteKey, resp.StatusCode, resp.Body)
	}
	return rec.stmts
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// generatedIDs returns the UUID arguments of INSERTs that the request did
// not carry and no earlier statement read: the new rows' ids.
func generatedIDs(stmts []stmt, known []string) map[string]bool {
	seen := map[string]bool{}
	for _, k := range known {
		seen[k] = true
	}
	gen := map[string]bool{}
	for _, s := range stmts {
		insert := strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s.SQL)), "INSERT")
		for _, a := range s.Args {
			id, ok := stringArg(a)
			if !ok || !uuidRE.MatchString(id) || seen[id] {
				continue
			}
			if insert {
				gen[id] = true
			} else if !gen[id] {
				seen[id] = true
			}
		}
	}
	return gen
}

func stringArg(a any) (string, bool) {
	switch v := a.(type) {
	case string:
		return v, true
	case *string:
		if v != nil {
			return *v, true
		}
	}
	return "", false
}

// replayOp returns an op that runs stmts on one pooled connection, with
// the generated ids replaced by fresh ones on every run.
func replayOp(pool *pgxpool.Pool, stmts []stmt, gen map[string]bool) loadgen.Op {
	return func(ctx context.Context) error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		fresh := map[string]string{}
		for id := range gen {
			fresh[id] = domain.NewID()
		}
		run := func(b *pgx.Batch, one stmt) error {
			if b != nil {
				return conn.SendBatch(ctx, b).Close()
			}
			if len(one.Args) == 0 {
				_, err := conn.Exec(ctx, one.SQL)
				return err
			}
			rows, err := conn.Query(ctx, one.SQL, one.Args...)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		}
		for i := 0; i < len(stmts); {
			var b *pgx.Batch
			one := stmts[i]
			if one.Batch != 0 {
				b = &pgx.Batch{}
			}
			j := i
			for ; j < len(stmts) && (j == i || one.Batch != 0 && stmts[j].Batch == one.Batch); j++ {
				args := stmts[j].Args
				if len(fresh) > 0 {
					args = make([]any, len(stmts[j].Args))
					for k, a := range stmts[j].Args {
						args[k] = a
						if id, ok := stringArg(a); ok && fresh[id] != "" {
							args[k] = fresh[id]
						}
					}
				}
				if b != nil {
					b.Queue(stmts[j].SQL, args...)
				} else {
					one.Args = args
				}
			}
			if err := run(b, one); err != nil {
				_, _ = conn.Exec(ctx, "ROLLBACK")
				return fmt.Errorf("%s: %w", firstLine(one.SQL), err)
			}
			i = j
		}
		return nil
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// serveOp serves ev through the mux and expects status want.
func serveOp(mux *apigw.Mux, ev events.APIGatewayV2HTTPRequest, want int) loadgen.Op {
	return func(ctx context.Context) error {
		e := ev // Serve does not modify the event; a copy keeps goroutines apart anyway
		resp := mux.Serve(ctx, &e)
		if resp.StatusCode != want {
			return fmt.Errorf("%s: status %d: %.200s", ev.RouteKey, resp.StatusCode, resp.Body)
		}
		return nil
	}
}

func BenchmarkJobsAPI(b *testing.B) {
	// EMF metric lines are written per request, as in Lambda; here they
	// go to /dev/null instead of interleaving with the results.
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	obs.SetMetricsOutput(null)
	b.Cleanup(func() { obs.SetMetricsOutput(os.Stdout); null.Close() })
	var t *jobsTarget
	if p := os.Getenv("MAD_BENCH_JOBS"); p != "" {
		t = stackTarget(b, p)
	} else {
		t = harnessTarget(b)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, t.dbURL+sep(t.dbURL)+"pool_max_conns=16")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	routesUnderTest := []struct {
		name string
		ev   events.APIGatewayV2HTTPRequest
		want int
	}{
		{"status", t.status, 200},
		{"create-cache-hit", t.create, 200},
	}
	for _, r := range routesUnderTest {
		// One warm-up Serve also checks the scenario: status 200 on a
		// completed job, and 200 (not 202) proves the create hits the cache.
		if err := serveOp(t.mux, r.ev, r.want)(ctx); err != nil {
			b.Fatal(err)
		}
		stmts := t.record(b, r.ev)
		gen := generatedIDs(stmts, t.knownIDs)
		if os.Getenv("MAD_BENCH_VERBOSE") != "" {
			for _, s := range stmts {
				b.Logf("%s: %s (%d args)", r.name, firstLine(s.SQL), len(s.Args))
			}
		}
		for _, c := range t.clients {
			b.Run(fmt.Sprintf("%s/inprocess/c=%d", r.name, c), func(b *testing.B) {
				loadgen.Bench(b, c, serveOp(t.mux, r.ev, r.want))
			})
			b.Run(fmt.Sprintf("%s/sql/c=%d", r.name, c), func(b *testing.B) {
				loadgen.Bench(b, c, replayOp(pool, stmts, gen))
				b.ReportMetric(float64(len(stmts)), "stmts")
				b.ReportMetric(float64(roundTrips(stmts)), "round-trips")
			})
		}
	}
}

func sep(u string) string {
	if strings.Contains(u, "?") {
		return "&"
	}
	return "?"
}
