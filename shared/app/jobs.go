package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
)

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// Jobs is the use case of pipelines and docking jobs: creation (with the
// result cache, idempotency and quotas), reads, cancellation, artifacts.
type Jobs struct {
	Store      Store
	Queue      JobQueue
	Objects    ObjectStore
	Clock      Clock
	PresignTTL time.Duration
	Log        *slog.Logger
	// Function names the emitting function in metrics.
	Function string
}

func (j *Jobs) log() *slog.Logger {
	if j.Log != nil {
		return j.Log
	}
	return slog.Default()
}

// NewPipelineInput creates an org pipeline.
type NewPipelineInput struct {
	Name, Engine, Version string
	Defaults              domain.VinaParamsPatch
}

// CreatePipeline publishes a pipeline version for the caller's org.
// Published versions are immutable; a change is a new version. Errors:
// VALIDATION_FAILED, CONFLICT (name and version exist).
func (j *Jobs) CreatePipeline(ctx context.Context, p domain.Principal, in NewPipelineInput) (domain.Pipeline, error) {
	fe := domain.FieldErrors{}
	if err := domain.ValidateName(in.Name); err != nil {
		fe.Add("name", err.Error())
	} else if strings.EqualFold(in.Name, domain.BuiltinPipelineName) {
		fe.Add("name", "is reserved for the built-in pipeline")
	}
	if in.Engine != domain.EngineVina {
		fe.Add("engine", `must be "vina"`)
	}
	if err := domain.ValidatePipelineVersion(in.Version); err != nil {
		fe.Add("version", err.Error())
	}
	if err := in.Defaults.ValidateDefaults("defaults"); err != nil {
		de, _ := domain.AsError(err)
		for k, v := range de.Fields {
			fe.Add(k, v)
		}
	}
	if err := fe.Err(); err != nil {
		return domain.Pipeline{}, err
	}
	pl := domain.Pipeline{ID: domain.NewID(), OrgID: p.OrgID, Name: in.Name, Engine: in.Engine, Version: in.Version,
		Defaults: in.Defaults, CreatedAt: now(j.Clock)}
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if err := tx.Pipelines().CreatePipeline(ctx, pl, p.SubjectID); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditPipelineCreated, "pipeline", pl.ID)
		e.Detail = map[string]any{"name": pl.Name, "version": pl.Version}
		return tx.Audit().AppendAudit(ctx, e)
	})
	return pl, err
}

// PipelineView is a pipeline with its parameter schema.
type PipelineView struct {
	domain.Pipeline
	ParamsSchema []byte
}

// ListPipelines lists the built-in pipelines and the org's own.
func (j *Jobs) ListPipelines(ctx context.Context, p domain.Principal, page Page) (Paged[PipelineView], error) {
	var out []PipelineView
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		rows, err := tx.Pipelines().FindPipelines(ctx, page)
		if err != nil {
			return err
		}
		schemas := map[string][]byte{}
		for _, pl := range rows {
			key := pl.Engine
			if schemas[key] == nil {
				if schemas[key], err = tx.Pipelines().ParamsSchema(ctx, pl.ID); err != nil {
					return err
				}
			}
			out = append(out, PipelineView{Pipeline: pl, ParamsSchema: schemas[key]})
		}
		return nil
	})
	return paginate(out, page, func(v PipelineView) string { return v.ID }), err
}

// GetPipeline returns one pipeline. Errors: PIPELINE_NOT_FOUND.
func (j *Jobs) GetPipeline(ctx context.Context, p domain.Principal, id string) (PipelineView, error) {
	var v PipelineView
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		pl, err := tx.Pipelines().FindPipelineByID(ctx, id)
		if err != nil {
			return err
		}
		schema, err := tx.Pipelines().ParamsSchema(ctx, id)
		v = PipelineView{Pipeline: pl, ParamsSchema: schema}
		return err
	})
	return v, err
}

// CreateJobInput is a docking request.
type CreateJobInput struct {
	PipelineID      string
	PipelineVersion string
	Receptor        string // molecule id or mad:// URI
	Ligand          string
	Params          domain.VinaParamsPatch
	UseCache        bool
	IdempotencyKey  string
	// RequestHash identifies the request body for idempotency: the same key
	// with a different body is a CONFLICT.
	RequestHash string
}

