package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

type jobRepo struct{ t *txn }

var _ app.JobRepository = jobRepo{}

const jobColumns = `id, org_id, pipeline_id, pipeline_version, receptor_id, ligand_id, params, input_signature,
	status, attempts, created_by, created_at, updated_at, started_at, finished_at, COALESCE(error, ''),
	cache_hit, COALESCE(canonical_job_id::text, '')`

func scanJob(row pgx.Row) (*domain.Job, error) {
	j := &domain.Job{}
	var params []byte
	var status string
	err := row.Scan(&j.ID, &j.OrgID, &j.PipelineID, &j.PipelineVersion, &j.Inputs.Receptor, &j.Inputs.Ligand,
		&params, &j.InputSignature, &status, &j.Attempts, &j.CreatedBy, &j.CreatedAt, &j.UpdatedAt,
		&j.StartedAt, &j.FinishedAt, &j.Error, &j.Cache.Hit, &j.Cache.CanonicalJobID)
	if err != nil {
		return nil, err
	}
	j.Status = domain.JobStatus(status)
	var p vinaParamsPatch
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, fmt.Errorf("decode job params: %w", err)
	}
	j.Params = p.resolved()
	return j, nil
}

func (r jobRepo) CreateJob(ctx context.Context, j *domain.Job) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	if j.OrgID != org {
		return fmt.Errorf("postgres: job of org %q created in scope %q", j.OrgID, org)
	}
	params, err := json.Marshal(paramsRow(j.Params))
	if err != nil {
		return fmt.Errorf("encode job params: %w", err)
	}
	r.t.later("insert job", `INSERT INTO jobs (id, org_id, pipeline_id, pipeline_version, receptor_id, ligand_id, params,
		input_signature, status, attempts, created_by, created_at, updated_at, started_at, finished_at, error,
		cache_hit, canonical_job_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		j.ID, org, j.PipelineID, j.PipelineVersion, j.Inputs.Receptor, j.Inputs.Ligand, params, j.InputSignature,
		string(j.Status), j.Attempts, j.CreatedBy, j.CreatedAt, j.UpdatedAt, j.StartedAt, j.FinishedAt,
		nullable(j.Error), j.Cache.Hit, nullable(j.Cache.CanonicalJobID))
	if err := r.laterEvents(org, j.ID, j.TakeEvents()); err != nil {
		return err
	}
	if !j.Status.Terminal() {
		r.t.later("insert job outbox", `INSERT INTO job_outbox (job_id, org_id, created_at) VALUES ($1, $2, $3)`, j.ID, org, j.CreatedAt)
	}
	return nil
}

// laterEvents appends events after the job's last one: the sequence
// number is computed by the statement, so reading it costs no round trip.
// The job's row is new or locked FOR UPDATE, so no other writer races it.
func (r jobRepo) laterEvents(org, jobID string, events []domain.JobEvent) error {
	for _, ev := range events {
		var detail []byte
		if ev.Detail != nil {
			b, err := json.Marshal(ev.Detail)
			if err != nil {
				return fmt.Errorf("encode job event: %w", err)
			}
			detail = b
		}
		r.t.later("insert job event "+string(ev.Event), `INSERT INTO job_events (org_id, job_id, seq, ts, event, detail)
			SELECT $1::uuid, $2::uuid, COALESCE(max(seq), 0) + 1, $3::timestamptz, $4::text, $5::jsonb
			FROM job_events WHERE org_id = $1 AND job_id = $2`,
			org, jobID, ev.TS, string(ev.Event), detail)
	}
	return nil
}

func (r jobRepo) FindJobByID(ctx context.Context, id string) (*domain.Job, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	j, err := scanJob(r.t.tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE org_id = $1 AND id = $2`, org, id))
	if err != nil {
		return nil, notFound(err, domain.CodeJobNotFound, "job")
	}
	return j, nil
}

