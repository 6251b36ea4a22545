package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
)

// clientTimeout bounds every request: the gateway bounds an invoke by the
// function's timeout (29 s for jobs) plus 10 s, so a request still open
// after this is a hang.
const clientTimeout = 60 * time.Second

// box is the Vina example's search box for 1iep.
var (
	boxCenter = [3]float64{15.19, 53.903, 16.917}
	boxSize   = [3]float64{20, 20, 20}
)

// ---- the stack

// TestMain removes what the suite built once per test binary.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{fakePath, buildPath} {
		if d != "" {
			if fakePath == d {
				d = filepath.Dir(d)
			}
			_ = os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

var (
	fakeOnce sync.Once
	fakePath string
	fakeErr  error
)

// fakeVina builds scripts/fakevina once per test binary.
func fakeVina(t *testing.T) string {
	t.Helper()
	fakeOnce.Do(func() {
		root, err := stacktest.RepoRoot()
		if err != nil {
			fakeErr = err
			return
		}
		dir, err := os.MkdirTemp("", "mad-fakevina-")
		if err != nil {
			fakeErr = err
			return
		}
		fakePath = filepath.Join(dir, "fakevina")
		cmd := exec.Command("go", "build", "-o", fakePath, "./scripts/fakevina")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fakeErr = fmt.Errorf("build fakevina: %v\n%s", err, out)
		}
	})
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
	return fakePath
}

var (
	buildOnce sync.Once
	buildPath string
)

// buildDir is one temporary directory per test binary for the function
// binaries devstack builds (rebuilt only when out of date).
func buildDir(t *testing.T) string {
	buildOnce.Do(func() {
		d, err := os.MkdirTemp("", "mad-reliability-build-")
		if err != nil {
			t.Fatal(err)
		}
		buildPath = d
	})
	return buildPath
}

// start starts a throwaway stack with env added to devstack's environment.
func start(t *testing.T, visibility int, env map[string]string) *stacktest.Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the reliability suite starts whole stacks")
	}
	// Each test starts a whole stack and takes up to minutes: the suite
	// runs when asked for by name (make test-reliability: -run Reliability)
	// or with MAD_RELIABILITY=1, not as part of a plain go test ./... (make
	// test), which would take ~10 more minutes.
	if f := flag.Lookup("test.run"); (f == nil || !strings.Contains(f.Value.String(), "Reliability")) && os.Getenv("MAD_RELIABILITY") != "1" {
		t.Skip("the reliability suite runs with -run Reliability (make test-reliability) or MAD_RELIABILITY=1")
	}
	// The suite's own build dir: other stacks or builds from the same tree
	// (make dev, make bench) cannot replace binaries under it.
	all := map[string]string{"MAD_LOCAL_EPHEMERAL": "1", "MAD_LOCAL_BUILD_DIR": buildDir(t)}
	for k, v := range env {
		all[k] = v
	}
	t0 := time.Now()
	s := stacktest.Start(t, stacktest.Options{Env: all, VisibilityTimeout: visibility})
	t.Logf("stack up in %s (%s)", time.Since(t0).Round(100*time.Millisecond), s.URL)
	t.Cleanup(func() { t.Logf("test body took %s", time.Since(t0).Round(100*time.Millisecond)) })
	return s
}

// withFake returns env plus MAD_LOCAL_VINA pointing at fakevina.
func withFake(t *testing.T, env map[string]string) map[string]string {
	out := map[string]string{"MAD_LOCAL_VINA": fakeVina(t)}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// ---- HTTP

// client talks to the gateway.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newClient(base string) *client {
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: clientTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) withToken(tok string) *client {
	cp := *c
	cp.token = tok
	return &cp
}

// response is one answer (or the transport error, a timeout included).
type response struct {
	req    string
	Code   int
	Header http.Header
	Body   []byte
	Err    error
	Took   time.Duration
}

func (c *client) do(method, path string, body any, headers ...string) response {
	r := response{req: method + " " + path}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.Err = err
			return r
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		r.Err = err
		return r
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	t0 := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		r.Err, r.Took = err, time.Since(t0)
		return r
	}
	defer resp.Body.Close()
	r.Body, r.Err = io.ReadAll(resp.Body)
	r.Code, r.Header, r.Took = resp.StatusCode, resp.Header, time.Since(t0)
	return r
}

// must fails the test unless the answer has status want, and decodes it.
func (r response) must(t *testing.T, want int, out any) response {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v", r.req, r.Err)
	}
	if r.Code != want {
		t.Fatalf("%s: status %d, want %d: %s", r.req, r.Code, want, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s: decode %s: %v", r.req, r.Body, err)
		}
	}
	return r
}

