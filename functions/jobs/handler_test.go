package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// Fixed ids of the sample events (events/README.md).
const (
	sampleOrg      = "0193d2a0-0000-7000-8000-000000000001"
	sampleLigand   = "0193d2a0-0000-7000-8000-000000000006"
	sampleReceptor = "0193d2a0-0000-7000-8000-000000000007"
	sampleJob      = "0193d2a0-0000-7000-8000-000000000009"
	builtin        = domain.BuiltinPipelineID
)

// dockFunc is the docking port; the real engine (vina) is tested in
// shared/vina and the engine function.
type dockFunc func(ctx context.Context, req app.DockRequest) (app.DockResult, error)

func (f dockFunc) Dock(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
	return f(ctx, req)
}

// docked is what the fake docking returns; scores out of pose order.
var docked = app.DockResult{
	Scores:     []app.Score{{Pose: 2, Affinity: -12.1, RMSDLB: 1.5, RMSDUB: 2.5}, {Pose: 1, Affinity: -13.3}},
	PosesPDBQT: []byte("MODEL 1\nENDMDL\n"), PosesSDF: []byte("imatinib\n\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"),
	Log: []byte("AutoDock Vina v1.2.3\n"), EngineVersion: "1.2.3",
}

type fixture struct {
	env              *apptest.Env
	mux              *apigw.Mux
	org              domain.Org
	admin            apptest.Member
	standard         apptest.Member
	viewer           apptest.Member
	stranger         apptest.Member // a standard user of another org
	receptor, ligand domain.Molecule
	replace          []string // sample ids -> the fixture's
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := apptest.New(t, apptest.Options{Docker: dockFunc(func(context.Context, app.DockRequest) (app.DockResult, error) {
		return docked, nil
	})})
	mux := apitest.RequireMux(t, newMux(handler{jobs: env.Jobs}, apigw.NewMux(routes.FnJobs, apptest.Quiet)))
	org, admin := env.NewOrg(t)
	_, otherAdmin := env.NewOrg(t)
	f := &fixture{env: env, mux: mux, org: org, admin: admin,
		standard: env.NewUser(t, admin, domain.RoleStandard), viewer: env.NewUser(t, admin, domain.RoleViewer),
		stranger: env.NewUser(t, otherAdmin, domain.RoleStandard)}
	f.receptor = f.molecule(t, f.standard, "1iep receptor", "pdbqt", apitest.Testdata(t, "1iep/1iep_receptor.pdbqt"))
	f.ligand = f.molecule(t, f.standard, "imatinib", "pdbqt", apitest.Testdata(t, "1iep/1iep_ligand.pdbqt"))
	f.replace = []string{sampleOrg, org.ID, sampleReceptor, f.receptor.ID, sampleLigand, f.ligand.ID}
	return f
}

