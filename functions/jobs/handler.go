package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/wire"
)

// handler serves pipelines, jobs and artifacts.
type handler struct {
	jobs *app.Jobs
}

func newMux(h handler, mux *apigw.Mux) *apigw.Mux {
	mux.Handle("GET /api/v1/pipelines", h.listPipelines)
	mux.Handle("POST /api/v1/pipelines", h.createPipeline)
	mux.Handle("GET /api/v1/pipelines/{pipeline_id}", h.getPipeline)
	mux.Handle("POST /api/v1/pipelines/{pipeline_id}/jobs", h.createJob)
	mux.Handle("GET /api/v1/jobs", h.listJobs)
	mux.Handle("GET /api/v1/jobs/{job_id}", h.getJob)
	mux.Handle("GET /api/v1/jobs/{job_id}/status", h.status)
	mux.Handle("GET /api/v1/jobs/{job_id}/results", h.results)
	mux.Handle("GET /api/v1/jobs/{job_id}/events", h.events)
	mux.Handle("GET /api/v1/jobs/{job_id}/files/{filename}", h.file)
	mux.Handle("GET /api/v1/jobs/{job_id}/logs", h.logs)
	mux.Handle("POST /api/v1/jobs/{job_id}/cancel", h.cancel)
	mux.Handle("GET /api/v1/artifacts/{uri+}", h.artifact)
	return mux
}

type pipelineJSON struct {
	PipelineID   string          `json:"pipeline_id"`
	Name         string          `json:"name"`
	Engine       string          `json:"engine"`
	Version      string          `json:"version"`
	BuiltIn      bool            `json:"built_in"`
	ParamsSchema json.RawMessage `json:"params_schema"`
	Defaults     wire.VinaParams `json:"defaults"`
	CreatedAt    string          `json:"created_at"`
}

func pipelineOut(v app.PipelineView) pipelineJSON {
	schema := json.RawMessage(v.ParamsSchema)
	if len(schema) == 0 {
		schema = json.RawMessage("{}")
	}
	return pipelineJSON{PipelineID: v.ID, Name: v.Name, Engine: v.Engine, Version: v.Version, BuiltIn: v.OrgID == "",
		ParamsSchema: schema, Defaults: wire.FromPatch(v.Defaults), CreatedAt: wire.Time(v.CreatedAt)}
}

func (h handler) listPipelines(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	page, err := r.Page()
	if err != nil {
		return nil, err
	}
	res, err := h.jobs.ListPipelines(ctx, r.Principal, page)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, wire.NewList(wire.Map(res.Items, pipelineOut), res.NextCursor)), nil
}

type createPipelineRequest struct {
	Name     string          `json:"name"`
	Engine   string          `json:"engine"`
	Version  string          `json:"version"`
	Defaults wire.VinaParams `json:"defaults"`
}

func (h handler) createPipeline(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	var in createPipelineRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	pl, err := h.jobs.CreatePipeline(ctx, r.Principal, app.NewPipelineInput{Name: in.Name, Engine: in.Engine,
		Version: in.Version, Defaults: in.Defaults.Patch()})
	if err != nil {
		return nil, err
	}
	v, err := h.jobs.GetPipeline(ctx, r.Principal, pl.ID)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusCreated, pipelineOut(v)), nil
}

func (h handler) getPipeline(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("pipeline_id")
	if err != nil {
		return nil, err
	}
	v, err := h.jobs.GetPipeline(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, pipelineOut(v)), nil
}

type inputsJSON struct {
	Receptor string `json:"receptor"`
	Ligand   string `json:"ligand"`
}

type createJobRequest struct {
	PipelineVersion string          `json:"pipeline_version"`
	Inputs          inputsJSON      `json:"inputs"`
	Params          wire.VinaParams `json:"params"`
}

type cacheJSON struct {
	Hit            bool   `json:"hit"`
	CanonicalJobID string `json:"canonical_job_id,omitempty"`
}

type createJobResponse struct {
	JobID  string    `json:"job_id"`
	Status string    `json:"status"`
	Cache  cacheJSON `json:"cache"`
}

