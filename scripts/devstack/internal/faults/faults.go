// Package faults is the local stack's fault injection, off unless
// MAD_LOCAL_FAULTS or MAD_LOCAL_S3_FAULTS is set: a loopback reverse proxy
// in front of the AWS endpoint for chosen functions that fails the next N
// requests matching a rule with an S3-style XML error and passes the rest
// through untouched, and the admin API through which tests add rules and
// stop or start the stack's Postgres.
//
// Admin API (JSON):
//
//	POST   /faults            {"method":"PUT","path_contains":"/jobs/","count":1,"status":503}
//	                          count 0 means 1, -1 means every matching request
//	GET    /faults            the rules with how many requests each failed
//	DELETE /faults            remove every rule
//	GET    /requests          the proxied requests so far (method, path, status)
//	POST   /postgres/stop     fast shutdown of the stack's cluster (pg_ctl stop -m fast)
//	POST   /postgres/start    start it again
package faults

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Rule fails matching requests.
type Rule struct {
	ID int `json:"id"`
	// Method matches the HTTP method exactly when set.
	Method string `json:"method,omitempty"`
	// PathContains matches a substring of the escaped path when set.
	PathContains string `json:"path_contains,omitempty"`
	// Count is how many matching requests fail (0: 1; -1: all).
	Count int `json:"count"`
	// Status is the HTTP status of the injected error (default 503).
	Status int `json:"status,omitempty"`
	// Code is the S3 error code (default by status: SlowDown for 503,
	// InternalError for 500, AccessDenied for 403, else InjectedFault).
	Code string `json:"code,omitempty"`
	// Failed counts the requests this rule failed.
	Failed int `json:"failed"`
}

func (r *Rule) matches(req *http.Request) bool {
	if r.Count == 0 {
		return false
	}
	if r.Method != "" && !strings.EqualFold(r.Method, req.Method) {
		return false
	}
	return r.PathContains == "" || strings.Contains(req.URL.EscapedPath(), r.PathContains)
}

// Request is one request the proxy saw.
type Request struct {
	Time     time.Time `json:"time"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Status   int       `json:"status"`
	Injected bool      `json:"injected,omitempty"`
}

// Proxy is the fault-injecting reverse proxy.
type Proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
	log    *slog.Logger

	mu     sync.Mutex
	nextID int
	rules  []*Rule
	seen   []Request
}

// maxSeen bounds the request log.
const maxSeen = 10000

// NewProxy returns a proxy to target (the AWS endpoint).
func NewProxy(target string, log *slog.Logger) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{target: u, log: log}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Transparent: the SigV4 signature covers the Host the client used.
			pr.Out.Host = pr.In.Host
		},
		// SQS long polls and big objects: no timeouts of our own, and
		// streaming both ways.
		FlushInterval: -1,
	}
	return p, nil
}

// Add adds a rule and returns it with its id.
func (p *Proxy) Add(r Rule) Rule {
	if r.Count == 0 {
		r.Count = 1
	}
	if r.Status == 0 {
		r.Status = http.StatusServiceUnavailable
	}
	if r.Code == "" {
		switch r.Status {
		case http.StatusServiceUnavailable:
			r.Code = "SlowDown"
		case http.StatusInternalServerError:
			r.Code = "InternalError"
		case http.StatusForbidden:
			r.Code = "AccessDenied"
		default:
			r.Code = "InjectedFault"
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	r.ID = p.nextID
	r.Failed = 0
	p.rules = append(p.rules, &r)
	return r
}

// Rules returns a copy of the rules.
func (p *Proxy) Rules() []Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Rule, 0, len(p.rules))
	for _, r := range p.rules {
		out = append(out, *r)
	}
	return out
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
}

// Requests returns the requests seen so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.seen...)
}

func (p *Proxy) record(r Request) {
	p.mu.Lock()
	if len(p.seen) < maxSeen {
		p.seen = append(p.seen, r)
	}
	p.mu.Unlock()
}

// take returns the first rule matching req and consumes one of its count.
func (p *Proxy) take(req *http.Request) (Rule, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		if r.matches(req) {
			if r.Count > 0 {
				r.Count--
			}
			r.Failed++
			return *r, true
		}
	}
	return Rule{}, false
}

type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	entry := Request{Time: time.Now(), Method: req.Method, Path: req.URL.EscapedPath()}
	if r, ok := p.take(req); ok {
		// Read the body like S3 would before answering, so the client
		// sees the error rather than a reset connection.
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 64<<20))
		id := fmt.Sprintf("FAULT%d-%d", r.ID, r.Failed)
		b, _ := xml.Marshal(s3Error{Code: r.Code, Message: fmt.Sprintf("injected by the devstack fault proxy (rule %d)", r.ID),
			Resource: req.URL.Path, RequestID: id})
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-amz-request-id", id)
		if r.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(r.Status)
		_, _ = w.Write(append([]byte(xml.Header), b...))
		entry.Status, entry.Injected = r.Status, true
		p.record(entry)
		p.log.Info("fault injected", "rule", r.ID, "method", req.Method, "path", entry.Path, "status", r.Status)
		return
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	p.rp.ServeHTTP(rec, req)
	entry.Status = rec.status
	p.record(entry)
}

// Postgres is the stack's database control.
type Postgres interface {
	StopPostgres() error
	StartPostgres() error
}

// Admin returns the admin API's handler. pg may be nil (no control of the
// database, e.g. with DATABASE_URL); proxy may be nil (no S3 faults).
func Admin(proxy *Proxy, pg Postgres) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, status int, format string, a ...any) {
		writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, a...)})
	}
	noProxy := func(w http.ResponseWriter) bool {
		if proxy == nil {
			fail(w, http.StatusNotFound, "no S3 fault proxy: set MAD_LOCAL_S3_FAULTS=<function,...>")
			return true
		}
		return false
	}
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		if noProxy(w) {
			return
		}
		var rule Rule
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rule); err != nil {
			fail(w, http.StatusBadRequest, "rule: %v", err)
			return
		}
		if rule.Count < -1 || rule.Status != 0 && (rule.Status < 400 || rule.Status > 599) {
			fail(w, http.StatusBadRequest, "count must be >= -1 and status 400..599")
			return
		}
		writeJSON(w, http.StatusCreated, proxy.Add(rule))
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		if noProxy(w) {
			return
		}
		writeJSON(w, http.StatusOK, proxy.Rules())
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		if noProxy(w) {
			return
		}
		proxy.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /requests", func(w http.ResponseWriter, r *http.Request) {
		if noProxy(w) {
			return
		}
		writeJSON(w, http.StatusOK, proxy.Requests())
	})
	pgAction := func(name string, do func() error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if pg == nil {
				fail(w, http.StatusNotFound, "the stack does not run its own Postgres")
				return
			}
			t0 := time.Now()
			if err := do(); err != nil {
				fail(w, http.StatusInternalServerError, "%s: %v", name, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"done": name, "ms": time.Since(t0).Milliseconds()})
		}
	}
	if pg != nil {
		mux.HandleFunc("POST /postgres/stop", pgAction("stop", pg.StopPostgres))
		mux.HandleFunc("POST /postgres/start", pgAction("start", pg.StartPostgres))
	}
	return mux
}