func (f *fixture) molecule(t *testing.T, m apptest.Member, name, format string, content []byte) domain.Molecule {
	t.Helper()
	mol, err := f.env.Molecules.CreateMolecule(context.Background(), m.Principal, app.NewMoleculeInput{Name: name, Format: format, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return mol
}

// event loads a sample with the fixture's ids (and job's, when given).
func (f *fixture) event(t *testing.T, file string, m apptest.Member, job string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	r := append([]string{sampleJob, job}, f.replace...)
	if job == "" {
		r = f.replace
	}
	return apitest.APIEvent(t, "apigw/jobs/"+file+".json", &m.Principal, r...)
}

type cacheOut struct {
	Hit            bool   `json:"hit"`
	CanonicalJobID string `json:"canonical_job_id"`
}

type createdJob struct {
	JobID  string   `json:"job_id"`
	Status string   `json:"status"`
	Cache  cacheOut `json:"cache"`
}

// createJob posts the sample job request with a fresh Idempotency-Key.
func (f *fixture) createJob(t *testing.T, m apptest.Member, want int) createdJob {
	t.Helper()
	ev := f.event(t, "create-job", m, "")
	ev.Headers["idempotency-key"] = domain.NewID()
	return apitest.DecodeResp[createdJob](t, apitest.Serve(t, f.mux, ev), want)
}

// complete runs the engine on a job, as the jobs queue would.
func (f *fixture) complete(t *testing.T, jobID string) {
	t.Helper()
	if err := f.env.Engine.Process(context.Background(), app.JobMessage{JobID: jobID, OrgID: f.org.ID}, 1); err != nil {
		t.Fatal(err)
	}
}

type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

type pipelineResp struct {
	PipelineID   string          `json:"pipeline_id"`
	Name         string          `json:"name"`
	Engine       string          `json:"engine"`
	Version      string          `json:"version"`
	BuiltIn      bool            `json:"built_in"`
	ParamsSchema json.RawMessage `json:"params_schema"`
	Defaults     map[string]any  `json:"defaults"`
	CreatedAt    string          `json:"created_at"`
}

type jobResp struct {
	JobID           string            `json:"job_id"`
	Status          string            `json:"status"`
	PipelineID      string            `json:"pipeline_id"`
	PipelineVersion string            `json:"pipeline_version"`
	Inputs          map[string]string `json:"inputs"`
	Params          struct {
		Center         [3]float64 `json:"center"`
		Size           [3]float64 `json:"size"`
		Exhaustiveness int        `json:"exhaustiveness"`
		NumModes       int        `json:"num_modes"`
		EnergyRange    float64    `json:"energy_range"`
		Seed           *int64     `json:"seed"`
		TimeoutSeconds int        `json:"timeout_seconds"`
	} `json:"params"`
	CreatedBy  string   `json:"created_by"`
	CreatedAt  string   `json:"created_at"`
	StartedAt  *string  `json:"started_at"`
	FinishedAt *string  `json:"finished_at"`
	Attempts   int      `json:"attempts"`
	Error      *string  `json:"error"`
	Cache      cacheOut `json:"cache"`
}

type resultsOut struct {
	JobID  string `json:"job_id"`
	Scores []struct {
		Pose     int     `json:"pose"`
		Affinity float64 `json:"affinity"`
		RMSDLB   float64 `json:"rmsd_lb"`
		RMSDUB   float64 `json:"rmsd_ub"`
	} `json:"scores"`
	Artifacts   map[string]string `json:"artifacts"`
	TaskResults []struct {
		TaskName      string         `json:"task_name"`
		ServiceName   string         `json:"service_name"`
		EngineVersion string         `json:"engine_version"`
		SchemaVersion string         `json:"schema_version"`
		ResultData    map[string]any `json:"result_data"`
	} `json:"task_results"`
}

type eventOut struct {
	Seq    int            `json:"seq"`
	TS     string         `json:"ts"`
	Event  string         `json:"event"`
	Detail map[string]any `json:"detail"`
}

// fetch follows a 302 the way a client does.
func fetch(t *testing.T, resp events.APIGatewayV2HTTPResponse) []byte {
	t.Helper()
	loc := resp.Headers["Location"]
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "http") || resp.Body != "" {
		t.Fatalf("want a 302 to a presigned URL, got %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	r, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", loc, r.StatusCode)
	}
	return b
}

func checkPaging(t *testing.T, mux *apigw.Mux, ev events.APIGatewayV2HTTPRequest) {
	t.Helper()
	for _, q := range []map[string]string{{"limit": "0"}, {"limit": "201"}, {"limit": "many"}} {
		apitest.SetQuery(&ev, q)
		apitest.RequireError(t, apitest.Serve(t, mux, ev), http.StatusBadRequest, domain.CodeValidation, "limit")
	}
	for _, c := range []string{"garbage", "djE6MQ", "%%%"} {
		apitest.SetQuery(&ev, map[string]string{"cursor": c})
		apitest.RequireError(t, apitest.Serve(t, mux, ev), http.StatusBadRequest, domain.CodeValidation, "cursor")
	}
}

func TestPipelines(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lst := f.event(t, "list-pipelines", f.viewer, "")
	l := apitest.DecodeResp[list[pipelineResp]](t, apitest.Serve(t, f.mux, lst), http.StatusOK)
	i := slices.IndexFunc(l.Items, func(p pipelineResp) bool { return p.PipelineID == builtin })
	if i < 0 {
		t.Fatalf("built-in pipeline missing from %+v", l.Items)
	}
	if p := l.Items[i]; p.Name != "vina-docking" || p.Engine != "vina" || !p.BuiltIn || !json.Valid(p.ParamsSchema) || p.Defaults["exhaustiveness"] != 8.0 {
		t.Fatalf("built-in pipeline %+v", p)
	}
	checkPaging(t, f.mux, lst)

	create := f.event(t, "create-pipeline", f.admin, "")
	p := apitest.DecodeResp[pipelineResp](t, apitest.Serve(t, f.mux, create), http.StatusCreated)
	if !domain.IsID(p.PipelineID) || p.Name != "vina-quick" || p.BuiltIn || p.Defaults["exhaustiveness"] != 4.0 || p.Defaults["num_modes"] != 5.0 {
		t.Fatalf("created pipeline %+v", p)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, create), http.StatusConflict, domain.CodeConflict)
	apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, "create-pipeline", f.standard, "")), http.StatusForbidden, domain.CodeForbidden)
	apitest.SetJSON(t, &create, map[string]any{"name": "gnina", "engine": "gnina", "version": "1"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, create), http.StatusBadRequest, domain.CodeValidation, "engine")
	apitest.SetJSON(t, &create, map[string]any{"name": "x", "engine": "vina", "version": "1", "org_id": f.stranger.OrgID})
	apitest.RequireError(t, apitest.Serve(t, f.mux, create), http.StatusBadRequest, domain.CodeValidation, "org_id")
	apitest.SetJSON(t, &create, map[string]any{"name": "x", "engine": "vina", "version": "1", "defaults": map[string]any{"exhaustiveness": 99}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, create), http.StatusBadRequest, domain.CodeValidation)

	get := func(m apptest.Member, id string) events.APIGatewayV2HTTPResponse {
		return apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/jobs/get-pipeline.json", &m.Principal, builtin, id))
	}
	if got := apitest.DecodeResp[pipelineResp](t, get(f.viewer, builtin), http.StatusOK); got.PipelineID != builtin || got.Version != domain.BuiltinPipelineVersion {
		t.Fatalf("get built-in %+v", got)
	}
	if got := apitest.DecodeResp[pipelineResp](t, get(f.viewer, p.PipelineID), http.StatusOK); got.PipelineID != p.PipelineID {
		t.Fatalf("get %+v", got)
	}
	apitest.RequireError(t, get(f.stranger, p.PipelineID), http.StatusNotFound, domain.CodePipelineNotFound)
	apitest.RequireError(t, get(f.viewer, domain.NewID()), http.StatusNotFound, domain.CodePipelineNotFound)
	apitest.RequireError(t, get(f.viewer, "vina-docking"), http.StatusBadRequest, domain.CodeValidation, "pipeline_id")
}

func TestCreateJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ev := f.event(t, "create-job", f.standard, "")
	key := domain.NewID()
	ev.Headers["idempotency-key"] = key
	first := apitest.DecodeResp[createdJob](t, apitest.Serve(t, f.mux, ev), http.StatusAccepted)
	if !domain.IsID(first.JobID) || first.Status != "QUEUED" || first.Cache.Hit {
		t.Fatalf("created %+v", first)
	}
	// The job's message is on the jobs queue.
	want := `{"job_id":"` + first.JobID + `","org_id":"` + f.org.ID + `"}`
	msgs := testenv.Receive(t, f.env.AWS.Queues.URL, 10, 1)
	if !slices.ContainsFunc(msgs, func(m sqstypes.Message) bool { return aws.ToString(m.Body) == want }) {
		t.Fatalf("jobs queue has no %s", want)
	}

	// The same key and body: the first answer again.
	resp := apitest.Serve(t, f.mux, ev)
	if again := apitest.DecodeResp[createdJob](t, resp, http.StatusAccepted); again.JobID != first.JobID || resp.Headers["Idempotent-Replayed"] != "true" {
		t.Fatalf("replay %+v %v", again, resp.Headers)
	}
	// The same key with another body.
	other := ev
	apitest.SetJSON(t, &other, map[string]any{"inputs": map[string]string{"receptor": f.receptor.ID, "ligand": f.ligand.ID},
		"params": map[string]any{"center": []float64{1, 2, 3}, "size": []float64{20, 20, 20}}})
	apitest.RequireError(t, apitest.Serve(t, f.mux, other), http.StatusConflict, domain.CodeConflict)

	theirs := f.molecule(t, f.stranger, "their ligand", "pdbqt", apitest.Testdata(t, "1iep/1iep_ligand.pdbqt"))
	smi := f.molecule(t, f.standard, "ethanol", "smi", []byte("CCO\n"))
	box := map[string]any{"center": []float64{15.19, 53.903, 16.917}, "size": []float64{20, 20, 20}}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   domain.Code
		field  string
	}{
		{"another org's ligand", map[string]any{"inputs": map[string]string{"receptor": f.receptor.ID, "ligand": theirs.ID}, "params": box}, 400, domain.CodeValidation, "inputs.ligand"},
		{"another org's ligand by URI", map[string]any{"inputs": map[string]string{"receptor": f.receptor.ID, "ligand": theirs.URI()}, "params": box}, 400, domain.CodeValidation, "inputs.ligand"},
		{"smi receptor", map[string]any{"inputs": map[string]string{"receptor": smi.ID, "ligand": f.ligand.ID}, "params": box}, 400, domain.CodeValidation, "inputs.receptor"},
		{"no center", map[string]any{"inputs": map[string]string{"receptor": f.receptor.ID, "ligand": f.ligand.ID}, "params": map[string]any{"size": []float64{20, 20, 20}}}, 400, domain.CodeValidation, "params.center"},
		{"box too large", map[string]any{"inputs": map[string]string{"receptor": f.receptor.ID, "ligand": f.ligand.ID}, "params": map[string]any{"center": []float64{0, 0, 0}, "size": []float64{500, 20, 20}}}, 400, domain.CodeValidation, ""},
		{"mass assignment", map[string]any{"inputs": map[string]string{"receptor": f.receptor.ID, "ligand": f.ligand.ID}, "params": box, "status": "COMPLETED"}, 400, domain.CodeValidation, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := f.event(t, "create-job", f.standard, "")
			delete(e.Headers, "idempotency-key")
			apitest.SetJSON(t, &e, tc.body)
			if tc.field != "" {
				apitest.RequireError(t, apitest.Serve(t, f.mux, e), tc.status, tc.code, tc.field)
			} else {
				apitest.RequireError(t, apitest.Serve(t, f.mux, e), tc.status, tc.code)
			}
		})
	}
	e := f.event(t, "create-job", f.standard, "")
	apitest.SetQuery(&e, map[string]string{"use_cache": "maybe"})
	apitest.RequireError(t, apitest.Serve(t, f.mux, e), http.StatusBadRequest, domain.CodeValidation, "use_cache")
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/jobs/create-job.json", &f.standard.Principal, builtin, domain.NewID())), http.StatusNotFound, domain.CodePipelineNotFound)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/jobs/create-job.json", &f.standard.Principal, builtin, "vina")), http.StatusBadRequest, domain.CodeValidation, "pipeline_id")
	apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, "create-job", f.viewer, "")), http.StatusForbidden, domain.CodeForbidden)

	// Over the org's max_active_jobs.
	one := 1
	f.env.SetQuotas(t, f.org.ID, &one, nil)
	apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, "create-job", f.admin, "")), http.StatusTooManyRequests, domain.CodeQuotaExceeded)
}