func (h handler) createJob(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	pid, err := r.PathID("pipeline_id")
	if err != nil {
		return nil, err
	}
	useCache := true
	switch r.Query("use_cache") {
	case "", "true":
	case "false":
		useCache = false
	default:
		return nil, domain.InvalidField("use_cache", `must be "true" or "false"`)
	}
	var in createJobRequest
	if err := r.DecodeJSON(&in); err != nil {
		return nil, err
	}
	key := r.Header("idempotency-key")
	res, err := h.jobs.CreateJob(ctx, r.Principal, app.CreateJobInput{
		PipelineID: pid, PipelineVersion: in.PipelineVersion, Receptor: in.Inputs.Receptor, Ligand: in.Inputs.Ligand,
		Params: in.Params.Patch(), UseCache: useCache, IdempotencyKey: key,
		// The body as sent (plus the route and flags) is what the key binds.
		RequestHash: app.RequestHash(pid, r.Query("use_cache"), string(r.Body())),
	})
	if err != nil {
		return nil, err
	}
	out := createJobResponse{JobID: res.Job.ID, Status: string(res.Job.Status), Cache: cacheJSON{Hit: res.Job.Cache.Hit, CanonicalJobID: res.Job.Cache.CanonicalJobID}}
	resp := apigw.JSON(res.Status, out)
	if res.Replayed {
		resp.Headers = map[string]string{"Idempotent-Replayed": "true"}
	}
	return resp, nil
}

type jobJSON struct {
	JobID           string          `json:"job_id"`
	Status          string          `json:"status"`
	PipelineID      string          `json:"pipeline_id"`
	PipelineVersion string          `json:"pipeline_version"`
	Inputs          inputsJSON      `json:"inputs"`
	Params          wire.VinaParams `json:"params"`
	CreatedBy       string          `json:"created_by"`
	CreatedAt       string          `json:"created_at"`
	StartedAt       *string         `json:"started_at"`
	FinishedAt      *string         `json:"finished_at"`
	Attempts        int             `json:"attempts"`
	Error           *string         `json:"error,omitempty"`
	Cache           cacheJSON       `json:"cache"`
}

func jobOut(j *domain.Job) jobJSON {
	out := jobJSON{JobID: j.ID, Status: string(j.Status), PipelineID: j.PipelineID, PipelineVersion: j.PipelineVersion,
		Inputs: inputsJSON{Receptor: j.Inputs.Receptor, Ligand: j.Inputs.Ligand}, Params: wire.FromParams(j.Params),
		CreatedBy: j.CreatedBy, CreatedAt: wire.Time(j.CreatedAt), StartedAt: wire.TimePtr(j.StartedAt),
		FinishedAt: wire.TimePtr(j.FinishedAt), Attempts: j.Attempts,
		Cache: cacheJSON{Hit: j.Cache.Hit, CanonicalJobID: j.Cache.CanonicalJobID}}
	if j.Error != "" {
		out.Error = &j.Error
	}
	return out
}

func (h handler) listJobs(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	page, err := r.Page()
	if err != nil {
		return nil, err
	}
	var f app.JobFilter
	if v := r.Query("status"); v != "" {
		st, err := domain.ParseJobStatus(v)
		if err != nil {
			return nil, domain.InvalidField("status", "must be one of PENDING, QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED")
		}
		f.Status = st
	}
	if v := r.Query("pipeline_id"); v != "" {
		id, err := domain.ParseID(v)
		if err != nil {
			return nil, domain.InvalidField("pipeline_id", "must be a UUID")
		}
		f.PipelineID = id
	}
	res, err := h.jobs.ListJobs(ctx, r.Principal, f, page)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, wire.NewList(wire.Map(res.Items, jobOut), res.NextCursor)), nil
}

func (h handler) job(ctx context.Context, r *apigw.Request) (*domain.Job, error) {
	id, err := r.PathID("job_id")
	if err != nil {
		return nil, err
	}
	return h.jobs.GetJob(ctx, r.Principal, id)
}

func (h handler) getJob(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	j, err := h.job(ctx, r)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, jobOut(j)), nil
}

