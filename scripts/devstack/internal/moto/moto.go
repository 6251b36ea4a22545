// Package moto provides the local AWS endpoint: an existing one given by
// AWS_ENDPOINT_URL (LocalStack) when it answers, or a moto server started
// from the project's .venv (installed by scripts/lib.sh venv_ensure).
package moto

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/internal/proc"
)

// Answers reports whether an HTTP server answers at endpoint.
func Answers(ctx context.Context, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// EnsureVenv installs the pinned Python tools into root/.venv when needed,
// through scripts/lib.sh's venv_ensure, so there is one install recipe.
func EnsureVenv(ctx context.Context, root string) error {
	cmd := exec.CommandContext(ctx, "bash", "-c", `source scripts/lib.sh && venv_ensure`)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("venv_ensure: %w\n%s", err, out)
	}
	return nil
}

// Server is a moto server started by devstack.
type Server struct {
	URL    string
	cmd    *exec.Cmd
	exited chan struct{}
}

//go:embed moto_local.py
var motoLocal []byte

// Start runs moto server (the project's .venv, through moto_local.py,
// which is moto_server plus Secrets Manager rotation handed to devstack)
// on 127.0.0.1:port and waits until it answers.
func Start(ctx context.Context, root string, port int, logPath string) (*Server, error) {
	if _, err := os.Stat(filepath.Join(root, ".venv", "bin", "moto_server")); err != nil {
		return nil, fmt.Errorf("moto_server not found (%w): run `source scripts/lib.sh && venv_ensure`", err)
	}
	script := filepath.Join(filepath.Dir(logPath), "moto_local.py")
	if err := os.WriteFile(script, motoLocal, 0o644); err != nil {
		return nil, err
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(root, ".venv", "bin", "python"), script, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = lf, lf
	proc.Prepare(cmd)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start moto: %w", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); lf.Close(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for !Answers(ctx, s.URL+"/moto-api/") {
		select {
		case <-s.exited:
			return nil, errors.New("moto exited during start-up; see " + logPath)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("moto did not answer within 30s; see " + logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s, nil
}

// Stop stops the server.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	proc.KillTree(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		proc.KillTree(s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

// Exited is closed when the server process ends.
func (s *Server) Exited() <-chan struct{} { return s.exited }
