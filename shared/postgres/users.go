package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

type userRepo struct{ t *txn }

var _ app.UserRepository = userRepo{}

const userColumns = `id, COALESCE(org_id::text, ''), email, password_hash, roles, enabled, created_at, tokens_not_before`

func scanUser(row pgx.Row) (domain.User, error) {
	var u domain.User
	var roles []string
	err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.PasswordHash, &roles, &u.Enabled, &u.CreatedAt, &u.TokensNotBefore)
	u.Roles = toRoles(roles)
	return u, err
}

func toRoles(ss []string) []domain.Role {
	out := make([]domain.Role, len(ss))
	for i, s := range ss {
		out[i] = domain.Role(s)
	}
	return out
}

func fromRoles(rs []domain.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// Users of the scope: "org_id IS NOT DISTINCT FROM $1" selects the org's
// users, or root users in the global scope, exactly like the RLS policy.

func (r userRepo) CreateUser(ctx context.Context, u domain.User) error {
	if u.OrgID != r.t.scope.OrgID {
		return fmt.Errorf("postgres: user of org %q created in scope %q", u.OrgID, r.t.scope.OrgID)
	}
	_, err := r.t.tx.Exec(ctx, `INSERT INTO users (id, org_id, email, password_hash, roles, enabled, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, r.t.nullableOrg(), u.Email, u.PasswordHash, fromRoles(u.Roles), u.Enabled, u.CreatedAt)
	if err := mapError(err); err != nil {
		if domain.ErrorCode(err) == domain.CodeConflict {
			return domain.Errorf(domain.CodeConflict, "a user with this email already exists")
		}
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

func (r userRepo) find(ctx context.Context, where string, arg any, lock bool) (domain.User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE org_id IS NOT DISTINCT FROM $1 AND ` + where
	if lock {
		q += ` FOR UPDATE`
	}
	u, err := scanUser(r.t.tx.QueryRow(ctx, q, r.t.nullableOrg(), arg))
	if err != nil {
		return u, notFound(err, domain.CodeUserNotFound, "user")
	}
	return u, nil
}

func (r userRepo) FindUserByID(ctx context.Context, id string) (domain.User, error) {
	return r.find(ctx, `id = $2`, id, false)
}

func (r userRepo) FindUserByIDForUpdate(ctx context.Context, id string) (domain.User, error) {
	return r.find(ctx, `id = $2`, id, true)
}

func (r userRepo) FindUserByEmail(ctx context.Context, email string) (domain.User, error) {
	return r.find(ctx, `email = $2`, email, false)
}

func (r userRepo) FindUsers(ctx context.Context, p app.Page) ([]domain.User, error) {
	rows, err := r.t.tx.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE org_id IS NOT DISTINCT FROM $1 AND ($2::uuid IS NULL OR id < $2::uuid)
		ORDER BY id DESC LIMIT $3`, r.t.nullableOrg(), after(p), limit(p)+1)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.User, error) { return scanUser(row) })
}

func (r userRepo) UpdateUser(ctx context.Context, u domain.User) error {
	tag, err := r.t.tx.Exec(ctx, `UPDATE users SET roles = $3, enabled = $4, password_hash = $5,
		tokens_not_before = $6, updated_at = now()
		WHERE org_id IS NOT DISTINCT FROM $1 AND id = $2`,
		r.t.nullableOrg(), u.ID, fromRoles(u.Roles), u.Enabled, u.PasswordHash, u.TokensNotBefore)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.CodeUserNotFound, "user not found")
	}
	return nil
}

func (r userRepo) LockEnabledAdmins(ctx context.Context) ([]string, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT id::text FROM users
		WHERE org_id = $1 AND enabled AND 'admin' = ANY (roles) ORDER BY id FOR UPDATE`, org)
	if err != nil {
		return nil, fmt.Errorf("lock admins: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

type directoryRepo struct{ t *txn }

var _ app.DirectoryRepository = directoryRepo{}

func (r directoryRepo) FindLoginsByEmail(ctx context.Context, email string) ([]app.Login, error) {
	rows, err := r.t.tx.Query(ctx, `SELECT COALESCE(org_id::text, ''), subject_id::text
		FROM credential_directory WHERE kind = 'email' AND login = $1 ORDER BY org_id NULLS FIRST LIMIT 50`, email)
	if err != nil {
		return nil, fmt.Errorf("look up email: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.Login, error) {
		var l app.Login
		err := row.Scan(&l.OrgID, &l.SubjectID)
		return l, err
	})
}

func (r directoryRepo) FindLoginByClientID(ctx context.Context, clientID string) (app.Login, bool, error) {
	var l app.Login
	err := r.t.tx.QueryRow(ctx, `SELECT COALESCE(org_id::text, ''), subject_id::text
		FROM credential_directory WHERE kind = 'client_id' AND login = $1`, clientID).Scan(&l.OrgID, &l.SubjectID)
	if err == pgx.ErrNoRows {
		return l, false, nil
	}
	if err != nil {
		return l, false, fmt.Errorf("look up client id: %w", err)
	}
	return l, true, nil
}