func (r jobRepo) FindJobs(ctx context.Context, f app.JobFilter, p app.Page) ([]*domain.Job, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE org_id = $1 AND ($2::text = '' OR status = $2) AND ($3::uuid IS NULL OR pipeline_id = $3::uuid)
		  AND ($4::uuid IS NULL OR id < $4::uuid)
		ORDER BY id DESC LIMIT $5`, org, string(f.Status), nullable(f.PipelineID), after(p), limit(p)+1)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*domain.Job, error) { return scanJob(row) })
}

// UpdateJob is the one way a job's status changes: lock the row, let the
// domain apply the transition, write the row and the events it produced,
// all in the caller's transaction.
func (r jobRepo) UpdateJob(ctx context.Context, id string, fn func(*domain.Job) error) (*domain.Job, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	j, err := scanJob(r.t.tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE org_id = $1 AND id = $2 FOR UPDATE`, org, id))
	if err != nil {
		return nil, notFound(err, domain.CodeJobNotFound, "job")
	}
	if err := fn(j); err != nil {
		return nil, err
	}
	r.t.later("update job", `UPDATE jobs SET status = $3, attempts = $4, updated_at = $5, started_at = $6,
		finished_at = $7, error = $8 WHERE org_id = $1 AND id = $2`,
		org, id, string(j.Status), j.Attempts, j.UpdatedAt, j.StartedAt, j.FinishedAt, nullable(j.Error))
	if err := r.laterEvents(org, id, j.TakeEvents()); err != nil {
		return nil, err
	}
	// A claimed or finished job needs no (re)send.
	if j.Status == domain.JobRunning || j.Status.Terminal() {
		r.t.later("clear job outbox", `DELETE FROM job_outbox WHERE org_id = $1 AND job_id = $2`, org, id)
	}
	return j, nil
}

func (r jobRepo) FindJobEvents(ctx context.Context, id string) ([]domain.JobEvent, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT seq, ts, event, detail FROM job_events
		WHERE org_id = $1 AND job_id = $2 ORDER BY seq`, org, id)
	if err != nil {
		return nil, fmt.Errorf("list job events: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.JobEvent, error) {
		var ev domain.JobEvent
		var name string
		var detail []byte
		if err := row.Scan(&ev.Seq, &ev.TS, &name, &detail); err != nil {
			return ev, err
		}
		ev.Event = domain.JobEventType(name)
		if len(detail) > 0 {
			if err := json.Unmarshal(detail, &ev.Detail); err != nil {
				return ev, fmt.Errorf("decode job event detail: %w", err)
			}
		}
		return ev, nil
	})
}

func (r jobRepo) CountActiveJobs(ctx context.Context) (int, error) {
	org, err := r.t.org()
	if err != nil {
		return 0, err
	}
	var n int
	err = r.t.tx.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE org_id = $1 AND status IN ('PENDING', 'QUEUED', 'RUNNING')`, org).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count active jobs: %w", err)
	}
	return n, nil
}

type scoreRow struct {
	Pose     int     `json:"pose"`
	Affinity float64 `json:"affinity"`
	RMSDLB   float64 `json:"rmsd_lb"`
	RMSDUB   float64 `json:"rmsd_ub"`
}

type taskRow struct {
	TaskName      string         `json:"task_name"`
	ServiceName   string         `json:"service_name"`
	EngineVersion string         `json:"engine_version"`
	SchemaVersion string         `json:"schema_version"`
	ResultData    map[string]any `json:"result_data"`
}

