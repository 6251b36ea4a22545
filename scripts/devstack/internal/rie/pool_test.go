package rie_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/internal/build"
	"github.com/mad-bio/mad/scripts/devstack/internal/rie"
)

// startEcho builds testdata/echo as a Linux bootstrap and starts a pool of it.
func startEcho(t *testing.T, size int, timeout time.Duration) *rie.Pool {
	t.Helper()
	ctx := context.Background()
	root, err := build.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	emu, err := build.EnsureRIE(ctx, root, filepath.Join(root, ".state", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	boot := filepath.Join(dir, "bootstrap")
	if err := build.Binary(ctx, root, boot, "./scripts/devstack/internal/rie/testdata/echo"); err != nil {
		t.Fatal(err)
	}
	p, err := rie.Start(ctx, rie.Spec{
		Function:  "echo",
		Emulator:  emu,
		Bootstrap: boot,
		Env: []string{"PATH=/usr/bin:/bin", "ECHO_ENV=from-spec", "AWS_LAMBDA_FUNCTION_NAME=mad-test-echo",
			fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(timeout.Seconds())), "AWS_REGION=us-east-1",
			"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"},
		Timeout: timeout,
		Size:    size,
		LogDir:  filepath.Join(dir, "logs"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

type echoReply struct {
	Event    map[string]any `json:"event"`
	PID      int            `json:"pid"`
	Function string         `json:"function"`
	Env      string         `json:"env"`
}

func TestPoolServesConcurrentInvokes(t *testing.T) {
	p := startEcho(t, 2, 5*time.Second)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := p.Invoke(context.Background(), fmt.Appendf(nil, `{"i":%d,"sleep_ms":100}`, i))
			if err != nil {
				errs <- err
				return
			}
			var r echoReply
			if err := json.Unmarshal(out, &r); err != nil {
				errs <- fmt.Errorf("decode %s: %w", out, err)
				return
			}
			if int(r.Event["i"].(float64)) != i || r.Function != "mad-test-echo" || r.Env != "from-spec" {
				errs <- fmt.Errorf("invoke %d: unexpected reply %s", i, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPoolReportsOutcomes(t *testing.T) {
	p := startEcho(t, 1, 2*time.Second)
	ctx := context.Background()
	cases := []struct {
		event string
		kind  rie.ErrorKind
	}{
		{`{"error":"boom"}`, rie.KindFunction},
		{`{"panic":"oops"}`, rie.KindFunction},
		{`{"exit":3}`, rie.KindCrash},
		// hang_ms ignores the context deadline: a handler that honors it
		// would race the emulator's own timeout with its ctx error.
		{`{"hang_ms":4000}`, rie.KindTimeout},
	}
	for _, c := range cases {
		_, err := p.Invoke(ctx, []byte(c.event))
		if !rie.IsKind(err, c.kind) {
			t.Errorf("%s: got %v, want kind %s", c.event, err, c.kind)
		}
		// After every failure the next invoke is served again.
		if _, err := p.Invoke(ctx, []byte(`{"ok":1}`)); err != nil {
			t.Errorf("after %s: %v", c.event, err)
		}
	}
	out, err := p.Invoke(ctx, []byte(`{"raw":{"errorMessage":"x","errorType":"y","statusCode":200}}`))
	if err != nil {
		t.Errorf("a result that merely contains error fields is a success: %v (%s)", err, out)
	}
}

func TestPoolReplacesKilledInstance(t *testing.T) {
	p := startEcho(t, 1, 10*time.Second)
	ctx := context.Background()
	if _, err := p.Invoke(ctx, []byte(`{"warm":1}`)); err != nil {
		t.Fatal(err)
	}
	pids := p.PIDs()
	if len(pids) != 1 {
		t.Fatalf("pids %v", pids)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = syscall.Kill(pids[0], syscall.SIGKILL)
	}()
	start := time.Now()
	_, err := p.Invoke(ctx, []byte(`{"sleep_ms":5000}`))
	if !rie.IsKind(err, rie.KindCrash) {
		t.Fatalf("killed mid-invoke: got %v, want a crash", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the crash took %s to surface", d)
	}
	out, err := p.Invoke(ctx, []byte(`{"after":1}`))
	if err != nil {
		t.Fatalf("invoke after restart: %v", err)
	}
	if p.Restarts() != 1 {
		t.Errorf("restarts = %d, want 1", p.Restarts())
	}
	if np := p.PIDs(); len(np) != 1 || np[0] == pids[0] {
		t.Errorf("pids after restart %v (before %v)", np, pids)
	}
	t.Logf("after restart: %s", out)
}

func TestPoolQueuesWhenBusy(t *testing.T) {
	p := startEcho(t, 1, 5*time.Second)
	ctx := context.Background()
	var wg sync.WaitGroup
	start := time.Now()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Invoke(ctx, []byte(`{"sleep_ms":300}`)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("3 invokes of 300ms on one instance took %s: not serialized", d)
	}
}

// TestPoolInstancesListsProcesses: Instances names each slot's emulator
// and runtime pids, kept current across a runtime killed mid-invoke and an
// emulator killed and replaced.
func TestPoolInstancesListsProcesses(t *testing.T) {
	p := startEcho(t, 1, 10*time.Second)
	ctx := context.Background()
	in := p.Instances(nil)
	if len(in) != 1 || in[0].RIEPID == 0 || in[0].Address == "" || in[0].Busy {
		t.Fatalf("before any invoke: %+v", in)
	}
	out, err := p.Invoke(ctx, []byte(`{"warm":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var r echoReply
	_ = json.Unmarshal(out, &r)
	if in = p.Instances(nil); in[0].BootstrapPID != r.PID {
		t.Fatalf("bootstrap pid %d, the runtime says %d", in[0].BootstrapPID, r.PID)
	}

	// Kill the runtime (bootstrap) while it serves: a crash, then a new runtime.
	done := make(chan error, 1)
	go func() { _, err := p.Invoke(ctx, []byte(`{"sleep_ms":5000}`)); done <- err }()
	deadline := time.Now().Add(3 * time.Second)
	for !p.Instances(nil)[0].Busy && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	boot := p.Instances(nil)[0].BootstrapPID
	if boot == 0 {
		t.Fatal("no bootstrap pid while busy")
	}
	_ = syscall.Kill(boot, syscall.SIGKILL)
	if err := <-done; !rie.IsKind(err, rie.KindCrash) {
		t.Fatalf("runtime killed mid-invoke: %v, want a crash", err)
	}
	if _, err := p.Invoke(ctx, []byte(`{"after":1}`)); err != nil {
		t.Fatalf("after the runtime died: %v", err)
	}
	if nb := p.Instances(nil)[0].BootstrapPID; nb == 0 || nb == boot {
		t.Errorf("bootstrap pid after re-init %d (before %d)", nb, boot)
	}

	// Kill the emulator: the supervisor replaces it and Instances follows.
	old := p.Instances(nil)[0].RIEPID
	_ = syscall.Kill(old, syscall.SIGKILL)
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if i := p.Instances(nil)[0]; i.RIEPID != 0 && i.RIEPID != old && i.Restarts == 1 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("emulator not replaced: %+v", p.Instances(nil))
}