func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	job := f.createJob(t, f.standard, http.StatusAccepted).JobID

	get := func(file string, m apptest.Member) events.APIGatewayV2HTTPResponse {
		return apitest.Serve(t, f.mux, f.event(t, file, m, job))
	}
	j := apitest.DecodeResp[jobResp](t, get("get-job", f.viewer), http.StatusOK)
	if j.JobID != job || j.Status != "QUEUED" || j.PipelineID != builtin || j.PipelineVersion != domain.BuiltinPipelineVersion ||
		j.Inputs["receptor"] != f.receptor.ID || j.Inputs["ligand"] != f.ligand.ID || j.CreatedBy != f.standard.UserID ||
		j.Params.Exhaustiveness != 1 || j.Params.NumModes != 3 || j.Params.EnergyRange != 3 || j.Params.TimeoutSeconds != 600 ||
		j.Params.Seed == nil || *j.Params.Seed != 42 || j.StartedAt != nil || j.FinishedAt != nil || j.Attempts != 0 || j.Cache.Hit {
		t.Fatalf("job %+v", j)
	}
	type statusResp struct {
		JobID     string  `json:"job_id"`
		Status    string  `json:"status"`
		StartedAt *string `json:"started_at"`
		UpdatedAt string  `json:"updated_at"`
	}
	status := apitest.DecodeResp[statusResp](t, get("job-status", f.viewer), http.StatusOK)
	if status.JobID != job || status.Status != "QUEUED" || status.StartedAt != nil || status.UpdatedAt == "" {
		t.Fatalf("status %+v", status)
	}
	apitest.RequireError(t, get("job-results", f.viewer), http.StatusConflict, domain.CodeJobNotCompleted)
	apitest.RequireError(t, get("job-file", f.viewer), http.StatusNotFound, domain.CodeArtifactNotFound)

	f.complete(t, job)

	j = apitest.DecodeResp[jobResp](t, get("get-job", f.viewer), http.StatusOK)
	if j.Status != "COMPLETED" || j.StartedAt == nil || j.FinishedAt == nil || j.Attempts != 1 || j.Error != nil {
		t.Fatalf("completed job %+v", j)
	}
	res := apitest.DecodeResp[resultsOut](t, get("job-results", f.viewer), http.StatusOK)
	if res.JobID != job || len(res.Scores) != 2 || res.Scores[0].Pose != 1 || res.Scores[0].Affinity != -13.3 || res.Scores[1].Pose != 2 {
		t.Fatalf("scores %+v, want sorted by pose", res.Scores)
	}
	prefix := "mad://org/" + f.org.ID + "/jobs/" + job + "/"
	for field, file := range map[string]string{"poses_pdbqt": "poses.pdbqt", "poses_sdf": "poses.sdf", "log": "vina.log", "result_json": "result.json"} {
		if res.Artifacts[field] != prefix+file {
			t.Fatalf("artifacts %v lack %s = %s", res.Artifacts, field, prefix+file)
		}
	}
	if len(res.TaskResults) != 1 || res.TaskResults[0].TaskName != "dock" || res.TaskResults[0].ServiceName != "vina" ||
		res.TaskResults[0].SchemaVersion != "1" || res.TaskResults[0].EngineVersion != "1.2.3" {
		t.Fatalf("task results %+v", res.TaskResults)
	}

	evs := apitest.DecodeResp[[]eventOut](t, get("job-events", f.viewer), http.StatusOK)
	var names []string
	for i, e := range evs {
		names = append(names, e.Event)
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Fatalf("events out of order: %+v", evs)
		}
	}
	if !slices.Equal(names, []string{"CREATED", "QUEUED", "STARTED", "TASK_COMPLETED", "COMPLETED"}) {
		t.Fatalf("events %v", names)
	}

	if got := fetch(t, get("job-file", f.viewer)); !bytes.Equal(got, docked.PosesSDF) {
		t.Fatalf("poses.sdf = %q", got)
	}
	if got := fetch(t, get("job-logs", f.viewer)); !bytes.Equal(got, docked.Log) {
		t.Fatalf("vina.log = %q", got)
	}
	art := f.event(t, "get-artifact", f.viewer, job)
	if got := fetch(t, apitest.Serve(t, f.mux, art)); !bytes.Equal(got, docked.PosesSDF) {
		t.Fatalf("artifact = %q", got)
	}
	for _, name := range []string{"secret.txt", "..%2F..%2Fother", "poses.sdf%00"} {
		ev := f.event(t, "job-file", f.viewer, job)
		ev.PathParameters["filename"] = name
		apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusNotFound, domain.CodeArtifactNotFound)
	}
	for _, uri := range []string{"mad://org/" + f.stranger.OrgID + "/jobs/" + job + "/poses.sdf", prefix + "../../x", "s3://bucket/key", prefix + "secret.txt"} {
		ev := f.event(t, "get-artifact", f.viewer, job)
		ev.PathParameters["uri"] = uri
		apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusNotFound, domain.CodeArtifactNotFound)
	}
	// A molecule is an artifact too.
	ev := f.event(t, "get-artifact", f.viewer, job)
	ev.PathParameters["uri"] = url.PathEscape(f.ligand.URI())
	if got := fetch(t, apitest.Serve(t, f.mux, ev)); !bytes.Equal(got, apitest.Testdata(t, "1iep/1iep_ligand.pdbqt")) {
		t.Fatal("molecule artifact content differs")
	}

	apitest.RequireError(t, get("cancel-job", f.standard), http.StatusConflict, domain.CodeConflict)

	// The same request again is a cache hit, unless use_cache=false.
	hit := f.createJob(t, f.admin, http.StatusOK)
	if hit.Status != "COMPLETED" || !hit.Cache.Hit || hit.Cache.CanonicalJobID != job || hit.JobID == job {
		t.Fatalf("cache hit %+v", hit)
	}
	if got := apitest.DecodeResp[resultsOut](t, apitest.Serve(t, f.mux, f.event(t, "job-results", f.viewer, hit.JobID)), http.StatusOK); len(got.Scores) != 2 || got.JobID != hit.JobID {
		t.Fatalf("cache hit results %+v", got)
	}
	nocache := f.event(t, "create-job", f.standard, "")
	nocache.Headers["idempotency-key"] = domain.NewID()
	apitest.SetQuery(&nocache, map[string]string{"use_cache": "false"})
	if c := apitest.DecodeResp[createdJob](t, apitest.Serve(t, f.mux, nocache), http.StatusAccepted); c.Cache.Hit {
		t.Fatalf("use_cache=false answered from the cache: %+v", c)
	}

	// Another org's principal, and ids that are not UUIDs, for every job route.
	for _, file := range []string{"get-job", "job-status", "job-results", "job-events", "job-file", "job-logs", "cancel-job"} {
		apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, file, f.stranger, job)), http.StatusNotFound, domain.CodeJobNotFound)
		apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, file, f.standard, domain.NewID())), http.StatusNotFound, domain.CodeJobNotFound)
		apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, file, f.standard, "job-1")), http.StatusBadRequest, domain.CodeValidation, "job_id")
	}
	stranger := f.event(t, "get-artifact", f.stranger, job)
	apitest.RequireError(t, apitest.Serve(t, f.mux, stranger), http.StatusNotFound, domain.CodeArtifactNotFound)
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	job := f.createJob(t, f.standard, http.StatusAccepted).JobID
	cancel := func(m apptest.Member) events.APIGatewayV2HTTPResponse {
		return apitest.Serve(t, f.mux, f.event(t, "cancel-job", m, job))
	}
	apitest.RequireError(t, cancel(f.viewer), http.StatusForbidden, domain.CodeForbidden)
	apitest.RequireError(t, cancel(f.env.NewUser(t, f.admin, domain.RoleStandard)), http.StatusForbidden, domain.CodeForbidden) // not theirs
	out := apitest.DecodeResp[map[string]string](t, cancel(f.standard), http.StatusOK)
	if out["job_id"] != job || out["status"] != "CANCELLED" || len(out) != 2 {
		t.Fatalf("cancel %v", out)
	}
	apitest.RequireError(t, cancel(f.standard), http.StatusConflict, domain.CodeConflict)
	// An operator may cancel anyone's job.
	job = f.createJob(t, f.standard, http.StatusAccepted).JobID
	op := f.env.NewUser(t, f.admin, domain.RoleOperator)
	if out := apitest.DecodeResp[map[string]string](t, cancel(op), http.StatusOK); out["status"] != "CANCELLED" {
		t.Fatalf("operator cancel %v", out)
	}
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	done := f.createJob(t, f.standard, http.StatusAccepted).JobID
	f.complete(t, done)
	// The same request again is answered from the cache: a second job, COMPLETED too.
	hit := f.createJob(t, f.standard, http.StatusOK).JobID
	nocache := f.event(t, "create-job", f.standard, "")
	delete(nocache.Headers, "idempotency-key")
	apitest.SetQuery(&nocache, map[string]string{"use_cache": "false"})
	queued := apitest.DecodeResp[createdJob](t, apitest.Serve(t, f.mux, nocache), http.StatusAccepted).JobID

	ev := f.event(t, "list-jobs", f.viewer, "")
	ids := func(l list[jobResp]) []string {
		var out []string
		for _, j := range l.Items {
			out = append(out, j.JobID)
		}
		return out
	}
	l := apitest.DecodeResp[list[jobResp]](t, apitest.Serve(t, f.mux, ev), http.StatusOK) // the sample: status=COMPLETED
	if got := ids(l); !slices.Equal(got, []string{hit, done}) {
		t.Fatalf("status=COMPLETED listed %v, want [%s %s] newest first", got, hit, done)
	}
	apitest.SetQuery(&ev, map[string]string{"status": "QUEUED"})
	if got := ids(apitest.DecodeResp[list[jobResp]](t, apitest.Serve(t, f.mux, ev), http.StatusOK)); !slices.Equal(got, []string{queued}) {
		t.Fatalf("status=QUEUED listed %v", got)
	}
	apitest.SetQuery(&ev, map[string]string{"pipeline_id": builtin, "limit": "2"})
	l = apitest.DecodeResp[list[jobResp]](t, apitest.Serve(t, f.mux, ev), http.StatusOK)
	if got := ids(l); !slices.Equal(got, []string{queued, hit}) || l.NextCursor == nil {
		t.Fatalf("first page %v", got)
	}
	apitest.SetQuery(&ev, map[string]string{"pipeline_id": builtin, "limit": "2", "cursor": *l.NextCursor})
	l = apitest.DecodeResp[list[jobResp]](t, apitest.Serve(t, f.mux, ev), http.StatusOK)
	if got := ids(l); !slices.Equal(got, []string{done}) || l.NextCursor != nil {
		t.Fatalf("second page %v", got)
	}
	apitest.SetQuery(&ev, map[string]string{"pipeline_id": domain.NewID()})
	if l = apitest.DecodeResp[list[jobResp]](t, apitest.Serve(t, f.mux, ev), http.StatusOK); len(l.Items) != 0 {
		t.Fatalf("unknown pipeline listed %+v", l.Items)
	}
	for q, field := range map[string]string{"status": "status", "pipeline_id": "pipeline_id"} {
		apitest.SetQuery(&ev, map[string]string{q: "DONE"})
		apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, field)
	}
	checkPaging(t, f.mux, ev)

	// Another org sees none of them.
	if l = apitest.DecodeResp[list[jobResp]](t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/jobs/list-jobs.json", &f.stranger.Principal)), http.StatusOK); len(l.Items) != 0 {
		t.Fatalf("another org listed %+v", l.Items)
	}
}

