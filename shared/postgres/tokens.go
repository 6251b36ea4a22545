package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

type serviceAccountRepo struct{ t *txn }

var _ app.ServiceAccountRepository = serviceAccountRepo{}

const saColumns = `id, org_id, name, client_id, secret_hash, roles, created_at, created_by`

func scanSA(row pgx.Row) (domain.ServiceAccount, error) {
	var sa domain.ServiceAccount
	var roles []string
	err := row.Scan(&sa.ID, &sa.OrgID, &sa.Name, &sa.ClientID, &sa.SecretHash, &roles, &sa.CreatedAt, &sa.CreatedBy)
	sa.Roles = toRoles(roles)
	return sa, err
}

func (r serviceAccountRepo) CreateServiceAccount(ctx context.Context, sa domain.ServiceAccount) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	_, err = r.t.tx.Exec(ctx, `INSERT INTO service_accounts (id, org_id, name, client_id, secret_hash, roles, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, sa.ID, org, sa.Name, sa.ClientID, sa.SecretHash, fromRoles(sa.Roles), sa.CreatedBy, sa.CreatedAt)
	if err := mapError(err); err != nil {
		return fmt.Errorf("insert service account: %w", err)
	}
	return nil
}

func (r serviceAccountRepo) FindServiceAccountByID(ctx context.Context, id string) (domain.ServiceAccount, error) {
	org, err := r.t.org()
	if err != nil {
		return domain.ServiceAccount{}, err
	}
	sa, err := scanSA(r.t.tx.QueryRow(ctx, `SELECT `+saColumns+` FROM service_accounts
		WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL`, org, id))
	if err != nil {
		return sa, notFound(err, domain.CodeServiceAccountNotFound, "service account")
	}
	return sa, nil
}

func (r serviceAccountRepo) FindServiceAccounts(ctx context.Context, p app.Page) ([]domain.ServiceAccount, error) {
	org, err := r.t.org()
	if err != nil {
		return nil, err
	}
	rows, err := r.t.tx.Query(ctx, `SELECT `+saColumns+` FROM service_accounts
		WHERE org_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR id < $2::uuid)
		ORDER BY id DESC LIMIT $3`, org, after(p), limit(p)+1)
	if err != nil {
		return nil, fmt.Errorf("list service accounts: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.ServiceAccount, error) { return scanSA(row) })
}

func (r serviceAccountRepo) DeleteServiceAccount(ctx context.Context, id string, at time.Time) error {
	org, err := r.t.org()
	if err != nil {
		return err
	}
	// Soft delete: the row stays for the audit trail; the directory
	// trigger drops its client id, so it can no longer log in.
	tag, err := r.t.tx.Exec(ctx, `UPDATE service_accounts SET deleted_at = $3
		WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL`, org, id, at)
	if err != nil {
		return fmt.Errorf("delete service account: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(domain.CodeServiceAccountNotFound, "service account not found")
	}
	return nil
}

type tokenRepo struct{ t *txn }

var _ app.TokenRepository = tokenRepo{}

func (r tokenRepo) CreateRefreshToken(ctx context.Context, t app.RefreshToken) error {
	_, err := r.t.tx.Exec(ctx, `INSERT INTO refresh_tokens (jti, org_id, subject_id, family_id, parent_jti, issued_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.JTI, r.t.nullableOrg(), t.SubjectID, t.FamilyID, nullable(t.ParentJTI), t.IssuedAt, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert refresh token: %w", err)
	}
	return nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r tokenRepo) FindRefreshTokenForUpdate(ctx context.Context, jti string) (app.RefreshToken, error) {
	var t app.RefreshToken
	var parent *string
	err := r.t.tx.QueryRow(ctx, `SELECT jti, subject_id, family_id, parent_jti, issued_at, expires_at, spent_at, revoked_at
		FROM refresh_tokens WHERE org_id IS NOT DISTINCT FROM $1 AND jti = $2 FOR UPDATE`, r.t.nullableOrg(), jti).
		Scan(&t.JTI, &t.SubjectID, &t.FamilyID, &parent, &t.IssuedAt, &t.ExpiresAt, &t.SpentAt, &t.RevokedAt)
	if err != nil {
		return t, notFound(err, domain.CodeUnauthorized, "refresh token")
	}
	if parent != nil {
		t.ParentJTI = *parent
	}
	return t, nil
}

func (r tokenRepo) MarkRefreshTokenSpent(ctx context.Context, jti string, at time.Time) error {
	_, err := r.t.tx.Exec(ctx, `UPDATE refresh_tokens SET spent_at = $3
		WHERE org_id IS NOT DISTINCT FROM $1 AND jti = $2`, r.t.nullableOrg(), jti, at)
	if err != nil {
		return fmt.Errorf("spend refresh token: %w", err)
	}
	return nil
}

