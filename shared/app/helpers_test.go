package app_test

// Integration tests of the use cases over the real adapters: Postgres
// (testenv.DB) and moto (apptest.NewAWS). Each top-level test wires its
// own apptest.Env (its own buckets, queue, token key and clock) and makes
// its own orgs, so tests run in parallel without truncating anything.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

func TestMain(m *testing.M) {
	// The use cases emit CloudWatch EMF lines on stdout; they are not
	// what these tests look at.
	obs.SetMetricsOutput(io.Discard)
	os.Exit(m.Run())
}

var ctx = context.Background()

// testdata reads a file of shared/testdata/1iep.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "1iep", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantCode fails unless err carries code.
func wantCode(t testing.TB, err error, code domain.Code) *domain.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("got %s (%v), want %s", got, err, code)
	}
	de, _ := domain.AsError(err)
	return de
}

// wantField fails unless err is VALIDATION_FAILED naming field.
func wantField(t testing.TB, err error, field string) {
	t.Helper()
	de := wantCode(t, err, domain.CodeValidation)
	if _, ok := de.Fields[field]; !ok {
		t.Fatalf("VALIDATION_FAILED names %v, want %q", de.Fields, field)
	}
}

func ok(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// count runs a count(*) query in orgID's RLS context (empty: global) as
// the application role.
func count(t testing.TB, env *apptest.Env, orgID, query string, args ...any) int {
	t.Helper()
	var n int
	err := pgx.BeginFunc(ctx, env.DB.App, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, orgID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, query, args...).Scan(&n)
	})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// audits returns the audit entries of scope with action (all when
// empty), newest first.
func audits(t testing.TB, env *apptest.Env, scope domain.Scope, action domain.AuditAction) []domain.AuditEvent {
	t.Helper()
	var out []domain.AuditEvent
	err := env.DB.Store.Tx(ctx, scope, func(tx app.Tx) error {
		var err error
		out, err = tx.Audit().FindAudit(ctx, app.AuditFilter{Action: string(action)}, app.Page{Limit: 200})
		return err
	})
	ok(t, err)
	return out
}

// auditFor returns the entries with action whose target is targetID.
func auditFor(t testing.TB, env *apptest.Env, orgID string, action domain.AuditAction, targetID string) []domain.AuditEvent {
	t.Helper()
	var out []domain.AuditEvent
	for _, e := range audits(t, env, domain.Scope{OrgID: orgID}, action) {
		if e.TargetID == targetID {
			out = append(out, e)
		}
	}
	return out
}

// requireKMS fails unless the object is stored SSE-KMS under the env's key.
func requireKMS(t testing.TB, env *apptest.Env, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	h, err := env.AWS.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	if h.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms || aws.ToString(h.SSEKMSKeyId) != env.AWS.KMSKeyARN {
		t.Fatalf("%s: SSE %q key %q, want aws:kms with %q", key, h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId), env.AWS.KMSKeyARN)
	}
	return h
}