func (r jobRepo) SaveResults(ctx context.Context, res app.JobResults) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	scores := make([]scoreRow, len(res.Scores))
	for i, s := range res.Scores {
		scores[i] = scoreRow(s)
	}
	tasks := make([]taskRow, len(res.Tasks))
	for i, t := range res.Tasks {
		tasks[i] = taskRow(t)
	}
	sb, err := json.Marshal(scores)
	if err != nil {
		return fmt.Errorf("encode scores: %w", err)
	}
	tb, err := json.Marshal(tasks)
	if err != nil {
		return fmt.Errorf("encode task results: %w", err)
	}
	tag, err := r.t.tx.Exec(ctx, `INSERT INTO job_results (org_id, job_id, engine_version, scores, task_results)
		SELECT $1, id, $3, $4, $5 FROM jobs WHERE org_id = $1 AND id = $2`, org, res.JobID, res.EngineVersion, sb, tb)
	if err == nil && tag.RowsAffected() == 0 {
		return domain.Errorf(domain.CodeJobNotFound, "job not found")
	}
	if err := mapError(err); err != nil {
		if domain.ErrorCode(err) == domain.CodeConflict {
			return domain.Errorf(domain.CodeConflict, "job %s already has results", res.JobID)
		}
		return fmt.Errorf("insert job results: %w", err)
	}
	for _, a := range res.Artifacts {
		if _, err := r.t.tx.Exec(ctx, `INSERT INTO artifacts (org_id, job_id, name, object_key, size_bytes, sha256, content_type)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, org, res.JobID, a.Name, a.Key, a.SizeBytes, a.SHA256, a.ContentType); err != nil {
			return fmt.Errorf("insert artifact %s: %w", a.Name, mapError(err))
		}
	}
	return nil
}

func (r jobRepo) FindResults(ctx context.Context, jobID string) (app.JobResults, error) {
	org, err := r.t.org()
	if err != nil {
		return app.JobResults{}, err
	}
	res := app.JobResults{JobID: jobID}
	var sb, tb []byte
	err = r.t.tx.QueryRow(ctx, `SELECT engine_version, scores, task_results FROM job_results WHERE org_id = $1 AND job_id = $2`,
		org, jobID).Scan(&res.EngineVersion, &sb, &tb)
	if err != nil {
		return res, notFound(err, domain.CodeJobNotFound, "job results")
	}
	var scores []scoreRow
	var tasks []taskRow
	if err := json.Unmarshal(sb, &scores); err != nil {
		return res, fmt.Errorf("decode scores: %w", err)
	}
	if err := json.Unmarshal(tb, &tasks); err != nil {
		return res, fmt.Errorf("decode task results: %w", err)
	}
	for _, s := range scores {
		res.Scores = append(res.Scores, app.Score(s))
	}
	for _, t := range tasks {
		res.Tasks = append(res.Tasks, app.TaskResult(t))
	}
	rows, err := r.t.tx.Query(ctx, `SELECT name, object_key, size_bytes, sha256, content_type FROM artifacts
		WHERE org_id = $1 AND job_id = $2 ORDER BY name`, org, jobID)
	if err != nil {
		return res, fmt.Errorf("list artifacts: %w", err)
	}
	res.Artifacts, err = pgx.CollectRows(rows, scanArtifact)
	return res, err
}

func scanArtifact(row pgx.CollectableRow) (app.Artifact, error) {
	var a app.Artifact
	err := row.Scan(&a.Name, &a.Key, &a.SizeBytes, &a.SHA256, &a.ContentType)
	return a, err
}

func (r jobRepo) FindArtifact(ctx context.Context, jobID, name string) (app.Artifact, error) {
	org, err := r.t.org()
	if err != nil {
		return app.Artifact{}, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT name, object_key, size_bytes, sha256, content_type FROM artifacts
		WHERE org_id = $1 AND job_id = $2 AND name = $3`, org, jobID, name)
	if err != nil {
		return app.Artifact{}, fmt.Errorf("find artifact: %w", err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanArtifact)
	if err != nil {
		return a, notFound(err, domain.CodeArtifactNotFound, "artifact")
	}
	return a, nil
}

func (r jobRepo) FindCachedJob(ctx context.Context, signature string) (string, bool, error) {
	org, err := r.t.org()
	if err != nil {
		return "", false, err
	}
	var id string
	err = r.t.tx.QueryRow(ctx, `SELECT job_id::text FROM result_cache WHERE org_id = $1 AND input_signature = $2`, org, signature).Scan(&id)
	if err == pgx.ErrNoRows {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read result cache: %w", err)
	}
	return id, true, nil
}

func (r jobRepo) PutCache(ctx context.Context, signature, jobID string) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	// The first completed job of a signature stays canonical.
	_, err = r.t.tx.Exec(ctx, `INSERT INTO result_cache (org_id, input_signature, job_id)
		SELECT $1, $2, id FROM jobs WHERE org_id = $1 AND id = $3
		ON CONFLICT (org_id, input_signature) DO NOTHING`, org, signature, jobID)
	if err != nil {
		return fmt.Errorf("fill result cache: %w", err)
	}
	return nil
}

