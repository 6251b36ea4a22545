package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

type orgRepo struct{ t *txn }

var _ app.OrgRepository = orgRepo{}

const orgColumns = `id, name, status, max_active_jobs, max_storage_bytes, created_at`

func scanOrg(row pgx.Row) (domain.Org, error) {
	var o domain.Org
	var status string
	err := row.Scan(&o.ID, &o.Name, &status, &o.Quotas.MaxActiveJobs, &o.Quotas.MaxStorageBytes, &o.CreatedAt)
	o.Status = domain.OrgStatus(status)
	return o, err
}

func (r orgRepo) CreateOrg(ctx context.Context, o domain.Org) error {
	_, err := r.t.tx.Exec(ctx, `INSERT INTO orgs (id, name, status, max_active_jobs, max_storage_bytes, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, o.ID, o.Name, string(o.Status), o.Quotas.MaxActiveJobs, o.Quotas.MaxStorageBytes, o.CreatedAt)
	if err := mapError(err); err != nil {
		if domain.ErrorCode(err) == domain.CodeConflict {
			return domain.Errorf(domain.CodeConflict, "an organization with this name already exists")
		}
		return fmt.Errorf("insert org: %w", err)
	}
	return nil
}

func (r orgRepo) FindOrgByID(ctx context.Context, id string) (domain.Org, error) {
	o, err := scanOrg(r.t.tx.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id = $1`, id))
	if err != nil {
		return o, notFound(err, domain.CodeOrgNotFound, "organization")
	}
	return o, nil
}

func (r orgRepo) LockOrg(ctx context.Context, id string) (domain.Org, error) {
	// NO KEY UPDATE: serializes quota checks without blocking inserts of
	// rows that reference the org.
	o, err := scanOrg(r.t.tx.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, id))
	if err != nil {
		return o, notFound(err, domain.CodeOrgNotFound, "organization")
	}
	return o, nil
}

func (r orgRepo) FindOrgs(ctx context.Context, p app.Page) ([]domain.Org, error) {
	rows, err := r.t.tx.Query(ctx, `SELECT `+orgColumns+` FROM orgs
		WHERE ($1::uuid IS NULL OR id < $1::uuid) ORDER BY id DESC LIMIT $2`, after(p), limit(p)+1)
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Org, error) { return scanOrg(row) })
}

func (r orgRepo) UpdateOrg(ctx context.Context, o domain.Org) error {
	tag, err := r.t.tx.Exec(ctx, `UPDATE orgs SET status = $2, max_active_jobs = $3, max_storage_bytes = $4, updated_at = now()
		WHERE id = $1`, o.ID, string(o.Status), o.Quotas.MaxActiveJobs, o.Quotas.MaxStorageBytes)
	if err != nil {
		return fmt.Errorf("update org: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.CodeOrgNotFound, "organization not found")
	}
	return nil
}