// TestRootOrgContext: an org-less root token cannot use org routes; a
// root that logged in with org_id acts in that org.
func TestRootOrgContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	job := f.createJob(t, f.standard, http.StatusAccepted).JobID
	root := f.env.NewRoot(t)
	for _, file := range []string{"list-jobs", "list-pipelines", "create-job"} {
		apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, file, root, "")), http.StatusForbidden, domain.CodeOrgForbidden)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, f.event(t, "get-job", root, job)), http.StatusForbidden, domain.CodeOrgForbidden)

	inOrg := f.env.Login(t, root.Email, f.org.ID)
	if inOrg.OrgID != f.org.ID {
		t.Fatalf("root logged in with org_id acts in %q", inOrg.OrgID)
	}
	if j := apitest.DecodeResp[jobResp](t, apitest.Serve(t, f.mux, f.event(t, "get-job", inOrg, job)), http.StatusOK); j.JobID != job {
		t.Fatalf("root in org got %+v", j)
	}
	ev := f.event(t, "create-job", inOrg, "")
	delete(ev.Headers, "idempotency-key")
	apitest.SetQuery(&ev, map[string]string{"use_cache": "false"})
	c := apitest.DecodeResp[createdJob](t, apitest.Serve(t, f.mux, ev), http.StatusAccepted)
	if j := apitest.DecodeResp[jobResp](t, apitest.Serve(t, f.mux, f.event(t, "get-job", f.viewer, c.JobID)), http.StatusOK); j.CreatedBy != root.UserID {
		t.Fatalf("job created by root: created_by %s", j.CreatedBy)
	}
}