// CreateJobResult says what became of a docking request.
type CreateJobResult struct {
	Job *domain.Job
	// Status is the HTTP status of the contract: 202 queued, 200 cache hit.
	Status int
	// Replayed is true when an Idempotency-Key returned an earlier response.
	Replayed bool
}

// resolved is a validated docking request.
type resolved struct {
	pipeline         domain.Pipeline
	receptor, ligand domain.Molecule
	params           domain.VinaParams
	signature        string
}

// resolve checks a request against the org's data: the pipeline (and its
// version), the two molecules (which must be the caller's org's), the
// receptor's format and the parameters. Errors: PIPELINE_NOT_FOUND,
// VALIDATION_FAILED naming the input.
func (j *Jobs) resolve(ctx context.Context, tx Tx, p domain.Principal, in CreateJobInput) (resolved, error) {
	var r resolved
	pl, err := tx.Pipelines().FindPipelineByID(ctx, in.PipelineID)
	if err != nil {
		return r, err
	}
	r.pipeline = pl
	fe := domain.FieldErrors{}
	if in.PipelineVersion != "" && in.PipelineVersion != pl.Version {
		fe.Add("pipeline_version", fmt.Sprintf("pipeline %s is version %s", pl.Name, pl.Version))
	}
	parse := func(field, ref string) string {
		if ref == "" {
			fe.Add(field, "required: a molecule id or mad:// URI")
			return ""
		}
		id, err := domain.ParseMoleculeRef(ref, p.OrgID)
		if err != nil {
			fe.Add(field, err.Error())
			return ""
		}
		return id
	}
	recID, ligID := parse("inputs.receptor", in.Receptor), parse("inputs.ligand", in.Ligand)
	var ids []string
	for _, id := range []string{recID, ligID} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		// Both inputs in one query. A molecule that cannot be read is the
		// database's failure, not the client's: it is returned as is (503
		// NOT_READY or 500), never a 400.
		found, err := tx.Molecules().FindMoleculesByID(ctx, ids...)
		if err != nil {
			return r, fmt.Errorf("read input molecules: %w", err)
		}
		pick := func(field, id string) domain.Molecule {
			m, ok := found[id]
			if id != "" && !ok {
				fe.Add(field, "molecule not found in your organization")
			}
			return m
		}
		r.receptor, r.ligand = pick("inputs.receptor", recID), pick("inputs.ligand", ligID)
	}
	if r.receptor.ID != "" && r.receptor.Format != domain.FormatPDB && r.receptor.Format != domain.FormatPDBQT {
		fe.Add("inputs.receptor", fmt.Sprintf("a receptor must be pdb or pdbqt, this molecule is %s", r.receptor.Format))
	}
	// A PDB ligand has no bond orders: its chemistry would be guessed.
	if r.ligand.ID != "" && r.ligand.Format == domain.FormatPDB {
		fe.Add("inputs.ligand", "a ligand must be pdbqt, sdf, mol2 or smi; pdb files carry no bond orders")
	}
	params, err := in.Params.Resolve("params", pl.Defaults)
	if err != nil {
		de, _ := domain.AsError(err)
		for k, v := range de.Fields {
			fe.Add(k, v)
		}
	}
	if err := fe.Err(); err != nil {
		return r, err
	}
	r.params = params
	r.signature = domain.InputSignature(domain.SignatureInput{
		// The engine's version, not the pipeline's: two pipelines asking
		// for the same computation share cached results.
		Engine: pl.Engine, EngineVersion: domain.VinaEngineVersion, Params: params,
		ReceptorSHA256: r.receptor.SHA256, LigandSHA256: r.ligand.SHA256,
		ReceptorFormat: r.receptor.Format, LigandFormat: r.ligand.Format,
	})
	return r, nil
}

// checkRun validates an upload's run request before the upload happens
// (the ligand does not exist yet).
func (j *Jobs) checkRun(ctx context.Context, p domain.Principal, run domain.RunSpec) error {
	return j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		fe := domain.FieldErrors{}
		pl, err := tx.Pipelines().FindPipelineByID(ctx, run.PipelineID)
		if err != nil {
			if domain.ErrorCode(err) == domain.CodePipelineNotFound {
				return domain.InvalidField("run.pipeline_id", "pipeline not found")
			}
			return err
		}
		id, err := domain.ParseMoleculeRef(run.Receptor, p.OrgID)
		if err != nil {
			fe.Add("run.receptor", err.Error())
		} else if m, err := tx.Molecules().FindMoleculeByID(ctx, id); err != nil {
			fe.Add("run.receptor", "molecule not found in your organization")
		} else if m.Format != domain.FormatPDB && m.Format != domain.FormatPDBQT {
			fe.Add("run.receptor", fmt.Sprintf("a receptor must be pdb or pdbqt, this molecule is %s", m.Format))
		}
		if _, err := run.Params.Resolve("run.params", pl.Defaults); err != nil {
			de, _ := domain.AsError(err)
			for k, v := range de.Fields {
				fe.Add(k, v)
			}
		}
		return fe.Err()
	})
}

