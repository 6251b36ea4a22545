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
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
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
		fixtures.stack = stacktest.Start(t, stacktest.Options{})
		base = fixtures.stack.URL
	} else {
		fixtures.stack = stacktest.Attach(t, base, "")
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
		{"orgs, users and service accounts", stepOrgs},
		{"molecules", stepMolecules},
		{"presigned upload", stepPresignedUpload},
		{"docking", stepDocking},
		{"pipelines", stepPipelines},
		{"cache, idempotency, cancel, bad input", stepCache},
		{"upload with run", stepUploadWithRun},
		{"artifacts", stepArtifacts},
		{"tokens", stepTokens},
		{"signing key rotation", stepKeyRotation},
		{"authorization matrix", stepAuthorizationMatrix},
		{"encryption at rest", stepEncryption},
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