type statusJSON struct {
	JobID     string  `json:"job_id"`
	Status    string  `json:"status"`
	StartedAt *string `json:"started_at"`
	UpdatedAt string  `json:"updated_at"`
}

func (h handler) status(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	j, err := h.job(ctx, r)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, statusJSON{JobID: j.ID, Status: string(j.Status), StartedAt: wire.TimePtr(j.StartedAt),
		UpdatedAt: wire.Time(j.UpdatedAt)}), nil
}

type scoreJSON struct {
	Pose     int     `json:"pose"`
	Affinity float64 `json:"affinity"`
	RMSDLB   float64 `json:"rmsd_lb"`
	RMSDUB   float64 `json:"rmsd_ub"`
}

type taskJSON struct {
	TaskName      string         `json:"task_name"`
	ServiceName   string         `json:"service_name"`
	EngineVersion string         `json:"engine_version"`
	SchemaVersion string         `json:"schema_version"`
	ResultData    map[string]any `json:"result_data"`
}

type resultsJSON struct {
	JobID       string            `json:"job_id"`
	Scores      []scoreJSON       `json:"scores"`
	Artifacts   map[string]string `json:"artifacts"`
	TaskResults []taskJSON        `json:"task_results"`
}

func (h handler) results(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("job_id")
	if err != nil {
		return nil, err
	}
	res, err := h.jobs.JobResults(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	out := resultsJSON{JobID: id, Scores: []scoreJSON{}, Artifacts: map[string]string{}, TaskResults: []taskJSON{}}
	for _, s := range res.Scores {
		out.Scores = append(out.Scores, scoreJSON(s))
	}
	sort.Slice(out.Scores, func(i, j int) bool { return out.Scores[i].Pose < out.Scores[j].Pose })
	for _, a := range res.Artifacts {
		if field, ok := domain.JobArtifacts[a.Name]; ok {
			out.Artifacts[field] = "mad://org/" + a.Key
		}
	}
	for _, t := range res.Tasks {
		out.TaskResults = append(out.TaskResults, taskJSON(t))
	}
	return apigw.JSON(http.StatusOK, out), nil
}

type eventJSON struct {
	Seq    int            `json:"seq"`
	TS     string         `json:"ts"`
	Event  string         `json:"event"`
	Detail map[string]any `json:"detail,omitempty"`
}

func (h handler) events(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("job_id")
	if err != nil {
		return nil, err
	}
	evs, err := h.jobs.JobEvents(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	out := make([]eventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventJSON{Seq: e.Seq, TS: wire.Time(e.TS), Event: string(e.Event), Detail: e.Detail})
	}
	return apigw.JSON(http.StatusOK, out), nil
}

func (h handler) file(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("job_id")
	if err != nil {
		return nil, err
	}
	name, err := url.PathUnescape(r.PathParam("filename"))
	if err != nil {
		return nil, domain.Errorf(domain.CodeArtifactNotFound, "artifact not found")
	}
	d, err := h.jobs.JobFile(ctx, r.Principal, id, name)
	if err != nil {
		return nil, err
	}
	return apigw.Found(d.URL), nil
}

func (h handler) logs(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("job_id")
	if err != nil {
		return nil, err
	}
	d, err := h.jobs.JobFile(ctx, r.Principal, id, "vina.log")
	if err != nil {
		return nil, err
	}
	return apigw.Found(d.URL), nil
}

func (h handler) cancel(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	id, err := r.PathID("job_id")
	if err != nil {
		return nil, err
	}
	j, err := h.jobs.CancelJob(ctx, r.Principal, id)
	if err != nil {
		return nil, err
	}
	return apigw.JSON(http.StatusOK, map[string]string{"job_id": j.ID, "status": string(j.Status)}), nil
}

func (h handler) artifact(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	raw := r.PathParam("uri")
	uri, err := url.PathUnescape(raw)
	if err != nil {
		return nil, domain.Errorf(domain.CodeArtifactNotFound, "artifact not found")
	}
	d, err := h.jobs.Artifact(ctx, r.Principal, uri)
	if err != nil {
		return nil, err
	}
	return apigw.Found(d.URL), nil
}
