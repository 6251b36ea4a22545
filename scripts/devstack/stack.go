package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/build"
	"github.com/mad-bio/mad/scripts/devstack/internal/faults"
	"github.com/mad-bio/mad/scripts/devstack/internal/fnenv"
	"github.com/mad-bio/mad/scripts/devstack/internal/gateway"
	"github.com/mad-bio/mad/scripts/devstack/internal/moto"
	"github.com/mad-bio/mad/scripts/devstack/internal/pg"
	"github.com/mad-bio/mad/scripts/devstack/internal/poller"
	"github.com/mad-bio/mad/scripts/devstack/internal/provision"
	"github.com/mad-bio/mad/scripts/devstack/internal/rie"
	"github.com/mad-bio/mad/scripts/devstack/internal/schedule"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/stack"
)

// Options configure one local stack.
type Options struct {
	Root         string // repository root
	StateDir     string
	Port         int // gateway
	PGPort       int
	AWSPort      int
	Stage        string
	Region       string
	DatabaseURL  string // external Postgres (owner URL) instead of the state dir's cluster
	AWSEndpoint  string // external endpoint (LocalStack) when it answers
	Concurrency  int
	Visibility   int           // seconds; 0 = stack.QueueVisibilitySeconds
	SweepPeriod  time.Duration // 0 = the function's ScheduleMinutes
	RootEmail    string
	RootPassword string
	FunctionsDir string // package directory of the functions, relative to Root
	Ephemeral    bool   // throwaway state (e2e): fsync off, no snapshot
	LogLevel     string
	Out          io.Writer // one human line per component
	Log          *slog.Logger
	// VinaPath replaces the engine's vina (MAD_LOCAL_VINA), e.g. with
	// scripts/fakevina.
	VinaPath string
	// Faults turns on fault injection and observability (MAD_LOCAL_FAULTS):
	// the admin API of internal/faults and the instance list in
	// runtime.json. Off by default.
	Faults bool
	// BuildDir replaces build/local for the function binaries
	// (MAD_LOCAL_BUILD_DIR).
	BuildDir string
	// S3FaultFunctions reach the AWS endpoint through the fault proxy
	// (MAD_LOCAL_S3_FAULTS=engine,...); implies Faults.
	S3FaultFunctions []string
}

func envInt(name string, def int) (int, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q is not a non-negative integer", name, v)
	}
	return n, nil
}

