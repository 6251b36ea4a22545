package domain

import "time"

// AuditAction names a security-relevant event.
type AuditAction string

// Audit actions of the contract.
const (
	AuditLogin                 AuditAction = "auth.login"
	AuditLoginFailed           AuditAction = "auth.login_failed"
	AuditRefresh               AuditAction = "auth.refresh"
	AuditRefreshReuseDetected  AuditAction = "auth.refresh_reuse_detected"
	AuditLogout                AuditAction = "auth.logout"
	AuditOrgCreated            AuditAction = "org.created"
	AuditOrgUpdated            AuditAction = "org.updated"
	AuditUserCreated           AuditAction = "user.created"
	AuditUserUpdated           AuditAction = "user.updated"
	AuditUserRolesChanged      AuditAction = "user.roles_changed"
	AuditUserDisabled          AuditAction = "user.disabled"
	AuditServiceAccountCreated AuditAction = "service_account.created"
	AuditServiceAccountDeleted AuditAction = "service_account.deleted"
	AuditMoleculeCreated       AuditAction = "molecule.created"
	AuditMoleculeDeleted       AuditAction = "molecule.deleted"
	AuditJobCreated            AuditAction = "job.created"
	AuditJobStarted            AuditAction = "job.started"
	AuditJobCompleted          AuditAction = "job.completed"
	AuditJobFailed             AuditAction = "job.failed"
	AuditJobCancelled          AuditAction = "job.cancelled"
	AuditArtifactAccessed      AuditAction = "artifact.accessed"
	AuditKeyRotated            AuditAction = "auth.key_rotated"
	AuditPipelineCreated       AuditAction = "pipeline.created"
	AuditUploadRejected        AuditAction = "upload.rejected"
)

// Outcome of an audited action.
type Outcome string

// Outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
)

// AuditEvent is one append-only audit log entry.
type AuditEvent struct {
	ID         string
	TS         time.Time
	OrgID      string // empty for global events (root actions, unknown emails)
	ActorID    string
	ActorType  SubjectType
	Action     AuditAction
	TargetType string
	TargetID   string
	JobID      string
	Outcome    Outcome
	RequestID  string
	Detail     map[string]any
}

// NewAudit starts an audit event for principal p.
func NewAudit(p Principal, action AuditAction, targetType, targetID string) AuditEvent {
	return AuditEvent{
		ID: NewID(), OrgID: p.OrgID, ActorID: p.SubjectID, ActorType: p.SubjectType,
		Action: action, TargetType: targetType, TargetID: targetID, Outcome: OutcomeSuccess,
	}
}