// apiError is the contract's error shape.
type apiError struct {
	Error *struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// contractCode returns the error code when the body is exactly the
// contract's error shape with a message, and the answer carries
// X-Request-Id.
func (r response) contractCode() (string, bool) {
	var e apiError
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if dec.Decode(&e) != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		return "", false
	}
	return e.Error.Code, r.Header.Get("X-Request-Id") != ""
}

// outcome names an answer for distributions: "202", "429 QUOTA_EXCEEDED",
// "502 INTERNAL_ERROR", "timeout", "500 {message}"...
func (r response) outcome() string {
	if r.Err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(r.Err, &ne) && ne.Timeout() {
			return "client timeout"
		}
		return "transport error"
	}
	if r.Code < 400 {
		return fmt.Sprint(r.Code)
	}
	if code, ok := r.contractCode(); ok {
		return fmt.Sprintf("%d %s", r.Code, code)
	}
	var m map[string]any
	if json.Unmarshal(r.Body, &m) == nil && len(m) == 1 && m["message"] != nil {
		return fmt.Sprintf("%d {message: %v}", r.Code, m["message"])
	}
	return fmt.Sprintf("%d non-contract body", r.Code)
}

// tally counts outcomes concurrently.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *tally) add(k string) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[k]++
	t.mu.Unlock()
}

func (t *tally) get(k string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[k]
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", k, t.m[k])
	}
	return b.String()
}

// ---- an org ready to dock

type org struct {
	s          *stacktest.Stack
	root       *client // root, no org
	admin      *client // the org's admin
	ID         string
	Name       string
	AdminEmail string
	Password   string
	Receptor   string
	Ligand     string
	Pipeline   string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func login(t *testing.T, c *client, body map[string]string) *client {
	t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	c.do("POST", "/api/v1/auth/token", body).must(t, 200, &tok)
	return c.withToken(tok.AccessToken)
}

// newOrg creates an org with max_active_jobs quota (0: leave the default),
// logs its admin in and uploads the 1iep PDBQT pair.
func newOrg(t *testing.T, s *stacktest.Stack, quota int) *org {
	t.Helper()
	email, password := s.RootCredentials()
	root := login(t, newClient(s.URL), map[string]string{"email": email, "password": password})
	o := &org{s: s, root: root, Name: "rel-" + randomHex(4), Password: "reliability-" + randomHex(8)}
	o.AdminEmail = o.Name + "@example.com"
	var created struct {
		OrgID string `json:"org_id"`
	}
	root.do("POST", "/api/v1/orgs", map[string]string{"name": o.Name, "admin_email": o.AdminEmail, "admin_password": o.Password}).must(t, 201, &created)
	o.ID = created.OrgID
	if quota > 0 {
		o.setQuota(t, quota)
	}
	o.admin = login(t, newClient(s.URL), map[string]string{"email": o.AdminEmail, "password": o.Password, "org_id": o.ID})
	o.Receptor = o.upload(t, "1iep_receptor.pdbqt")
	o.Ligand = o.upload(t, "1iep_ligand.pdbqt")
	var pipes struct {
		Items []struct {
			PipelineID string `json:"pipeline_id"`
			Name       string `json:"name"`
		} `json:"items"`
	}
	o.admin.do("GET", "/api/v1/pipelines", nil).must(t, 200, &pipes)
	for _, p := range pipes.Items {
		if p.Name == "vina-docking" {
			o.Pipeline = p.PipelineID
		}
	}
	if o.Pipeline == "" {
		t.Fatalf("no vina-docking pipeline among %+v", pipes.Items)
	}
	return o
}

func (o *org) setQuota(t *testing.T, maxActive int) {
	t.Helper()
	var cur struct {
		Quotas struct {
			MaxActiveJobs   int   `json:"max_active_jobs"`
			MaxStorageBytes int64 `json:"max_storage_bytes"`
		} `json:"quotas"`
	}
	o.root.do("GET", "/api/v1/orgs/"+o.ID, nil).must(t, 200, &cur)
	o.root.do("PATCH", "/api/v1/orgs/"+o.ID, map[string]any{"quotas": map[string]any{
		"max_active_jobs": maxActive, "max_storage_bytes": cur.Quotas.MaxStorageBytes}}).must(t, 200, nil)
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "shared", "testdata", "1iep", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (o *org) upload(t *testing.T, name string) string {
	t.Helper()
	format := strings.TrimPrefix(filepath.Ext(name), ".")
	var m struct {
		MoleculeID string `json:"molecule_id"`
	}
	o.admin.do("POST", "/api/v1/molecules", map[string]string{"name": name, "format": format, "content": string(testdata(t, name))}).must(t, 201, &m)
	return m.MoleculeID
}

// jobBody is a docking request on the 1iep pair; the seed makes the input
// signature distinct.
func (o *org) jobBody(seed int64, exhaustiveness int) map[string]any {
	return map[string]any{
		"inputs": map[string]string{"receptor": o.Receptor, "ligand": o.Ligand},
		"params": map[string]any{"center": boxCenter, "size": boxSize, "exhaustiveness": exhaustiveness, "num_modes": 3, "seed": seed},
	}
}

// createJob sends one creation (no cache) and returns the answer.
func (o *org) createJob(c *client, seed int64, exhaustiveness int) response {
	return c.do("POST", "/api/v1/pipelines/"+o.Pipeline+"/jobs?use_cache=false", o.jobBody(seed, exhaustiveness))
}

// mustCreateJob creates a job and returns its id.
func (o *org) mustCreateJob(t *testing.T, seed int64, exhaustiveness int) string {
	t.Helper()
	var out struct {
		JobID string `json:"job_id"`
	}
	o.createJob(o.admin, seed, exhaustiveness).must(t, 202, &out)
	return out.JobID
}

type jobView struct {
	JobID    string  `json:"job_id"`
	Status   string  `json:"status"`
	Attempts int     `json:"attempts"`
	Error    *string `json:"error"`
}

func (o *org) job(t *testing.T, id string) jobView {
	t.Helper()
	var j jobView
	o.admin.do("GET", "/api/v1/jobs/"+id, nil).must(t, 200, &j)
	return j
}

func terminal(status string) bool {
	return status == "COMPLETED" || status == "FAILED" || status == "CANCELLED"
}

// waitJob polls the job until it is terminal (or until timeout).
func (o *org) waitJob(t *testing.T, id string, timeout time.Duration) jobView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := o.job(t, id)
		if terminal(j.Status) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, j.Status, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type event struct {
	Seq    int            `json:"seq"`
	TS     time.Time      `json:"ts"`
	Event  string         `json:"event"`
	Detail map[string]any `json:"detail"`
}

func (o *org) events(t *testing.T, id string) []event {
	t.Helper()
	var evs []event
	o.admin.do("GET", "/api/v1/jobs/"+id+"/events", nil).must(t, 200, &evs)
	return evs
}

func countEvents(evs []event, name string) int {
	n := 0
	for _, e := range evs {
		if e.Event == name {
			n++
		}
	}
	return n
}

func eventNames(evs []event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Event)
	}
	return strings.Join(s, " ")
}