func envBool(name string) bool {
	switch strings.ToLower(envStr(name, "")) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

func envStr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// optionsFromEnv reads the settings documented in the package comment.
func optionsFromEnv() (Options, error) {
	root, err := build.RepoRoot(".")
	if err != nil {
		return Options{}, err
	}
	o := Options{
		Root:         root,
		StateDir:     envStr("MAD_LOCAL_STATE_DIR", filepath.Join(root, ".state")),
		Stage:        envStr("MAD_STAGE", "local"),
		Region:       "us-east-1",
		DatabaseURL:  os.Getenv("DATABASE_URL"),
		AWSEndpoint:  os.Getenv("AWS_ENDPOINT_URL"),
		RootEmail:    envStr("MAD_ROOT_EMAIL", provision.DefaultRootEmail),
		RootPassword: envStr("MAD_ROOT_PASSWORD", provision.DefaultRootPassword),
		FunctionsDir: envStr("MAD_LOCAL_FUNCTIONS", "functions"),
		LogLevel:     envStr("MAD_LOG_LEVEL", "info"),
		Out:          os.Stdout,
	}
	for _, s := range []struct {
		name string
		def  int
		dst  *int
	}{
		{"PORT", 3000, &o.Port}, {"MAD_LOCAL_PG_PORT", 54329, &o.PGPort}, {"MAD_LOCAL_AWS_PORT", 45660, &o.AWSPort},
		{"MAD_LOCAL_CONCURRENCY", 2, &o.Concurrency}, {"MAD_LOCAL_VISIBILITY_TIMEOUT", 0, &o.Visibility},
	} {
		if *s.dst, err = envInt(s.name, s.def); err != nil {
			return o, err
		}
	}
	sweep, err := envInt("MAD_LOCAL_SWEEP_SECONDS", 0)
	if err != nil {
		return o, err
	}
	o.SweepPeriod = time.Duration(sweep) * time.Second
	if v := envStr("MAD_LOCAL_VINA", ""); v != "" {
		if o.VinaPath, err = filepath.Abs(v); err != nil {
			return o, err
		}
		if st, err := os.Stat(o.VinaPath); err != nil || st.IsDir() {
			return o, fmt.Errorf("MAD_LOCAL_VINA=%s is not an executable file (build one with go build -o /tmp/fakevina ./scripts/fakevina)", v)
		}
	}
	if v := envStr("MAD_LOCAL_BUILD_DIR", ""); v != "" {
		if o.BuildDir, err = filepath.Abs(v); err != nil {
			return o, err
		}
	}
	// Throwaway stacks of tests (stacktest): fsync off, no snapshot at exit.
	o.Ephemeral = envBool("MAD_LOCAL_EPHEMERAL")
	o.Faults = envBool("MAD_LOCAL_FAULTS")
	for _, fn := range strings.Split(envStr("MAD_LOCAL_S3_FAULTS", ""), ",") {
		if fn = strings.TrimSpace(fn); fn == "" {
			continue
		}
		if _, ok := stack.FunctionByName(fn); !ok {
			return o, fmt.Errorf("MAD_LOCAL_S3_FAULTS: unknown function %q", fn)
		}
		o.S3FaultFunctions = append(o.S3FaultFunctions, fn)
		o.Faults = true
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	return o, nil
}

// Stack is a running local stack.
type Stack struct {
	o       Options
	st      state.Dir
	start   time.Time
	log     *slog.Logger
	pg      *pg.Cluster
	moto    *moto.Server
	clients *awsx.Clients
	res     *provision.Resources
	reg     *rie.Registry
	srv     *http.Server
	bgStop  context.CancelFunc
	bg      sync.WaitGroup
	failed  chan error
	stopped chan struct{}
	once    sync.Once
	// URL is the gateway's base URL.
	URL     string
	runtime state.Runtime
	rtMu    sync.Mutex // runtime and its file

	pgMu   sync.Mutex  // pg, replaced when fault injection restarts it
	pgDown atomic.Bool // pg was stopped on purpose (fault injection)
	// fault injection (Options.Faults)
	faultSrvs []*http.Server
	proxy     *faults.Proxy
}

func (s *Stack) ready(component, format string, args ...any) {
	fmt.Fprintf(s.o.Out, "[%6.1fs] %-14s %s\n", time.Since(s.start).Seconds(), component, fmt.Sprintf(format, args...))
}

// Start brings the stack up and returns once the gateway serves.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	s := &Stack{o: o, st: state.Dir{Path: o.StateDir}, start: time.Now(), failed: make(chan error, 4), stopped: make(chan struct{})}
	s.log = o.Log
	if s.log == nil {
		s.log = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := os.MkdirAll(s.st.Logs(), 0o755); err != nil {
		return nil, err
	}
	// Postgres (running as another OS user) must traverse the state dir.
	_ = os.Chmod(s.st.Path, 0o755)
	if rt, err := s.st.ReadRuntime(); err == nil && rt.PID > 0 && rt.PID != os.Getpid() && syscall.Kill(rt.PID, 0) == nil {
		return nil, fmt.Errorf("a local stack already runs from %s (pid %d, %s)", s.st.Path, rt.PID, rt.GatewayURL)
	}
	creds, err := s.st.LoadOrCreateCredentials()
	if err != nil {
		return nil, err
	}
	if o.Port == 0 {
		if o.Port, err = freePort(); err != nil {
			return nil, err
		}
		s.o.Port = o.Port
	}
	// The gateway's port is taken first, so a busy port fails fast.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)))
	if err != nil {
		return nil, fmt.Errorf("gateway port: %w (set PORT)", err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()

	// Phase 1, in parallel: Postgres, the AWS endpoint, the builds.
	var (
		wg                      sync.WaitGroup
		pgErr, awsErr, buildErr error
		db                      provision.DB
		ownerURL                string
		endpoint                string
		built                   []stack.Function
		emulator                string
	)
	wg.Add(3)
	go func() { defer wg.Done(); db, ownerURL, pgErr = s.startPostgres(ctx, creds) }()
	go func() { defer wg.Done(); endpoint, awsErr = s.startAWS(ctx) }()
	go func() { defer wg.Done(); built, emulator, buildErr = s.buildAll(ctx) }()
	wg.Wait()
	if err := errors.Join(pgErr, awsErr, buildErr); err != nil {
		return nil, err
	}

	// Phase 2: resources, roles, emulators, migration.
	if s.clients, err = awsx.New(ctx, endpoint, o.Region); err != nil {
		return nil, err
	}
	account, err := provision.Account(ctx, s.clients)
	if err != nil {
		return nil, err
	}
	names := stack.Names{Stage: o.Stage, Account: account, Region: o.Region}
	po := provision.Options{Names: names, Visibility: o.Visibility, DB: db, RootEmail: o.RootEmail, RootPassword: o.RootPassword, Log: s.log}
	if s.moto != nil && !o.Ephemeral {
		po.SnapshotDir = s.st.AWS()
	}
	if s.res, err = provision.Provision(ctx, s.clients, po); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	restored := ""
	if s.res.RestoredObjects+s.res.RestoredSecrets > 0 {
		restored = fmt.Sprintf(", restored %d objects and %d secrets from %s", s.res.RestoredObjects, s.res.RestoredSecrets, s.st.AWS())
	}
	s.ready("resources", "stage %s: key %s, buckets %s %s, queues jobs/uploads (+DLQs, visibility %ds), secrets%s",
		names.Stage, names.KeyAlias(), s.res.ArtifactsBucket, s.res.UploadsBucket, s.res.Queues["jobs"].Visibility, restored)
	if err := ensureAppRole(ctx, ownerURL, db.AppPassword); err != nil {
		return nil, err
	}

	in := fnenv.Inputs{Names: names, Endpoint: endpoint, Res: s.res, LogLevel: o.LogLevel, ScratchDir: fnenv.ScratchDir(s.st.Path),
		VinaPath: o.VinaPath}
	if o.VinaPath != "" {
		s.ready("engine", "vina replaced by %s (MAD_LOCAL_VINA)", o.VinaPath)
	}
	if len(o.S3FaultFunctions) > 0 {
		proxyURL, err := s.startFaultProxy(endpoint)
		if err != nil {
			return nil, err
		}
		in.EndpointFor = map[string]string{}
		for _, fn := range o.S3FaultFunctions {
			in.EndpointFor[fn] = proxyURL
		}
		s.runtime.Faults = &state.Faults{S3ProxyURL: proxyURL, S3ProxyFunctions: o.S3FaultFunctions}
		s.ready("fault proxy", "%s in front of %s for %s", proxyURL, endpoint, strings.Join(o.S3FaultFunctions, ", "))
	}
	if err := os.MkdirAll(in.ScratchDir, 0o755); err != nil {
		return nil, err
	}
	faultInfo := s.runtime.Faults
	s.runtime = state.Runtime{Faults: faultInfo, PID: os.Getpid(), Stage: names.Stage, Region: names.Region, Account: account,
		GatewayURL: fmt.Sprintf("http://127.0.0.1:%d", o.Port), AWSEndpoint: endpoint, KeyARN: s.res.KeyARN, FunctionEnv: map[string][]string{},
		DatabaseURL: pg.Conn{Host: db.Host, Port: db.Port, User: db.AppUser, Password: db.AppPassword, DBName: db.Name}.URL(),
		AdminURL:    ownerURL}
	if s.pg != nil {
		s.runtime.SuperURL = s.pg.SocketURL(db.Name)
		s.runtime.PGDataDir = s.st.PG()
	}
	for _, f := range stack.Functions {
		s.runtime.FunctionEnv[f.Name] = fnenv.Env(f, in)
	}
	s.reg = rie.NewRegistry()
	if err := s.startPools(ctx, built, emulator); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, built, emulator); err != nil {
		return nil, err
	}

	// Phase 3: gateway, pollers, schedules.
	s.URL = s.runtime.GatewayURL
	g := gateway.New(gateway.Config{
		Invoker: s.reg, AccountID: account, Region: names.Region, APIID: "local",
		Timeout: func(fn string) time.Duration {
			if f, ok := stack.FunctionByName(fn); ok {
				return time.Duration(f.TimeoutSeconds) * time.Second
			}
			return 30 * time.Second
		},
		AccessLog: s.log.With("component", "gateway"),
	})
	s.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.failed <- fmt.Errorf("gateway: %w", err)
		}
	}()
	s.ready("gateway", "%s (routes: %d, authorizer: %s)", s.URL, len(routes.Table), routes.FnAuthorizer)
	bgCtx, cancel := context.WithCancel(context.Background())
	s.bgStop = cancel
	s.startPollers(bgCtx, built)
	s.startSchedules(bgCtx, built, account)
	if o.Faults {
		if err := s.startFaultAdmin(bgCtx); err != nil {
			return nil, err
		}
	}
	if err := s.writeRuntime(nil); err != nil {
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Stack) startPostgres(ctx context.Context, creds state.Credentials) (provision.DB, string, error) {
	db := provision.DB{Host: "127.0.0.1", Name: stack.DatabaseName, AppUser: stack.AppDBUser, AppPassword: creds.AppPassword}
	if s.o.DatabaseURL != "" {
		c, err := pg.ParseURL(s.o.DatabaseURL)
		if err != nil {
			return db, "", err
		}
		db.Host, db.Port, db.Name, db.AdminUser, db.AdminPassword = c.Host, c.Port, c.DBName, c.User, c.Password
		conn, err := pgx.Connect(ctx, s.o.DatabaseURL)
		if err != nil {
			return db, "", fmt.Errorf("DATABASE_URL: %w", err)
		}
		conn.Close(ctx)
		s.ready("postgres", "DATABASE_URL %s:%d/%s as %s", c.Host, c.Port, c.DBName, c.User)
		return db, s.o.DatabaseURL, nil
	}
	cl, err := pg.Start(ctx, pg.Options{Dir: s.st.PG(), Port: s.o.PGPort, LogPath: filepath.Join(s.st.Logs(), "postgres.log"),
		Ephemeral: s.o.Ephemeral, SuperPassword: state.Random(32)})
	if err != nil {
		return db, "", fmt.Errorf("postgres: %w", err)
	}
	s.pg = cl
	go s.watchPostgres(cl)
	if err := pg.EnsureOwner(ctx, cl.SocketURL("postgres"), creds.OwnerPassword, stack.DatabaseName); err != nil {
		return db, "", err
	}
	db.Port, db.AdminUser, db.AdminPassword = s.o.PGPort, pg.OwnerRole, creds.OwnerPassword
	owner := pg.Conn{Host: "127.0.0.1", Port: s.o.PGPort, User: pg.OwnerRole, Password: creds.OwnerPassword, DBName: stack.DatabaseName}
	s.ready("postgres", "127.0.0.1:%d database %s owned by %s (%s)", s.o.PGPort, stack.DatabaseName, pg.OwnerRole, s.st.PG())
	return db, owner.URL(), nil
}

func (s *Stack) startAWS(ctx context.Context) (string, error) {
	if ep := s.o.AWSEndpoint; ep != "" {
		if moto.Answers(ctx, ep) {
			s.ready("aws endpoint", "%s (AWS_ENDPOINT_URL)", ep)
			return ep, nil
		}
		fmt.Fprintf(s.o.Out, "AWS_ENDPOINT_URL=%s does not answer; starting moto instead\n", ep)
	}
	if err := moto.EnsureVenv(ctx, s.o.Root); err != nil {
		return "", err
	}
	m, err := moto.Start(ctx, s.o.Root, s.o.AWSPort, filepath.Join(s.st.Logs(), "moto.log"))
	if err != nil {
		return "", fmt.Errorf("moto (set MAD_LOCAL_AWS_PORT if %d is taken): %w", s.o.AWSPort, err)
	}
	s.moto = m
	go s.watch("moto", m.Exited())
	s.ready("aws endpoint", "moto %s", m.URL)
	return m.URL, nil
}

// watch reports a child that exits while the stack runs.
func (s *Stack) watch(name string, exited <-chan struct{}) {
	select {
	case <-exited:
		select {
		case <-s.stopped:
		default:
			s.failed <- fmt.Errorf("%s exited unexpectedly (see %s)", name, s.st.Logs())
		}
	case <-s.stopped:
	}
}

// buildDir is where `make build-local` puts the host's bootstraps.
// MAD_LOCAL_BUILD_DIR moves it (tests that must not share binaries with
// a stack or a build running from the same tree).
func (s *Stack) buildDir() string {
	if s.o.BuildDir != "" {
		return s.o.BuildDir
	}
	return filepath.Join(s.o.Root, "build", "local")
}

// buildAll builds every present function and installs the emulator.
func (s *Stack) buildAll(ctx context.Context) ([]stack.Function, string, error) {
	emu, err := build.EnsureRIE(ctx, s.o.Root, filepath.Join(s.o.Root, ".state", "bin"))
	if err != nil {
		return nil, "", err
	}
	present, missing := build.Present(s.o.Root, s.o.FunctionsDir)
	for _, m := range missing {
		fmt.Fprintf(s.o.Out, "warning: %s/%s is missing: not running it\n", s.o.FunctionsDir, m)
	}
	var names []string
	for _, f := range present {
		names = append(names, f.Name)
	}
	failed := buildFunctions(ctx, s.o.Root, s.buildDir(), s.o.FunctionsDir, names)
	var built []stack.Function
	for _, f := range present {
		if err := failed[f.Name]; err != nil {
			fmt.Fprintf(s.o.Out, "warning: %s/%s does not build, not running it:\n%s\n", s.o.FunctionsDir, f.Name, indent(err.Error()))
			continue
		}
		built = append(built, f)
	}
	var bn []string
	for _, f := range built {
		bn = append(bn, f.Name)
	}
	s.ready("build", "%d functions into %s: %s", len(built), s.buildDir(), strings.Join(bn, " "))
	return built, emu, nil
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

// buildFunctions builds pkgDir/<name> (pkgDir relative to root) into
// outDir/<name>/bootstrap.
func buildFunctions(ctx context.Context, root, outDir, pkgDir string, names []string) map[string]error {
	if pkgDir == "functions" {
		return build.Functions(ctx, root, outDir, names)
	}
	failed := map[string]error{}
	for _, n := range names {
		if err := build.Binary(ctx, root, build.BootstrapPath(outDir, n), "./"+filepath.ToSlash(filepath.Join(pkgDir, n))); err != nil {
			failed[n] = err
		}
	}
	return failed
}

func ensureAppRole(ctx context.Context, ownerURL, appPassword string) error {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return fmt.Errorf("connect as owner: %w", err)
	}
	defer conn.Close(ctx)
	if err := postgres.EnsureAppRoles(ctx, conn, stack.AppDBRole, stack.AppDBUser, appPassword, true); err != nil {
		return fmt.Errorf("application role: %w", err)
	}
	return nil
}

// poolSize is MAD_LOCAL_CONCURRENCY, 1 for the one-at-a-time functions.
func (s *Stack) poolSize(f stack.Function) int {
	switch f.Kind {
	case stack.KindSchedule, stack.KindTrigger, stack.KindRotation:
		return 1
	}
	return s.o.Concurrency
}

func (s *Stack) spec(f stack.Function, emulator string) rie.Spec {
	return rie.Spec{
		Function:  f.Name,
		Emulator:  emulator,
		Bootstrap: build.BootstrapPath(s.buildDir(), f.Name),
		Env:       s.runtime.FunctionEnv[f.Name],
		Timeout:   time.Duration(f.TimeoutSeconds) * time.Second,
		Size:      s.poolSize(f),
		LogDir:    s.st.Logs(),
		Logger:    s.log.With("component", "emulator"),
	}
}

// startPools starts the long-running functions' emulators (every built
// function but the once-only migrate and rotate).
func (s *Stack) startPools(ctx context.Context, built []stack.Function, emulator string) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, f := range built {
		if f.Kind == stack.KindTrigger || f.Kind == stack.KindRotation {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := rie.Start(ctx, s.spec(f, emulator))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			s.reg.Add(p)
			s.ready("function", "%-10s %d instance(s), timeout %ds, logs %s-N.log", f.Name, p.Size(), f.TimeoutSeconds, filepath.Join(s.st.Logs(), f.Name))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// migrate runs the migrate function once, as the deploy-time trigger does.
func (s *Stack) migrate(ctx context.Context, built []stack.Function, emulator string) error {
	var f stack.Function
	for _, b := range built {
		if b.Name == routes.FnMigrate {
			f = b
		}
	}
	if f.Name == "" {
		return fmt.Errorf("the migrate function (%s/migrate) is missing or does not build: it applies the migrations and creates the root user, and the stack cannot serve without it", s.o.FunctionsDir)
	}
	p, err := rie.Start(ctx, s.spec(f, emulator))
	if err != nil {
		return err
	}
	defer p.Close()
	t0 := time.Now()
	out, err := p.Invoke(ctx, []byte(`{"RequestType":"Create"}`))
	if err != nil {
		return fmt.Errorf("migrate failed: %w (log: %s)", err, filepath.Join(s.st.Logs(), "migrate-0.log"))
	}
	s.ready("migrate", "done in %s: %s", time.Since(t0).Round(time.Millisecond), truncate(strings.TrimSpace(string(out)), 200))
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (s *Stack) startPollers(ctx context.Context, built []stack.Function) {
	for _, f := range built {
		if f.Kind != stack.KindQueue {
			continue
		}
		p, ok := s.reg.Pool(f.Name)
		if !ok {
			continue
		}
		q := s.res.Queues[string(f.Consumes)]
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			poller.Run(ctx, poller.Config{Function: f.Name, QueueURL: q.URL, QueueARN: q.ARN, Region: s.o.Region,
				Invoker: s.reg, SQS: s.clients.SQS, Concurrency: p.Size(), Log: s.log.With("component", "poller")})
		}()
		s.ready("poller", "%-10s <- %s (batch 1, %d pollers, visibility %ds)", f.Name, q.Name, p.Size(), q.Visibility)
	}
}

func (s *Stack) startSchedules(ctx context.Context, built []stack.Function, account string) {
	for _, f := range built {
		if f.Kind != stack.KindSchedule {
			continue
		}
		period := time.Duration(f.ScheduleMinutes) * time.Minute
		if s.o.SweepPeriod > 0 {
			period = s.o.SweepPeriod
		}
		rule := schedule.Rule{Function: f.Name, RuleName: s.res.Names.FunctionName(f.Name) + "-schedule", Period: period,
			Account: account, Region: s.o.Region, Invoker: s.reg, Log: s.log.With("component", "schedule")}
		s.bg.Add(1)
		go func() { defer s.bg.Done(); schedule.Run(ctx, rule) }()
		s.ready("schedule", "%-10s every %s", f.Name, period)
	}
}

// WaitReady polls GET /ready until it answers 200.
func (s *Stack) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	client := &http.Client{Timeout: 20 * time.Second}
	for {
		resp, err := client.Get(s.URL + "/ready")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		select {
		case err := <-s.failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /ready did not answer 200 within %s; last answer: %s", timeout, last)
		}
	}
}

// Wait blocks until ctx is done (nil) or a child dies (its error).
func (s *Stack) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.failed:
		return err
	}
}

// Stop stops everything in order; it is safe to call more than once.
func (s *Stack) Stop() {
	s.once.Do(func() {
		close(s.stopped)
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.srv.Shutdown(ctx)
			cancel()
		}
		if s.bgStop != nil {
			s.bgStop()
			done := make(chan struct{})
			go func() { s.bg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				fmt.Fprintln(s.o.Out, "warning: in-flight queue invokes did not finish within 15s; their messages will be redelivered")
			}
		}
		if s.moto != nil && s.res != nil && !s.o.Ephemeral {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			snap, err := provision.TakeSnapshot(ctx, s.clients, s.res, s.st.AWS())
			cancel()
			if err != nil {
				fmt.Fprintf(s.o.Out, "warning: snapshot of S3 and secrets failed: %v\n", err)
			} else {
				fmt.Fprintf(s.o.Out, "saved %d objects and %d secrets to %s\n", len(snap.Objects), len(snap.Secrets), s.st.AWS())
			}
		}
		if s.reg != nil {
			s.reg.Close()
		}
		for _, srv := range s.faultSrvs {
			_ = srv.Close()
		}
		s.moto.Stop()
		s.pgMu.Lock()
		s.pg.Stop()
		s.pgMu.Unlock()
		if rt, err := s.st.ReadRuntime(); err == nil && rt.PID == os.Getpid() {
			_ = os.Remove(s.st.Runtime())
		}
	})
}
