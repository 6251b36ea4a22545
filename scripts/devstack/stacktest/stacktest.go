// Package stacktest starts a throwaway local stack for tests that drive
// it from outside (end to end, reliability, benchmarks): `devstack up` on
// free ports in a temporary state directory, stopped when the test ends.
package stacktest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/internal/state"
)

// Options tune the stack.
type Options struct {
	// Env adds variables to devstack's environment (MAD_LOCAL_CONCURRENCY,
	// MAD_LOCAL_SWEEP_SECONDS, MAD_LOCAL_FUNCTIONS, ...).
	Env map[string]string
	// VisibilityTimeout of every queue, seconds. The default, 120 s, is
	// longer than any test's docking run even on a loaded machine, so a
	// slow run is never redelivered behind its own back; fault tests that
	// want redelivery set a short one.
	VisibilityTimeout int
}

// Stack is a running local stack.
type Stack struct {
	URL      string
	StateDir string
	Root     string // repository root
	Runtime  state.Runtime
	// Bin is the devstack binary that runs the stack; Command runs its
	// client commands (backup, restore, env...) against this stack.
	Bin string
	env []string
	cmd *exec.Cmd
}

// CurrentRuntime reads runtime.json again: with MAD_LOCAL_FAULTS its
// instance list follows restarts.
func (s *Stack) CurrentRuntime(t testing.TB) state.Runtime {
	t.Helper()
	rt, err := (state.Dir{Path: s.StateDir}).ReadRuntime()
	if err != nil {
		t.Fatalf("read runtime: %v", err)
	}
	return rt
}

// Command returns `devstack args...` set up to act on this stack.
func (s *Stack) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.Bin, args...)
	cmd.Dir = s.Root
	cmd.Env = s.env
	return cmd
}

// RootCredentials are the stack's bootstrap root user.
func (s *Stack) RootCredentials() (email, password string) {
	return envOr("MAD_ROOT_EMAIL", "root@mad.local"), envOr("MAD_ROOT_PASSWORD", "mad-root-password-change-me")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Start runs `devstack up` and returns once GET /ready answers 200.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir (0700 parents): Postgres runs as another OS user under
	// root and must traverse the state dir.
	tmp, err := os.MkdirTemp("", "mad-stack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A failed test keeps the stack's logs for a look.
		if t.Failed() {
			t.Logf("test failed: the stack's logs are kept in %s", filepath.Join(tmp, "state", "logs"))
			_ = os.RemoveAll(filepath.Join(tmp, "state", "pg"))
			return
		}
		os.RemoveAll(tmp)
	})
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	vis := opts.VisibilityTimeout
	if vis == 0 {
		vis = 120
	}
	port, pgPort, awsPort := FreePort(t), FreePort(t), FreePort(t)
	bin := filepath.Join(tmp, "devstack")
	build := exec.Command("go", "build", "-o", bin, "./scripts/devstack")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build devstack: %v\n%s", err, out)
	}
	stateDir := filepath.Join(tmp, "state")
	cmd := exec.Command(bin, "up")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"MAD_LOCAL_STATE_DIR="+stateDir, fmt.Sprintf("PORT=%d", port),
		fmt.Sprintf("MAD_LOCAL_PG_PORT=%d", pgPort), fmt.Sprintf("MAD_LOCAL_AWS_PORT=%d", awsPort),
		fmt.Sprintf("MAD_LOCAL_VISIBILITY_TIMEOUT=%d", vis), "MAD_STAGE=e2e", "DATABASE_URL=", "AWS_ENDPOINT_URL=")
	for k, v := range opts.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	s := &Stack{URL: fmt.Sprintf("http://127.0.0.1:%d", port), StateDir: stateDir, Root: root, Bin: bin, env: cmd.Env, cmd: cmd}
	t.Cleanup(s.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("devstack up exited before ready:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			if strings.Contains(l, "/ready -> 200") {
				t.Logf("stack ready: %s", l)
				go func() {
					for range lines {
					}
				}()
				rt, err := (state.Dir{Path: stateDir}).ReadRuntime()
				if err != nil {
					t.Fatalf("read runtime: %v", err)
				}
				s.Runtime = rt
				return s
			}
		case <-ctx.Done():
			t.Fatalf("devstack up not ready within 4 minutes:\n%s", strings.Join(log, "\n"))
		}
	}
}

// stop ends the stack with SIGTERM (a clean shutdown), SIGKILL after 30 s.
func (s *Stack) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// RepoRoot finds the module root from the working directory.
func RepoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", fmt.Errorf("go.mod not found")
		}
		d = p
	}
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Attach describes a stack someone else runs (`make dev`): its runtime
// file is read from stateDir (".state" at the repository root when empty).
func Attach(t testing.TB, url, stateDir string) *Stack {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if stateDir == "" {
		stateDir = envOr("MAD_LOCAL_STATE_DIR", filepath.Join(root, ".state"))
	}
	rt, err := (state.Dir{Path: stateDir}).ReadRuntime()
	if err != nil {
		t.Fatalf("attach to %s: %v", url, err)
	}
	return &Stack{URL: url, StateDir: stateDir, Root: root, Runtime: rt, cmd: nil}
}

// FunctionEnv returns variable name of function fn's environment.
func (s *Stack) FunctionEnv(fn, name string) string {
	for _, kv := range s.Runtime.FunctionEnv[fn] {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