// ---- SQL

// orgDB connects as the application role with the org's RLS context set
// for the session.
func orgDB(t *testing.T, s *stacktest.Stack, orgID string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Runtime.DatabaseURL)
	if err != nil {
		t.Fatalf("connect as the app role: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `SELECT set_config('app.org_id', $1, false)`, orgID); err != nil {
		t.Fatal(err)
	}
	return conn
}

// statusCounts returns the org's jobs by status.
func statusCounts(ctx context.Context, db *pgx.Conn, orgID string) (map[string]int, error) {
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM jobs WHERE org_id = $1 GROUP BY status`, orgID)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// waitAllTerminal waits until none of the org's jobs is active and
// returns the counts by status.
func waitAllTerminal(t *testing.T, db *pgx.Conn, orgID string, timeout time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := statusCounts(context.Background(), db, orgID)
		if err != nil {
			t.Fatal(err)
		}
		if c["PENDING"]+c["QUEUED"]+c["RUNNING"] == 0 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs still active after %s: %v", timeout, c)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// exactlyOnce checks every job of the org in SQL: one results row, one
// COMPLETED event, four artifact rows for each COMPLETED job. It returns
// the problems found.
func exactlyOnce(t *testing.T, db *pgx.Conn, orgID string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `
		SELECT j.id::text, j.status,
		       (SELECT count(*) FROM job_results r WHERE r.org_id = j.org_id AND r.job_id = j.id),
		       (SELECT count(*) FROM job_events e WHERE e.org_id = j.org_id AND e.job_id = j.id AND e.event = 'COMPLETED'),
		       (SELECT count(*) FROM job_events e WHERE e.org_id = j.org_id AND e.job_id = j.id AND e.event = 'FAILED'),
		       (SELECT count(*) FROM artifacts a WHERE a.org_id = j.org_id AND a.job_id = j.id)
		FROM jobs j WHERE j.org_id = $1`, orgID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var id, st string
		var results, completed, failed, arts int
		if err := rows.Scan(&id, &st, &results, &completed, &failed, &arts); err != nil {
			t.Fatal(err)
		}
		want := [4]int{0, 0, 0, 0}
		switch st {
		case "COMPLETED":
			want = [4]int{1, 1, 0, 4}
		case "FAILED":
			want = [4]int{0, 0, 1, 0}
		}
		if got := [4]int{results, completed, failed, arts}; got != want {
			problems = append(problems, fmt.Sprintf("job %s %s: results/COMPLETED/FAILED/artifacts = %v, want %v", id, st, got, want))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return problems
}
