package rie

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/internal/proc"
)

// Spec describes the instances of one function.
type Spec struct {
	Function  string        // function name, e.g. "health"
	Emulator  string        // path of aws-lambda-rie
	Bootstrap string        // path of the function's bootstrap
	Env       []string      // environment of the emulator; it forwards all of it to the runtime
	Timeout   time.Duration // the function's timeout (the emulator enforces it too)
	Size      int           // instances (default 1)
	LogDir    string        // instance n logs to LogDir/<function>-<n>.log
	// MaxWait bounds how long an invoke waits for a free instance
	// (default: the function timeout, at least 30s).
	MaxWait time.Duration
	Logger  *slog.Logger
}

// invokeMargin is added to the function timeout to bound an invoke: the
// emulator answers a timeout itself; past the margin it is considered hung.
const invokeMargin = 5 * time.Second

// Pool is a fixed set of emulator instances of one function.
type Pool struct {
	spec   Spec
	free   chan *instance
	insts  []*instance
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	client *http.Client
	log    *slog.Logger
}

// Start starts spec.Size instances and waits until every emulator listens.
func Start(ctx context.Context, spec Spec) (*Pool, error) {
	if spec.Size <= 0 {
		spec.Size = 1
	}
	if spec.Timeout <= 0 {
		spec.Timeout = 3 * time.Second
	}
	if spec.MaxWait <= 0 {
		spec.MaxWait = max(spec.Timeout, 30*time.Second)
	}
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	for _, f := range []string{spec.Emulator, spec.Bootstrap} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("pool %s: %w", spec.Function, err)
		}
	}
	if err := os.MkdirAll(spec.LogDir, 0o755); err != nil {
		return nil, err
	}
	p := &Pool{
		spec:   spec,
		free:   make(chan *instance, spec.Size),
		closed: make(chan struct{}),
		// No keep-alive: the emulator's server is single-use per invoke and
		// a pooled connection to a dead emulator would only add confusion.
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		log:    spec.Logger.With("function", spec.Function),
	}
	for n := range spec.Size {
		in := &instance{pool: p, n: n, changed: make(chan struct{})}
		p.insts = append(p.insts, in)
		p.wg.Add(1)
		go in.supervise()
		p.free <- in
	}
	// Wait for every first generation, so "ready" means ready.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, in := range p.insts {
		if _, err := in.current(wctx); err != nil {
			p.Close()
			return nil, fmt.Errorf("pool %s: instance %d did not start: %w", spec.Function, in.n, err)
		}
	}
	return p, nil
}

// Function returns the pool's function name.
func (p *Pool) Function() string { return p.spec.Function }

// Size returns the number of instances.
func (p *Pool) Size() int { return p.spec.Size }

// Timeout returns the function's timeout.
func (p *Pool) Timeout() time.Duration { return p.spec.Timeout }

// PIDs returns the emulator process ids of the live instances, in order.
func (p *Pool) PIDs() []int {
	var out []int
	for _, in := range p.insts {
		in.mu.Lock()
		if in.cur != nil && in.cur.cmd.Process != nil {
			out = append(out, in.cur.cmd.Process.Pid)
		}
		in.mu.Unlock()
	}
	return out
}

// Instance describes one instance slot and its current processes.
type Instance struct {
	Index   int    `json:"index"`
	Address string `json:"address"` // the emulator's invoke address
	RIEPID  int    `json:"rie_pid"`
	// BootstrapPID is the function's runtime process, a child of the
	// emulator; 0 until the first invoke starts it (the emulator starts
	// the runtime lazily, and again after it died).
	BootstrapPID int  `json:"bootstrap_pid,omitempty"`
	Restarts     int  `json:"restarts"`
	Busy         bool `json:"busy"`
}

