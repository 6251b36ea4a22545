package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

type auditRepo struct{ t *txn }

var _ app.AuditRepository = auditRepo{}

// AppendAudit writes one entry in the transaction's scope: the entry's org
// must be the scope's (RLS WITH CHECK would refuse anything else anyway).
func (r auditRepo) AppendAudit(ctx context.Context, e domain.AuditEvent) error {
	if e.OrgID != r.t.scope.OrgID {
		return fmt.Errorf("postgres: audit entry of org %q written in scope %q", e.OrgID, r.t.scope.OrgID)
	}
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encode audit detail: %w", err)
	}
	actorType := string(e.ActorType)
	if actorType == "" {
		actorType = "anonymous"
	}
	// Nothing reads an entry back in its transaction: it goes with the next
	// statement or the COMMIT, and a failure still fails the transaction.
	r.t.later("append audit "+string(e.Action), `INSERT INTO audit_log (id, ts, org_id, actor_id, actor_type, action, target_type,
		target_id, job_id, outcome, request_id, detail)
		VALUES ($1, COALESCE($2, now()), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		e.ID, nonZeroTime(e.TS), r.t.nullableOrg(), e.ActorID, actorType, string(e.Action), e.TargetType,
		e.TargetID, nullable(e.JobID), string(e.Outcome), e.RequestID, b)
	return nil
}

func (r auditRepo) FindAudit(ctx context.Context, f app.AuditFilter, p app.Page) ([]domain.AuditEvent, error) {
	rows, err := r.t.tx.Query(ctx, `SELECT id, ts, COALESCE(org_id::text, ''), actor_id, actor_type, action,
		target_type, target_id, COALESCE(job_id::text, ''), outcome, request_id, detail
		FROM audit_log
		WHERE org_id IS NOT DISTINCT FROM $1
		  AND ($2::text = '' OR action = $2)
		  AND ($3::timestamptz IS NULL OR ts >= $3)
		  AND ($4::timestamptz IS NULL OR ts < $4)
		  AND ($5::uuid IS NULL OR id < $5::uuid)
		ORDER BY id DESC LIMIT $6`, r.t.nullableOrg(), f.Action, f.Since, f.Until, after(p), limit(p)+1)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.AuditEvent, error) {
		var e domain.AuditEvent
		var actorType, action, outcome string
		var detail []byte
		err := row.Scan(&e.ID, &e.TS, &e.OrgID, &e.ActorID, &actorType, &action, &e.TargetType, &e.TargetID,
			&e.JobID, &outcome, &e.RequestID, &detail)
		if err != nil {
			return e, err
		}
		e.ActorType, e.Action, e.Outcome = domain.SubjectType(actorType), domain.AuditAction(action), domain.Outcome(outcome)
		if len(detail) > 0 {
			if err := json.Unmarshal(detail, &e.Detail); err != nil {
				return e, fmt.Errorf("decode audit detail: %w", err)
			}
		}
		return e, nil
	})
}
