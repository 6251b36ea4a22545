// Package e2e drives a running local stack through its HTTP API, as a
// client would. `go run ./scripts/devstack e2e` starts a throwaway stack
// and runs this package with MAD_E2E_URL set; against a stack you already
// run (`make dev`), use MAD_E2E_URL=http://127.0.0.1:3000 go test ./scripts/e2e.
//
// Without MAD_E2E_URL, TestE2E starts a throwaway stack itself (the same
// way `devstack e2e` does) so that plain `go test ./...` runs it too.
//
// Adding a step: write a func(t *testing.T, c *Client) and append it to
// the steps in TestE2E; share state between steps through the Client
// (Token, IDs) or package variables set by earlier steps.
package e2e

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
)

// env reads a setting with a default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// rootEmail and rootPassword are the stack's root credentials (devstack's
// defaults unless MAD_E2E_ROOT_EMAIL / MAD_E2E_ROOT_PASSWORD say otherwise).
func rootCreds() (string, string) {
	return env("MAD_E2E_ROOT_EMAIL", env("MAD_ROOT_EMAIL", "root@mad.local")),
		env("MAD_E2E_ROOT_PASSWORD", env("MAD_ROOT_PASSWORD", "mad-root-password-change-me"))
}

func TestE2E(t *testing.T) {
	base := os.Getenv("MAD_E2E_URL")
	if base == "" {
		if testing.Short() {
			t.Skip("-short: no MAD_E2E_URL and starting a stack is not short")
		}
		base = startStack(t)
	}
	c := NewClient(t, base)
	steps := []struct {
		name string
		run  func(t *testing.T, c *Client)
	}{
		{"health", stepHealth},
		{"ready", stepReady},
		{"root login", stepRootLogin},
		{"unauthenticated", stepUnauthenticated},
		// Others append their steps here: orgs, users, molecules, uploads, jobs...
	}
	for _, s := range steps {
		start := time.Now()
		ok := t.Run(s.name, func(t *testing.T) {
			sc := c.For(t)
			s.run(t, sc)
			c.Token, c.RefreshToken = sc.Token, sc.RefreshToken // IDs is shared
		})
		t.Logf("step %s took %s", s.name, time.Since(start).Round(time.Millisecond))
		if !ok {
			// Later steps build on earlier ones.
			t.Fatalf("step %s failed; stopping", s.name)
		}
	}
}

func stepHealth(t *testing.T, c *Client) {
	var body struct {
		Status string `json:"status"`
	}
	resp := c.Do("GET", "/health", nil, &body)
	resp.Status(200)
	if body.Status != "ok" {
		t.Fatalf("GET /health: %s", resp.Body)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("GET /health: no X-Request-Id header")
	}
}

func stepReady(t *testing.T, c *Client) {
	var body struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	resp := c.Do("GET", "/ready", nil, &body)
	resp.Status(200)
	if body.Status != "ready" {
		t.Errorf("status %q", body.Status)
	}
	for _, k := range []string{"db", "queue", "storage", "secrets"} {
		if body.Checks[k] != "ok" {
			t.Errorf("check %s = %q: %s", k, body.Checks[k], resp.Body)
		}
	}
}

func stepRootLogin(t *testing.T, c *Client) {
	email, password := rootCreds()
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
	}
	resp := c.Do("POST", "/api/v1/auth/token", map[string]string{"email": email, "password": password}, &tok)
	resp.Status(200)
	if tok.AccessToken == "" || tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "bearer") || tok.ExpiresIn <= 0 {
		t.Fatalf("token response %s", resp.Body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	c.Token = tok.AccessToken
	c.RefreshToken = tok.RefreshToken

	// A wrong password gets the contract's error, with no enumeration.
	resp = c.Do("POST", "/api/v1/auth/token", map[string]string{"email": email, "password": password + "x"}, nil)
	resp.Error(401, "AUTH_INVALID_CREDENTIALS")
}

func stepUnauthenticated(t *testing.T, c *Client) {
	anon := c.WithToken("")
	resp := anon.Do("GET", "/api/v1/me", nil, nil)
	resp.Status(401)
	// A matched route with no Authorization header is answered by the
	// gateway itself, exactly like API Gateway.
	if strings.TrimSpace(string(resp.Body)) != `{"message":"Unauthorized"}` {
		t.Errorf("body %s", resp.Body)
	}
	resp = c.Do("GET", "/no/such/route", nil, nil)
	resp.Error(404, "ROUTE_NOT_FOUND")
}

// startStack runs `go run ./scripts/devstack up` on free ports in a
// temporary state dir and returns its URL; the stack stops with the test.
func startStack(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir (0700 parents): Postgres runs as another OS user under
	// root and must traverse the state dir.
	tmp, err := os.MkdirTemp("", "mad-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	port, pgPort, awsPort := freePort(t), freePort(t), freePort(t)
	bin := filepath.Join(tmp, "devstack")
	build := exec.Command("go", "build", "-o", bin, "./scripts/devstack")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build devstack: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "up")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"MAD_LOCAL_STATE_DIR="+filepath.Join(tmp, "state"), fmt.Sprintf("PORT=%d", port),
		fmt.Sprintf("MAD_LOCAL_PG_PORT=%d", pgPort), fmt.Sprintf("MAD_LOCAL_AWS_PORT=%d", awsPort),
		"MAD_LOCAL_VISIBILITY_TIMEOUT=5", "MAD_STAGE=e2e", "DATABASE_URL=", "AWS_ENDPOINT_URL=")
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
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
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
				return fmt.Sprintf("http://127.0.0.1:%d", port)
			}
		case <-ctx.Done():
			t.Fatalf("devstack up not ready within 4 minutes:\n%s", strings.Join(log, "\n"))
		}
	}
}

func repoRoot() (string, error) {
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

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