// Instances describes the live instances; children maps a pid to its
// children (proc.ChildMap), nil to read /proc now.
func (p *Pool) Instances(children map[int][]int) []Instance {
	if children == nil {
		children = proc.ChildMap()
	}
	var out []Instance
	for _, in := range p.insts {
		in.mu.Lock()
		i := Instance{Index: in.n, Restarts: in.restarts, Busy: in.busy}
		if in.cur != nil && in.cur.cmd.Process != nil {
			select {
			case <-in.cur.exited:
			default:
				i.Address, i.RIEPID = in.cur.addr, in.cur.cmd.Process.Pid
			}
		}
		in.mu.Unlock()
		if kids := children[i.RIEPID]; i.RIEPID > 0 && len(kids) > 0 {
			i.BootstrapPID = kids[0]
		}
		out = append(out, i)
	}
	return out
}

// Restarts returns how many times instances were restarted after an exit.
func (p *Pool) Restarts() int {
	n := 0
	for _, in := range p.insts {
		in.mu.Lock()
		n += in.restarts
		in.mu.Unlock()
	}
	return n
}

// Close stops every instance and waits for the processes to exit.
func (p *Pool) Close() {
	p.once.Do(func() { close(p.closed) })
	p.wg.Wait()
}

// Invoke runs one invoke on a free instance, queueing while all are busy
// (up to MaxWait). The invoke is bounded by the function timeout plus a
// margin, so it never hangs. Errors are *InvokeError.
func (p *Pool) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return p.InvokeID(ctx, "", payload)
}

// InvokeID is Invoke with a given Lambda request id.
func (p *Pool) InvokeID(ctx context.Context, requestID string, payload []byte) ([]byte, error) {
	fn := p.spec.Function
	wctx, cancel := context.WithTimeout(ctx, p.spec.MaxWait)
	defer cancel()
	var in *instance
	select {
	case in = <-p.free:
	case <-wctx.Done():
		return nil, &InvokeError{Function: fn, Kind: KindUnavailable, Message: fmt.Sprintf("no free instance within %s", p.spec.MaxWait)}
	case <-p.closed:
		return nil, &InvokeError{Function: fn, Kind: KindUnavailable, Message: "stopped"}
	}
	in.setBusy(true)
	defer func() { in.setBusy(false); p.free <- in }()
	pr, err := in.current(wctx)
	if err != nil {
		return nil, &InvokeError{Function: fn, Kind: KindUnavailable, Message: "instance not running: " + err.Error()}
	}
	ictx, icancel := context.WithTimeout(ctx, p.spec.Timeout+invokeMargin)
	defer icancel()
	start := time.Now()
	status, body, err := post(ictx, p.client, pr.addr, requestID, payload)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			// The caller gave up (shutdown): the emulator still runs the
			// invoke and would refuse the next one, so replace it.
			pr.kill()
			return nil, &InvokeError{Function: fn, Kind: KindUnavailable, Message: "invoke abandoned: " + ctx.Err().Error()}
		case ictx.Err() != nil:
			p.log.Warn("emulator hung past the timeout; replacing the instance", "instance", in.n, "after", time.Since(start).String())
			pr.kill()
			return nil, &InvokeError{Function: fn, Kind: KindTimeout, Message: fmt.Sprintf("no answer within %s", p.spec.Timeout+invokeMargin)}
		}
		// The connection broke: the emulator died (or is dying). Make sure
		// it is gone; the supervisor starts a new one.
		select {
		case <-pr.exited:
		case <-time.After(time.Second):
			pr.kill()
		}
		p.log.Warn("instance died mid-invoke", "instance", in.n, "error", err.Error())
		return nil, &InvokeError{Function: fn, Kind: KindCrash, Message: "the function's instance died during the invoke"}
	}
	return classify(fn, status, body)
}

// instance is one supervised emulator slot; its process is replaced when
// it exits.
type instance struct {
	pool     *Pool
	n        int
	mu       sync.Mutex
	cur      *process
	changed  chan struct{} // closed when cur changes
	restarts int
	busy     bool
}

func (in *instance) setBusy(b bool) {
	in.mu.Lock()
	in.busy = b
	in.mu.Unlock()
}

type process struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
}

func (pr *process) kill() {
	proc.KillTree(pr.cmd.Process.Pid, syscall.SIGKILL)
}

