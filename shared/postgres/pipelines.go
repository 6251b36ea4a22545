package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

type pipelineRepo struct{ t *txn }

var _ app.PipelineRepository = pipelineRepo{}

const pipelineColumns = `id, COALESCE(org_id::text, ''), name, engine, version, defaults, created_at`

func scanPipeline(row pgx.Row) (domain.Pipeline, error) {
	var p domain.Pipeline
	var defaults []byte
	if err := row.Scan(&p.ID, &p.OrgID, &p.Name, &p.Engine, &p.Version, &defaults, &p.CreatedAt); err != nil {
		return p, err
	}
	var d vinaParamsPatch
	if err := json.Unmarshal(defaults, &d); err != nil {
		return p, fmt.Errorf("decode pipeline defaults: %w", err)
	}
	p.Defaults = d.toDomain()
	return p, nil
}

// Built-in pipelines (org_id NULL) are visible to every org; the org's own
// pipelines only to it.

func (r pipelineRepo) FindPipelineByID(ctx context.Context, id string) (domain.Pipeline, error) {
	org, err := r.t.org()
	if err != nil {
		return domain.Pipeline{}, err
	}
	p, err := scanPipeline(r.t.tx.QueryRow(ctx, `SELECT `+pipelineColumns+` FROM pipelines
		WHERE (org_id IS NULL OR org_id = $1) AND id = $2`, org, id))
	if err != nil {
		return p, notFound(err, domain.CodePipelineNotFound, "pipeline")
	}
	return p, nil
}

func (r pipelineRepo) FindPipelines(ctx context.Context, pg app.Page) ([]domain.Pipeline, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT `+pipelineColumns+` FROM pipelines
		WHERE (org_id IS NULL OR org_id = $1) AND ($2::uuid IS NULL OR id < $2::uuid)
		ORDER BY id DESC LIMIT $3`, org, after(pg), limit(pg)+1)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Pipeline, error) { return scanPipeline(row) })
}

func (r pipelineRepo) CreatePipeline(ctx context.Context, p domain.Pipeline, createdBy string) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	defaults, err := json.Marshal(patchRow(p.Defaults))
	if err != nil {
		return fmt.Errorf("encode defaults: %w", err)
	}
	// An org pipeline shares the built-in engine's parameter schema.
	_, err = r.t.tx.Exec(ctx, `INSERT INTO pipelines (id, org_id, name, engine, version, params_schema, defaults, created_by, created_at)
		SELECT $1, $2, $3, $4, $5, b.params_schema, $6, $7, $8 FROM pipelines b WHERE b.id = $9`,
		p.ID, org, p.Name, p.Engine, p.Version, defaults, createdBy, p.CreatedAt, domain.BuiltinPipelineID)
	if err := mapError(err); err != nil {
		if domain.ErrorCode(err) == domain.CodeConflict {
			return domain.Errorf(domain.CodeConflict, "pipeline %s version %s already exists; published versions are immutable", p.Name, p.Version)
		}
		return fmt.Errorf("insert pipeline: %w", err)
	}
	return nil
}

func (r pipelineRepo) ParamsSchema(ctx context.Context, id string) ([]byte, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	var b []byte
	err = r.t.tx.QueryRow(ctx, `SELECT params_schema FROM pipelines WHERE (org_id IS NULL OR org_id = $1) AND id = $2`, org, id).Scan(&b)
	if err != nil {
		return nil, notFound(err, domain.CodePipelineNotFound, "pipeline")
	}
	return b, nil
}