func (r tokenRepo) RevokeFamily(ctx context.Context, familyID string, at time.Time) (int, error) {
	tag, err := r.t.tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $3
		WHERE org_id IS NOT DISTINCT FROM $1 AND family_id = $2 AND revoked_at IS NULL`, r.t.nullableOrg(), familyID, at)
	if err != nil {
		return 0, fmt.Errorf("revoke token family: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (r tokenRepo) RevokeSubjectTokens(ctx context.Context, subjectID string, at time.Time) (int, error) {
	tag, err := r.t.tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $3
		WHERE org_id IS NOT DISTINCT FROM $1 AND subject_id = $2 AND revoked_at IS NULL`, r.t.nullableOrg(), subjectID, at)
	if err != nil {
		return 0, fmt.Errorf("revoke subject tokens: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func (r tokenRepo) RevokeAccessToken(ctx context.Context, jti, subjectID string, expiresAt time.Time) error {
	_, err := r.t.tx.Exec(ctx, `INSERT INTO revoked_access_tokens (jti, org_id, subject_id, expires_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, jti) DO NOTHING`, jti, r.t.nullableOrg(), subjectID, expiresAt)
	if err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	return nil
}

// tokenStateSQL reads everything the authorizer checks in one indexed
// statement: the subject (user or service account) in its home scope, the
// org the token acts in, and the revocation of its jti.
const tokenStateSQL = `
SELECT u.id IS NOT NULL OR sa.id IS NOT NULL,
       CASE WHEN u.id IS NOT NULL THEN u.enabled WHEN sa.id IS NOT NULL THEN sa.deleted_at IS NULL ELSE false END,
       COALESCE(u.roles, sa.roles, '{}'::text[]),
       COALESCE(u.tokens_not_before, 'epoch'::timestamptz),
       o.id IS NOT NULL,
       COALESCE(o.status, ''),
       EXISTS (SELECT 1 FROM revoked_access_tokens r
               WHERE r.jti = $4::uuid AND r.org_id IS NOT DISTINCT FROM $3::uuid)
FROM (VALUES (1)) AS one
LEFT JOIN users u ON $1::text = 'user' AND u.id = $2::uuid AND u.org_id IS NOT DISTINCT FROM $3::uuid
LEFT JOIN service_accounts sa ON $1::text = 'service_account' AND sa.id = $2::uuid AND sa.org_id = $3::uuid
LEFT JOIN orgs o ON o.id = $5::uuid`

func (r tokenRepo) TokenState(ctx context.Context, subjectType domain.SubjectType, subjectID, orgID, jti string) (app.TokenState, error) {
	var s app.TokenState
	var roles []string
	var status string
	err := r.t.tx.QueryRow(ctx, tokenStateSQL, string(subjectType), subjectID, r.t.nullableOrg(), jti, nullable(orgID)).
		Scan(&s.SubjectFound, &s.SubjectEnabled, &roles, &s.TokensNotBefore, &s.OrgFound, &status, &s.Revoked)
	if err != nil {
		return s, fmt.Errorf("read token state: %w", err)
	}
	s.SubjectRoles = toRoles(roles)
	s.OrgStatus = domain.OrgStatus(status)
	return s, nil
}

func (r tokenRepo) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	a, err := r.t.tx.Exec(ctx, `DELETE FROM revoked_access_tokens WHERE org_id IS NOT DISTINCT FROM $1 AND expires_at < $2`, r.t.nullableOrg(), before)
	if err != nil {
		return 0, fmt.Errorf("delete expired revocations: %w", err)
	}
	b, err := r.t.tx.Exec(ctx, `DELETE FROM refresh_tokens WHERE org_id IS NOT DISTINCT FROM $1 AND expires_at < $2`, r.t.nullableOrg(), before)
	if err != nil {
		return 0, fmt.Errorf("delete expired refresh tokens: %w", err)
	}
	return int(a.RowsAffected() + b.RowsAffected()), nil
}

type throttleRepo struct{ t *txn }

var _ app.LoginThrottle = throttleRepo{}

func (r throttleRepo) LockLoginKey(ctx context.Context, emailKey string) error {
	_, err := r.t.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('login:' || $1, 0))`, emailKey)
	return err
}

func (r throttleRepo) RecordLoginFailure(ctx context.Context, emailKey string, at time.Time) error {
	_, err := r.t.tx.Exec(ctx, `INSERT INTO login_failures (email_key, attempted_at) VALUES ($1, $2)`, emailKey, at)
	if err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return nil
}

func (r throttleRepo) LoginFailuresSince(ctx context.Context, emailKey string, since time.Time) (int, time.Time, error) {
	var n int
	var oldest *time.Time
	err := r.t.tx.QueryRow(ctx, `SELECT count(*), min(attempted_at) FROM login_failures
		WHERE email_key = $1 AND attempted_at > $2`, emailKey, since).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count login failures: %w", err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, *oldest, nil
}

func (r throttleRepo) ClearLoginFailures(ctx context.Context, emailKey string) error {
	_, err := r.t.tx.Exec(ctx, `DELETE FROM login_failures WHERE email_key = $1`, emailKey)
	if err != nil {
		return fmt.Errorf("clear login failures: %w", err)
	}
	return nil
}

func (r throttleRepo) DeleteLoginFailuresBefore(ctx context.Context, t time.Time) (int, error) {
	tag, err := r.t.tx.Exec(ctx, `DELETE FROM login_failures WHERE attempted_at < $1`, t)
	if err != nil {
		return 0, fmt.Errorf("delete old login failures: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