// httpDo sends a request (Content-Length from headers goes to
// req.ContentLength, as net/http wants) and returns status and body.
func httpDo(t testing.TB, method, url string, headers map[string]string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	ok(t, err)
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Length") {
			n, err := strconv.ParseInt(v, 10, 64)
			ok(t, err)
			req.ContentLength = n
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	ok(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ok(t, err)
	return resp.StatusCode, b
}

// molecule stores content inline as member.
func molecule(t testing.TB, env *apptest.Env, m apptest.Member, name string, f domain.MoleculeFormat, content []byte) domain.Molecule {
	t.Helper()
	mol, err := env.Molecules.CreateMolecule(ctx, m.Principal, app.NewMoleculeInput{Name: name, Format: string(f), Content: content})
	if err != nil {
		t.Fatalf("create molecule %s: %v", name, err)
	}
	return mol
}

// pair stores the 1iep PDBQT receptor and ligand as member.
func pair(t testing.TB, env *apptest.Env, m apptest.Member) (receptor, ligand domain.Molecule) {
	t.Helper()
	return molecule(t, env, m, "1iep receptor", domain.FormatPDBQT, testdata(t, "1iep_receptor.pdbqt")),
		molecule(t, env, m, "imatinib", domain.FormatPDBQT, testdata(t, "1iep_ligand.pdbqt"))
}

func ptr[T any](v T) *T { return &v }

// dockParams is the Vina example's box with cheap settings.
func dockParams() domain.VinaParamsPatch {
	return domain.VinaParamsPatch{
		Center: &[3]float64{15.190, 53.903, 16.917}, Size: &[3]float64{20, 20, 20},
		Exhaustiveness: ptr(1), NumModes: ptr(3), Seed: ptr(int64(42)),
	}
}

// jobRequest docks receptor and ligand with dockParams on the built-in
// pipeline, cache allowed.
func jobRequest(receptor, ligand domain.Molecule) app.CreateJobInput {
	return app.CreateJobInput{PipelineID: domain.BuiltinPipelineID, Receptor: receptor.ID, Ligand: ligand.ID,
		Params: dockParams(), UseCache: true}
}

// newJob creates a job and fails the test on error.
func newJob(t testing.TB, env *apptest.Env, m apptest.Member, in app.CreateJobInput) *domain.Job {
	t.Helper()
	res, err := env.Jobs.CreateJob(ctx, m.Principal, in)
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	return res.Job
}

// getJob reads a job in its org's scope.
func getJob(t testing.TB, env *apptest.Env, orgID, id string) *domain.Job {
	t.Helper()
	var j *domain.Job
	ok(t, env.DB.Store.Tx(ctx, domain.OrgScope(orgID), func(tx app.Tx) error {
		var err error
		j, err = tx.Jobs().FindJobByID(ctx, id)
		return err
	}))
	return j
}

// events returns the event names of a job, in order.
func events(t testing.TB, env *apptest.Env, orgID, id string) []domain.JobEventType {
	t.Helper()
	var evs []domain.JobEvent
	ok(t, env.DB.Store.Tx(ctx, domain.OrgScope(orgID), func(tx app.Tx) error {
		var err error
		evs, err = tx.Jobs().FindJobEvents(ctx, id)
		return err
	}))
	out := make([]domain.JobEventType, len(evs))
	for i, e := range evs {
		if e.Seq != i+1 {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		out[i] = e.Event
	}
	return out
}

func sameEvents(a, b []domain.JobEventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fakeDocker is the engine's docking port as a function field.
type fakeDocker struct {
	dock func(ctx context.Context, req app.DockRequest) (app.DockResult, error)
}

func (f fakeDocker) Dock(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
	return f.dock(ctx, req)
}

// canned returns a docking result built from the reference Vina output
// of 1iep: its poses and the scores of its REMARK VINA RESULT lines.
func canned(t testing.TB) app.DockResult {
	t.Helper()
	out := testdata(t, "1iep_ligand_vina_out.pdbqt")
	var scores []app.Score
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		rest, found := strings.CutPrefix(sc.Text(), "REMARK VINA RESULT:")
		if !found {
			continue
		}
		var s app.Score
		if _, err := fmt.Sscan(rest, &s.Affinity, &s.RMSDLB, &s.RMSDUB); err != nil {
			t.Fatalf("parse %q: %v", sc.Text(), err)
		}
		s.Pose = len(scores) + 1
		scores = append(scores, s)
	}
	if len(scores) == 0 {
		t.Fatal("no scores in the reference output")
	}
	return app.DockResult{Scores: scores, PosesPDBQT: out, PosesSDF: testdata(t, "1iep_ligand.sdf"),
		Log: []byte("AutoDock Vina v1.2.3 (canned test output)\n"), EngineVersion: "1.2.3",
		DockWall: 10 * time.Second, PrepareWall: time.Second}
}

// cannedDocker docks instantly with canned and counts its runs.
func cannedDocker(t testing.TB) (*fakeDocker, *int) {
	res := canned(t)
	var mu sync.Mutex
	n := 0
	return &fakeDocker{dock: func(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
		mu.Lock()
		n++
		mu.Unlock()
		if _, err := os.Stat(req.Receptor.Path); err != nil {
			return app.DockResult{}, fmt.Errorf("receptor not fetched: %w", err)
		}
		return res, nil
	}}, &n
}

// process delivers job's message to the engine.
func process(env *apptest.Env, job *domain.Job, receiveCount int) error {
	return env.Engine.Process(ctx, app.JobMessage{JobID: job.ID, OrgID: job.OrgID}, receiveCount)
}

// parallel runs fn n times concurrently, released together, and returns
// the errors in goroutine order.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// noPanic runs fn and turns a panic into a test failure, so one bug
// does not take the whole test binary down.
func noPanic(t testing.TB, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	fn()
}