// CreateJob validates a docking request and either answers it from the
// org's result cache (200, COMPLETED) or records the job and queues it
// (202). The job row, its CREATED event and its outbox entry commit
// together; the message is sent after the commit, and a crash in between
// is repaired by the sweeper. Errors: PIPELINE_NOT_FOUND,
// VALIDATION_FAILED, CONFLICT (Idempotency-Key reused with another body),
// QUOTA_EXCEEDED (max_active_jobs).
func (j *Jobs) CreateJob(ctx context.Context, p domain.Principal, in CreateJobInput) (CreateJobResult, error) {
	if in.IdempotencyKey != "" {
		if len(in.IdempotencyKey) > 255 || strings.ContainsFunc(in.IdempotencyKey, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return CreateJobResult{}, domain.InvalidField("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
		}
	}
	t := now(j.Clock)
	var res CreateJobResult
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if in.IdempotencyKey != "" {
			if err := tx.Jobs().LockIdempotencyKey(ctx, p.SubjectID, in.IdempotencyKey); err != nil {
				return err
			}
			rec, ok, err := tx.Jobs().FindIdempotencyKey(ctx, p.SubjectID, in.IdempotencyKey)
			if err != nil {
				return err
			}
			if ok {
				if rec.RequestHash != in.RequestHash {
					return domain.Errorf(domain.CodeConflict, "Idempotency-Key was already used with a different request")
				}
				job, err := tx.Jobs().FindJobByID(ctx, rec.JobID)
				if err != nil {
					return err
				}
				res = CreateJobResult{Job: job, Status: rec.ResponseStatus, Replayed: true}
				return nil
			}
		}
		r, err := j.resolve(ctx, tx, p, in)
		if err != nil {
			return err
		}
		var job *domain.Job
		if in.UseCache {
			canonical, hit, err := tx.Jobs().FindCachedJob(ctx, r.signature)
			if err != nil {
				return err
			}
			if hit {
				// A cache hit adds no active job, so it takes no quota lock:
				// hits never queue behind each other or behind misses.
				org, err := tx.Orgs().FindOrgByID(ctx, p.OrgID)
				if err != nil {
					return err
				}
				if org.Status != domain.OrgActive {
					return domain.Errorf(domain.CodeOrgForbidden, "organization is suspended")
				}
				job = domain.NewCachedJob(domain.NewID(), p.OrgID, p.SubjectID, r.pipeline,
					domain.JobInputs{Receptor: r.receptor.ID, Ligand: r.ligand.ID}, r.params, r.signature, canonical, t)
				res.Status = 200
			}
		}
		if job == nil {
			// The org's row lock serializes quota checks: max_active_jobs
			// holds exactly under concurrent creations.
			org, err := tx.Orgs().LockOrg(ctx, p.OrgID)
			if err != nil {
				return err
			}
			if org.Status != domain.OrgActive {
				return domain.Errorf(domain.CodeOrgForbidden, "organization is suspended")
			}
			active, err := tx.Jobs().CountActiveJobs(ctx)
			if err != nil {
				return err
			}
			if active >= org.Quotas.MaxActiveJobs {
				return domain.Errorf(domain.CodeQuotaExceeded, "the organization already has %d active jobs (max_active_jobs %d)", active, org.Quotas.MaxActiveJobs)
			}
			job = domain.NewJob(domain.NewID(), p.OrgID, p.SubjectID, r.pipeline,
				domain.JobInputs{Receptor: r.receptor.ID, Ligand: r.ligand.ID}, r.params, r.signature, t)
			res.Status = 202
		}
		if err := tx.Jobs().CreateJob(ctx, job); err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditJobCreated, "job", job.ID)
		e.JobID = job.ID
		e.Detail = map[string]any{"pipeline_id": r.pipeline.ID, "cache_hit": job.Cache.Hit}
		if err := tx.Audit().AppendAudit(ctx, e); err != nil {
			return err
		}
		if in.IdempotencyKey != "" {
			if err := tx.Jobs().SaveIdempotencyKey(ctx, p.SubjectID, IdempotencyRecord{Key: in.IdempotencyKey,
				RequestHash: in.RequestHash, JobID: job.ID, ResponseStatus: res.Status, ExpiresAt: t.Add(IdempotencyTTL)}); err != nil {
				return err
			}
		}
		res.Job = job
		return nil
	})
	if err != nil {
		return CreateJobResult{}, err
	}
	if res.Replayed || res.Job.Cache.Hit {
		if res.Job.Cache.Hit && !res.Replayed {
			obs.Metric(j.Function, "CacheHits", 1, "Count", nil)
		}
		return res, nil
	}
	obs.Metric(j.Function, "JobsCreated", 1, "Count", nil)
	j.enqueue(ctx, res.Job)
	return res, nil
}