func (in *instance) setCurrent(pr *process) {
	in.mu.Lock()
	in.cur = pr
	close(in.changed)
	in.changed = make(chan struct{})
	in.mu.Unlock()
}

// current waits for a live process.
func (in *instance) current(ctx context.Context) (*process, error) {
	for {
		in.mu.Lock()
		pr, ch := in.cur, in.changed
		in.mu.Unlock()
		if pr != nil {
			select {
			case <-pr.exited:
			default:
				return pr, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-in.pool.closed:
			return nil, errors.New("pool closed")
		}
	}
}

func (in *instance) supervise() {
	p := in.pool
	defer p.wg.Done()
	backoff := 100 * time.Millisecond
	for first := true; ; first = false {
		pr, err := in.start()
		if err != nil {
			p.log.Error("instance failed to start", "instance", in.n, "error", err.Error())
		} else {
			if !first {
				in.mu.Lock()
				in.restarts++
				in.mu.Unlock()
				p.log.Info("instance restarted", "instance", in.n, "pid", pr.cmd.Process.Pid)
			}
			in.setCurrent(pr)
			began := time.Now()
			select {
			case <-pr.exited:
				if time.Since(began) > 10*time.Second {
					backoff = 100 * time.Millisecond
				}
				select {
				case <-p.closed:
					return
				default:
				}
				p.log.Warn("instance exited; replacing it", "instance", in.n, "state", pr.cmd.ProcessState.String())
			case <-p.closed:
				proc.Stop(pr.cmd, pr.exited, 2*time.Second)
				return
			}
		}
		select {
		case <-time.After(backoff):
		case <-p.closed:
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (in *instance) start() (*process, error) {
	p := in.pool
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	rport, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(p.spec.LogDir, fmt.Sprintf("%s-%d.log", p.spec.Function, in.n))
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(lf, "---- %s starting %s instance %d on %s\n", time.Now().Format(time.RFC3339), p.spec.Function, in.n, addr)
	cmd := exec.Command(p.spec.Emulator,
		"--runtime-interface-emulator-address", addr,
		// The emulator's runtime API defaults to 127.0.0.1:9001 for every
		// instance; give each its own.
		"--runtime-api-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(rport)),
		p.spec.Bootstrap)
	cmd.Dir = filepath.Dir(p.spec.Bootstrap)
	cmd.Env = p.spec.Env
	cmd.Stdout, cmd.Stderr = lf, lf
	proc.Prepare(cmd)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	pr := &process{cmd: cmd, addr: addr, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(pr.exited)
	}()
	if err := proc.WaitTCP(addr, pr.exited, 10*time.Second); err != nil {
		pr.kill()
		<-pr.exited
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	return pr, nil
}

// Registry maps function names to their pools; it is the Invoker of the
// gateway, the pollers and the scheduler.
type Registry struct {
	mu    sync.RWMutex
	pools map[string]*Pool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{pools: map[string]*Pool{}} }

// Add registers p under its function name.
func (r *Registry) Add(p *Pool) {
	r.mu.Lock()
	r.pools[p.Function()] = p
	r.mu.Unlock()
}

// Pool returns the pool of fn.
func (r *Registry) Pool(fn string) (*Pool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.pools[fn]
	return p, ok
}

// Pools returns the registered pools ordered by function name.
func (r *Registry) Pools() []*Pool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Pool, 0, len(r.pools))
	for _, p := range r.pools {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Function() < out[j].Function() })
	return out
}

// Invoke implements Invoker.
func (r *Registry) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	p, ok := r.Pool(fn)
	if !ok {
		return nil, &InvokeError{Function: fn, Kind: KindUnavailable, Message: "function " + fn + " is not running (not built?)"}
	}
	return p.Invoke(ctx, payload)
}

// Close stops every pool.
func (r *Registry) Close() {
	r.mu.Lock()
	pools := r.pools
	r.pools = map[string]*Pool{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Add(1)
		go func() { defer wg.Done(); p.Close() }()
	}
	wg.Wait()
}
