package vina

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Output limits of child processes. Vina's stdout is a few KiB and obabel
// prints a line per warning, so 1 MiB per stream only matters for a tool
// gone wrong; the tail is kept because that is where results and errors are.
const (
	maxCapturedOutput = 1 << 20
	// waitDelay bounds how long Wait keeps reading pipes after the process
	// was killed, so that a grandchild holding a pipe open cannot hang Dock.
	waitDelay = 5 * time.Second
)

// tailBuffer is an io.Writer that keeps only the last limit bytes written.
type tailBuffer struct {
	limit int
	buf   []byte
	total int64
}

func newTailBuffer(limit int) *tailBuffer { return &tailBuffer{limit: limit} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.total += int64(len(p))
	if len(p) >= t.limit {
		t.buf = append(t.buf[:0], p[len(p)-t.limit:]...)
		return len(p), nil
	}
	t.buf = append(t.buf, p...)
	// Compact only once the buffer holds twice the limit, so that many small
	// writes cost amortised O(1) each.
	if len(t.buf) > 2*t.limit {
		n := copy(t.buf, t.buf[len(t.buf)-t.limit:])
		t.buf = t.buf[:n]
	}
	return len(p), nil
}

// Bytes returns the kept tail (at most limit bytes).
func (t *tailBuffer) Bytes() []byte {
	if len(t.buf) > t.limit {
		return t.buf[len(t.buf)-t.limit:]
	}
	return t.buf
}

// Truncated reports how many bytes were dropped from the front.
func (t *tailBuffer) Truncated() int64 { return t.total - int64(len(t.Bytes())) }

// procResult is what a finished child process left behind.
type procResult struct {
	Stdout, Stderr *tailBuffer
	Wall           time.Duration
	Pid            int
}

// errStart wraps failures to start a tool (missing binary, bad permissions):
// always an internal error, never the molecule's fault.
type errStart struct{ err error }

func (e errStart) Error() string { return "start: " + e.err.Error() }
func (e errStart) Unwrap() error { return e.err }

// runProc runs path with args in dir, without a shell, in its own process
// group. When ctx is done the whole group is SIGKILLed: vina is
// multi-threaded and obabel may load plugins, and killing only the leader
// could leave work running in a Lambda container that is frozen and thawed
// for the next job. The returned error is errStart, *exec.ExitError, or
// context.Cause(ctx) when the process was stopped because ctx ended.
// extraEnv is added to (and overrides) the inherited environment.
func runProc(ctx context.Context, log *slog.Logger, dir, path string, args, extraEnv []string, onStart func(pid int)) (procResult, error) {
	res := procResult{Stdout: newTailBuffer(maxCapturedOutput), Stderr: newTailBuffer(maxCapturedOutput)}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	if len(extraEnv) > 0 {
		cmd.Env = append(os.Environ(), extraEnv...) // later entries win
	}
	cmd.Stdin = nil // /dev/null: the tools must never wait for input
	cmd.Stdout = res.Stdout
	cmd.Stderr = res.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// Also kill the child if this process dies (for example the Lambda
		// runtime is torn down mid-run). Best effort: Linux sends it when the
		// forking thread exits, which for Go means the process exits.
		Pdeathsig: syscall.SIGKILL,
	}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		// The negative pid addresses the process group created by Setpgid
		// (pgid == pid of the leader).
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = waitDelay

	log.Debug("vina: exec", "path", path, "args", args)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil { // Start refuses to run once ctx is done
			return res, context.Cause(ctx)
		}
		return res, errStart{err}
	}
	res.Pid = cmd.Process.Pid
	if onStart != nil {
		onStart(res.Pid)
	}
	err := cmd.Wait()
	res.Wall = time.Since(start)
	exit := -1
	if cmd.ProcessState != nil {
		exit = cmd.ProcessState.ExitCode()
	}
	log.Debug("vina: exec done", "path", path, "pid", res.Pid, "exit", exit,
		"wall", res.Wall, "stdout_bytes", res.Stdout.total, "stderr_bytes", res.Stderr.total)
	if err == nil {
		return res, nil
	}
	// A non-nil error after ctx ended means we killed it (or it died while we
	// were doing so); report why ctx ended rather than "signal: killed".
	if ctx.Err() != nil {
		return res, context.Cause(ctx)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return res, ee
	}
	return res, fmt.Errorf("wait %s: %w", path, err)
}