// enqueue sends the job's message and records QUEUED. A failure is logged
// and left to the sweeper: the job is committed and its outbox entry says
// it was never sent.
func (j *Jobs) enqueue(ctx context.Context, job *domain.Job) {
	if err := j.Queue.SendJob(ctx, JobMessage{JobID: job.ID, OrgID: job.OrgID}); err != nil {
		j.log().ErrorContext(ctx, "send job message; the sweeper will retry", "job_id", job.ID, "err", err)
		return
	}
	t := now(j.Clock)
	err := j.Store.Tx(ctx, domain.OrgScope(job.OrgID), func(tx Tx) error {
		if err := tx.Jobs().MarkOutboxSent(ctx, job.ID, t); err != nil {
			return err
		}
		updated, err := tx.Jobs().UpdateJob(ctx, job.ID, func(x *domain.Job) error { return x.MarkQueued(t) })
		if err == nil {
			*job = *updated
		}
		return err
	})
	if err != nil {
		j.log().ErrorContext(ctx, "record job as queued", "job_id", job.ID, "err", err)
	}
}

// RequestHash returns the hash an Idempotency-Key is bound to.
func RequestHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ListJobs lists the org's jobs, newest first.
func (j *Jobs) ListJobs(ctx context.Context, p domain.Principal, f JobFilter, page Page) (Paged[*domain.Job], error) {
	var rows []*domain.Job
	err := j.Store.Read(ctx, p.Scope(), func(tx Tx) error {
		var err error
		rows, err = tx.Jobs().FindJobs(ctx, f, page)
		return err
	})
	return paginate(rows, page, func(x *domain.Job) string { return x.ID }), err
}

// GetJob returns one job. Errors: JOB_NOT_FOUND (also for another org's).
func (j *Jobs) GetJob(ctx context.Context, p domain.Principal, id string) (*domain.Job, error) {
	var job *domain.Job
	err := j.Store.Read(ctx, p.Scope(), func(tx Tx) error { // the status route: polled
		var err error
		job, err = tx.Jobs().FindJobByID(ctx, id)
		return err
	})
	return job, err
}

// JobEvents returns a job's events in order. Errors: JOB_NOT_FOUND.
func (j *Jobs) JobEvents(ctx context.Context, p domain.Principal, id string) ([]domain.JobEvent, error) {
	var evs []domain.JobEvent
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if _, err := tx.Jobs().FindJobByID(ctx, id); err != nil {
			return err
		}
		var err error
		evs, err = tx.Jobs().FindJobEvents(ctx, id)
		return err
	})
	return evs, err
}

// resultsJobID is the job whose results a job shows: itself, or the
// canonical job of a cache hit.
func resultsJobID(job *domain.Job) string {
	if job.Cache.Hit && job.Cache.CanonicalJobID != "" {
		return job.Cache.CanonicalJobID
	}
	return job.ID
}

// JobResults returns a completed job's results. Errors: JOB_NOT_FOUND,
// JOB_NOT_COMPLETED.
func (j *Jobs) JobResults(ctx context.Context, p domain.Principal, id string) (JobResults, error) {
	var res JobResults
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		job, err := tx.Jobs().FindJobByID(ctx, id)
		if err != nil {
			return err
		}
		if job.Status != domain.JobCompleted {
			return domain.Errorf(domain.CodeJobNotCompleted, "job is %s; results exist once it is COMPLETED", job.Status)
		}
		res, err = tx.Jobs().FindResults(ctx, resultsJobID(job))
		return err
	})
	res.JobID = id
	return res, err
}