func (r jobRepo) FindIdempotencyKey(ctx context.Context, subjectID, key string) (app.IdempotencyRecord, bool, error) {
	org, err := r.t.org()
	if err != nil {
		return app.IdempotencyRecord{}, false, err
	}
	rec := app.IdempotencyRecord{Key: key}
	err = r.t.tx.QueryRow(ctx, `SELECT request_hash, job_id::text, response_status, expires_at FROM idempotency_keys
		WHERE org_id = $1 AND subject_id = $2 AND key = $3 AND expires_at > now()`, org, subjectID, key).
		Scan(&rec.RequestHash, &rec.JobID, &rec.ResponseStatus, &rec.ExpiresAt)
	if err == pgx.ErrNoRows {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("read idempotency key: %w", err)
	}
	return rec, true, nil
}

func (r jobRepo) SaveIdempotencyKey(ctx context.Context, subjectID string, rec app.IdempotencyRecord) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	// An expired record of the same key is replaced. The key is locked
	// (LockIdempotencyKey) and nothing reads the record back in this
	// transaction: it goes with the COMMIT.
	r.t.later("save idempotency key", `INSERT INTO idempotency_keys (org_id, subject_id, key, request_hash, job_id, response_status, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (org_id, subject_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, job_id = EXCLUDED.job_id,
			response_status = EXCLUDED.response_status, expires_at = EXCLUDED.expires_at, created_at = now()
		WHERE idempotency_keys.expires_at <= now()`, org, subjectID, rec.Key, rec.RequestHash, rec.JobID, rec.ResponseStatus, rec.ExpiresAt)
	return nil
}

func (r jobRepo) MarkOutboxSent(ctx context.Context, jobID string, at time.Time) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	if _, err := r.t.tx.Exec(ctx, `UPDATE job_outbox SET sent_at = $3, attempts = attempts + 1 WHERE org_id = $1 AND job_id = $2`, org, jobID, at); err != nil {
		return fmt.Errorf("mark outbox sent: %w", err)
	}
	return nil
}

func (r jobRepo) FindDueOutbox(ctx context.Context, unsentBefore, sentBefore time.Time, n int) ([]app.OutboxEntry, error) {
	rows, err := r.t.tx.Query(ctx, `(SELECT job_id::text, org_id::text, created_at, sent_at, attempts FROM job_outbox
		  WHERE sent_at IS NULL AND created_at < $1 ORDER BY created_at LIMIT $3)
		UNION ALL
		(SELECT job_id::text, org_id::text, created_at, sent_at, attempts FROM job_outbox
		  WHERE sent_at < $2 ORDER BY sent_at LIMIT $3)`, unsentBefore, sentBefore, n)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.OutboxEntry, error) {
		var e app.OutboxEntry
		err := row.Scan(&e.JobID, &e.OrgID, &e.CreatedAt, &e.SentAt, &e.Attempts)
		return e, err
	})
}

func (r jobRepo) LockIdempotencyKey(ctx context.Context, subjectID, key string) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	if _, err := r.t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2 || '/' || $3, 0))`, org, subjectID, key); err != nil {
		return fmt.Errorf("lock idempotency key: %w", err)
	}
	return nil
}

func (r jobRepo) DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int, error) {
	org, err := r.t.org()
	if err != nil {
		return 0, err
	}
	tag, err := r.t.tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE org_id = $1 AND expires_at < $2`, org, before)
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
