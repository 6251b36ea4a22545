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

func nonZeroTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type moleculeRepo struct{ t *txn }

var _ app.MoleculeRepository = moleculeRepo{}

const moleculeColumns = `id, org_id, name, format, size_bytes, sha256, created_by, created_at`

func scanMolecule(row pgx.Row) (domain.Molecule, error) {
	var m domain.Molecule
	var f string
	err := row.Scan(&m.ID, &m.OrgID, &m.Name, &f, &m.SizeBytes, &m.SHA256, &m.CreatedBy, &m.CreatedAt)
	m.Format = domain.MoleculeFormat(f)
	return m, err
}

func (r moleculeRepo) CreateMolecule(ctx context.Context, m domain.Molecule) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	_, err = r.t.tx.Exec(ctx, `INSERT INTO molecules (id, org_id, name, format, size_bytes, sha256, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, m.ID, org, m.Name, string(m.Format), m.SizeBytes, m.SHA256, m.CreatedBy, m.CreatedAt)
	if err := mapError(err); err != nil {
		return fmt.Errorf("insert molecule: %w", err)
	}
	return nil
}

func (r moleculeRepo) FindMoleculeByID(ctx context.Context, id string) (domain.Molecule, error) {
	org, err := r.t.org()
	if err != nil {
		return domain.Molecule{}, err
	}
	m, err := scanMolecule(r.t.tx.QueryRow(ctx, `SELECT `+moleculeColumns+` FROM molecules WHERE org_id = $1 AND id = $2`, org, id))
	if err != nil {
		return m, notFound(err, domain.CodeMoleculeNotFound, "molecule")
	}
	return m, nil
}

func (r moleculeRepo) FindMoleculesByID(ctx context.Context, ids ...string) (map[string]domain.Molecule, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT `+moleculeColumns+` FROM molecules WHERE org_id = $1 AND id = ANY($2::uuid[])`, org, ids)
	if err != nil {
		return nil, fmt.Errorf("find molecules: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Molecule, error) { return scanMolecule(row) })
	if err != nil {
		return nil, fmt.Errorf("find molecules: %w", err)
	}
	byID := make(map[string]domain.Molecule, len(found))
	for _, m := range found {
		byID[m.ID] = m
	}
	return byID, nil
}

func (r moleculeRepo) FindMolecules(ctx context.Context, p app.Page) ([]domain.Molecule, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT `+moleculeColumns+` FROM molecules
		WHERE org_id = $1 AND ($2::uuid IS NULL OR id < $2::uuid) ORDER BY id DESC LIMIT $3`, org, after(p), limit(p)+1)
	if err != nil {
		return nil, fmt.Errorf("list molecules: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Molecule, error) { return scanMolecule(row) })
}

func (r moleculeRepo) DeleteMolecule(ctx context.Context, id string) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	tag, err := r.t.tx.Exec(ctx, `DELETE FROM molecules WHERE org_id = $1 AND id = $2`, org, id)
	if err != nil {
		return fmt.Errorf("delete molecule: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.CodeMoleculeNotFound, "molecule not found")
	}
	return nil
}

func (r moleculeRepo) StorageUsed(ctx context.Context) (int64, error) {
	org, err := r.t.org()
	if err != nil {
		return 0, err
	}
	var n int64
	err = r.t.tx.QueryRow(ctx, `SELECT
		COALESCE((SELECT sum(size_bytes) FROM molecules WHERE org_id = $1), 0) +
		COALESCE((SELECT sum(size_bytes) FROM artifacts WHERE org_id = $1), 0) +
		COALESCE((SELECT sum(size_bytes) FROM uploads WHERE org_id = $1 AND status = 'pending' AND expires_at > now()), 0)`,
		org).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sum storage: %w", err)
	}
	return n, nil
}

type uploadRepo struct{ t *txn }

var _ app.UploadRepository = uploadRepo{}

const uploadColumns = `id, org_id, name, format, size_bytes, status, run, COALESCE(molecule_id::text, ''),
	COALESCE(job_id::text, ''), COALESCE(error, ''), created_by, created_at, expires_at`

// runRow is the stored form of an upload's run request.
type runRow struct {
	PipelineID string          `json:"pipeline_id"`
	Receptor   string          `json:"receptor"`
	Params     vinaParamsPatch `json:"params"`
}

func scanUpload(row pgx.Row) (domain.Upload, error) {
	var u domain.Upload
	var f, st string
	var run []byte
	err := row.Scan(&u.ID, &u.OrgID, &u.Name, &f, &u.SizeBytes, &st, &run, &u.MoleculeID, &u.JobID, &u.Error,
		&u.CreatedBy, &u.CreatedAt, &u.ExpiresAt)
	if err != nil {
		return u, err
	}
	u.Format, u.Status = domain.MoleculeFormat(f), domain.UploadStatus(st)
	if len(run) > 0 && string(run) != "null" {
		var rr runRow
		if err := json.Unmarshal(run, &rr); err != nil {
			return u, fmt.Errorf("decode upload run: %w", err)
		}
		u.Run = &domain.RunSpec{PipelineID: rr.PipelineID, Receptor: rr.Receptor, Params: rr.Params.toDomain()}
	}
	return u, nil
}

func (r uploadRepo) CreateUpload(ctx context.Context, u domain.Upload) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	var run []byte
	if u.Run != nil {
		run, err = json.Marshal(runRow{PipelineID: u.Run.PipelineID, Receptor: u.Run.Receptor, Params: patchRow(u.Run.Params)})
		if err != nil {
			return fmt.Errorf("encode upload run: %w", err)
		}
	}
	_, err = r.t.tx.Exec(ctx, `INSERT INTO uploads (id, org_id, name, format, size_bytes, status, run, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, u.ID, org, u.Name, string(u.Format), u.SizeBytes,
		string(u.Status), run, u.CreatedBy, u.CreatedAt, u.ExpiresAt)
	if err := mapError(err); err != nil {
		return fmt.Errorf("insert upload: %w", err)
	}
	return nil
}

func (r uploadRepo) find(ctx context.Context, id string, lock bool) (domain.Upload, error) {
	org, err := r.t.org()
	if err != nil {
		return domain.Upload{}, err
	}
	q := `SELECT ` + uploadColumns + ` FROM uploads WHERE org_id = $1 AND id = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	u, err := scanUpload(r.t.tx.QueryRow(ctx, q, org, id))
	if err != nil {
		return u, notFound(err, domain.CodeUploadNotFound, "upload")
	}
	return u, nil
}

func (r uploadRepo) FindUploadByID(ctx context.Context, id string) (domain.Upload, error) {
	return r.find(ctx, id, false)
}

func (r uploadRepo) FindUploadByIDForUpdate(ctx context.Context, id string) (domain.Upload, error) {
	return r.find(ctx, id, true)
}

func (r uploadRepo) UpdateUpload(ctx context.Context, u domain.Upload) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	_, err = r.t.tx.Exec(ctx, `UPDATE uploads SET status = $3, molecule_id = $4, job_id = $5, error = $6, updated_at = now()
		WHERE org_id = $1 AND id = $2`, org, u.ID, string(u.Status), nullable(u.MoleculeID), nullable(u.JobID), nullable(u.Error))
	if err != nil {
		return fmt.Errorf("update upload: %w", err)
	}
	return nil
}