// JobFile presigns a GET of one of a job's artifacts and audits the
// access. name is one of the engine's file names. Errors: JOB_NOT_FOUND,
// ARTIFACT_NOT_FOUND.
func (j *Jobs) JobFile(ctx context.Context, p domain.Principal, id, name string) (Download, error) {
	if _, ok := domain.JobArtifacts[name]; !ok {
		return Download{}, domain.Errorf(domain.CodeArtifactNotFound, "no artifact named %q; jobs have poses.pdbqt, poses.sdf, vina.log, result.json", truncate(name, 40))
	}
	var d Download
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		job, err := tx.Jobs().FindJobByID(ctx, id)
		if err != nil {
			return err
		}
		return j.presignArtifact(ctx, tx, p, job, name, &d)
	})
	return d, err
}

func (j *Jobs) presignArtifact(ctx context.Context, tx Tx, p domain.Principal, job *domain.Job, name string, d *Download) error {
	a, err := tx.Jobs().FindArtifact(ctx, resultsJobID(job), name)
	if err != nil {
		return err
	}
	if d.URL, d.ExpiresAt, err = j.Objects.PresignGet(ctx, a.Key, j.PresignTTL, job.ID+"-"+name); err != nil {
		return err
	}
	e := audit(ctx, p, domain.AuditArtifactAccessed, "artifact", domain.JobArtifactURI(job.OrgID, job.ID, name))
	e.JobID = job.ID
	return tx.Audit().AppendAudit(ctx, e)
}

// Artifact presigns a GET of the object a mad:// URI names, if it belongs
// to the caller's org. Errors: ARTIFACT_NOT_FOUND (malformed, foreign or
// missing).
func (j *Jobs) Artifact(ctx context.Context, p domain.Principal, uri string) (Download, error) {
	ref, err := domain.ParseObjectURI(uri)
	if err != nil || ref.OrgID != p.OrgID {
		return Download{}, domain.Errorf(domain.CodeArtifactNotFound, "artifact not found")
	}
	var d Download
	err = j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		if ref.MoleculeID != "" {
			m, err := tx.Molecules().FindMoleculeByID(ctx, ref.MoleculeID)
			if err != nil || m.Format != ref.Format {
				return domain.Errorf(domain.CodeArtifactNotFound, "artifact not found")
			}
			if d.URL, d.ExpiresAt, err = j.Objects.PresignGet(ctx, m.Key(), j.PresignTTL, safeFileName(m.Name, string(m.Format))); err != nil {
				return err
			}
			e := audit(ctx, p, domain.AuditArtifactAccessed, "molecule", m.ID)
			e.Detail = map[string]any{"uri": m.URI()}
			return tx.Audit().AppendAudit(ctx, e)
		}
		job, err := tx.Jobs().FindJobByID(ctx, ref.JobID)
		if err != nil {
			return domain.Errorf(domain.CodeArtifactNotFound, "artifact not found")
		}
		return j.presignArtifact(ctx, tx, p, job, ref.Artifact, &d)
	})
	return d, err
}

// CancelJob cancels a job that has not finished. Members may cancel their
// own jobs; job.cancel_any widens that to the org. Errors: JOB_NOT_FOUND,
// FORBIDDEN, CONFLICT (already finished).
func (j *Jobs) CancelJob(ctx context.Context, p domain.Principal, id string) (*domain.Job, error) {
	var job *domain.Job
	err := j.Store.Tx(ctx, p.Scope(), func(tx Tx) error {
		var err error
		job, err = tx.Jobs().UpdateJob(ctx, id, func(x *domain.Job) error {
			if x.CreatedBy != p.SubjectID && !p.Can(domain.PermJobCancelAny) {
				return domain.Errorf(domain.CodeForbidden, "only the job's creator or an operator may cancel it")
			}
			return x.Cancel(now(j.Clock), p.SubjectID)
		})
		if err != nil {
			return err
		}
		e := audit(ctx, p, domain.AuditJobCancelled, "job", id)
		e.JobID = id
		return tx.Audit().AppendAudit(ctx, e)
	})
	return job, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
