package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Client is a small HTTP client for the API: JSON in and out, an optional
// bearer token, and assertions in the contract's terms.
type Client struct {
	t            *testing.T
	Base         string
	Token        string // access token sent as "Authorization: Bearer"
	RefreshToken string
	HTTP         *http.Client
	// IDs shares ids between steps ("org_id", "job_id", ...).
	IDs map[string]string
}

// NewClient returns a client for base (e.g. http://127.0.0.1:3000).
func NewClient(t *testing.T, base string) *Client {
	return &Client{t: t, Base: strings.TrimRight(base, "/"), IDs: map[string]string{},
		HTTP: &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// WithToken returns a copy of c using token ("" for none).
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.Token = token
	return &cp
}

// For returns a copy of c that reports to t (use inside subtests).
func (c *Client) For(t *testing.T) *Client {
	cp := *c
	cp.t = t
	return &cp
}

// Response is an answer with assertion helpers.
type Response struct {
	t      *testing.T
	req    string
	Code   int
	Header http.Header
	Body   []byte
}

// Do sends method path with body (JSON-encoded unless it is a []byte or
// nil) and decodes a 2xx JSON answer into out when out is not nil.
func (c *Client) Do(method, path string, body any, out any, headers ...string) *Response {
	c.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("encode body: %v", err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if d := time.Since(start); d > time.Second {
		c.t.Logf("slow request: %s %s took %s", method, path, d.Round(time.Millisecond))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &Response{t: c.t, req: method + " " + path, Code: resp.StatusCode, Header: resp.Header, Body: b}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s: decode %s: %v", r.req, b, err)
		}
	}
	return r
}

// Status fails the test unless the status is want.
func (r *Response) Status(want int) *Response {
	r.t.Helper()
	if r.Code != want {
		r.t.Fatalf("%s: status %d, want %d: %s", r.req, r.Code, want, r.Body)
	}
	return r
}

// APIError is the contract's error shape.
type APIError struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// Error fails the test unless the answer is the contract's error shape
// with this status and code, and returns it.
func (r *Response) Error(status int, code string) APIError {
	r.t.Helper()
	var e APIError
	if r.Code != status {
		r.t.Fatalf("%s: status %d, want %d (%s): %s", r.req, r.Code, status, code, r.Body)
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		r.t.Fatalf("%s: want error %s in the contract's shape, got %s", r.req, code, r.Body)
	}
	if r.Header.Get("X-Request-Id") == "" {
		r.t.Errorf("%s: error answer without X-Request-Id", r.req)
	}
	return e
}

// JSON decodes the body into v whatever the status.
func (r *Response) JSON(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("%s: decode %s: %v", r.req, r.Body, err)
	}
}
