// Package app holds MAD's use cases. Each takes the caller's
// domain.Principal explicitly, applies the rules, and talks to the outside
// world only through the small interfaces declared here, which carry domain
// types and never SDK or driver types. Adapters (shared/postgres,
// shared/s3store, shared/sqsqueue, shared/jwtauth, shared/vina, ...)
// implement them; functions/<name> wire them together.
package app

import (
	"context"
	"time"

	"github.com/mad-bio/mad/shared/domain"
)

// Store runs repository work in transactions bound to a tenancy scope.
type Store interface {
	// Tx runs fn in one transaction whose row-level-security context is
	// scope. The transaction commits when fn returns nil; a failed commit
	// is returned, never swallowed. Writes whose results nothing reads
	// (job rows and events, audit entries, idempotency records) may be
	// sent with the next statement or the commit: their failure then
	// surfaces there, and the transaction still fails as a whole.
	Tx(ctx context.Context, scope domain.Scope, fn func(Tx) error) error
	// Read runs fn's statements read-only, each in its own round trip with
	// the scope set: no snapshot spans two statements, so it is for reads
	// of one statement on the hot paths (the authorizer, job status, the
	// engine's inputs).
	Read(ctx context.Context, scope domain.Scope, fn func(Tx) error) error
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
}

// Tx gives access to the repositories inside one transaction. Tenant
// repositories filter every statement by the transaction's org and refuse
// to run in the global scope.
type Tx interface {
	Orgs() OrgRepository
	Users() UserRepository
	Directory() DirectoryRepository
	ServiceAccounts() ServiceAccountRepository
	Tokens() TokenRepository
	Throttle() LoginThrottle
	Audit() AuditRepository
	Molecules() MoleculeRepository
	Uploads() UploadRepository
	Pipelines() PipelineRepository
	Jobs() JobRepository
}

// Page asks for one page of a list, newest first.
type Page struct {
	Limit int
	// After is the decoded cursor: the sort key of the last item of the
	// previous page, empty for the first page.
	After string
}

// OrgRepository stores orgs. Orgs are the tenant registry itself, readable
// from any scope.
type OrgRepository interface {
	// CreateOrg returns CONFLICT when the name is taken.
	CreateOrg(ctx context.Context, o domain.Org) error
	// FindOrgByID returns ORG_NOT_FOUND.
	FindOrgByID(ctx context.Context, id string) (domain.Org, error)
	// LockOrg reads the org and locks its row until the transaction ends,
	// serializing quota checks of that org.
	LockOrg(ctx context.Context, id string) (domain.Org, error)
	FindOrgs(ctx context.Context, p Page) ([]domain.Org, error)
	UpdateOrg(ctx context.Context, o domain.Org) error
}

// UserRepository stores users of the transaction's scope (org users, or
// root users in the global scope).
type UserRepository interface {
	// CreateUser returns CONFLICT when the email exists in the scope.
	CreateUser(ctx context.Context, u domain.User) error
	// FindUserByID returns USER_NOT_FOUND.
	FindUserByID(ctx context.Context, id string) (domain.User, error)
	// FindUserByIDForUpdate is FindUserByID with a row lock.
	FindUserByIDForUpdate(ctx context.Context, id string) (domain.User, error)
	FindUserByEmail(ctx context.Context, email string) (domain.User, error)
	FindUsers(ctx context.Context, p Page) ([]domain.User, error)
	UpdateUser(ctx context.Context, u domain.User) error
	// LockEnabledAdmins locks and returns the ids of the scope's enabled
	// admins, so two concurrent demotions cannot both pass the last-admin rule.
	LockEnabledAdmins(ctx context.Context) ([]string, error)
}

// Login is one match of the credential directory.
type Login struct {
	OrgID     string // empty for root users
	SubjectID string
}

// DirectoryRepository answers which org holds a login before any org
// context exists.
type DirectoryRepository interface {
	FindLoginsByEmail(ctx context.Context, email string) ([]Login, error)
	FindLoginByClientID(ctx context.Context, clientID string) (Login, bool, error)
}

// ServiceAccountRepository stores the org's service accounts.
type ServiceAccountRepository interface {
	CreateServiceAccount(ctx context.Context, sa domain.ServiceAccount) error
	// FindServiceAccountByID returns SERVICE_ACCOUNT_NOT_FOUND (also for deleted ones).
	FindServiceAccountByID(ctx context.Context, id string) (domain.ServiceAccount, error)
	FindServiceAccounts(ctx context.Context, p Page) ([]domain.ServiceAccount, error)
	DeleteServiceAccount(ctx context.Context, id string, at time.Time) error
}

// RefreshToken is the server-side record of an issued refresh token.
type RefreshToken struct {
	JTI       string
	SubjectID string
	FamilyID  string
	ParentJTI string
	IssuedAt  time.Time
	ExpiresAt time.Time
	SpentAt   *time.Time
	RevokedAt *time.Time
}

// TokenState is what the authorizer needs to know about a token's subject,
// read in one query.
type TokenState struct {
	SubjectFound    bool
	SubjectEnabled  bool
	SubjectRoles    []domain.Role
	TokensNotBefore time.Time
	OrgFound        bool
	OrgStatus       domain.OrgStatus
	Revoked         bool
}

// TokenRepository stores refresh tokens, access-token revocations and
// failed logins. Rows live in the subject's home scope.
type TokenRepository interface {
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// FindRefreshTokenForUpdate returns AUTH_UNAUTHORIZED when unknown.
	FindRefreshTokenForUpdate(ctx context.Context, jti string) (RefreshToken, error)
	MarkRefreshTokenSpent(ctx context.Context, jti string, at time.Time) error
	RevokeFamily(ctx context.Context, familyID string, at time.Time) (int, error)
	RevokeSubjectTokens(ctx context.Context, subjectID string, at time.Time) (int, error)
	RevokeAccessToken(ctx context.Context, jti, subjectID string, expiresAt time.Time) error
	// TokenState reads subject, org and revocation state in one query.
	TokenState(ctx context.Context, subjectType domain.SubjectType, subjectID, orgID, jti string) (TokenState, error)
	// DeleteExpired removes token rows past their expiry (housekeeping).
	DeleteExpired(ctx context.Context, before time.Time) (int, error)
}

// LoginThrottle counts failed logins per email across Lambda containers.
type LoginThrottle interface {
	// LockLoginKey serializes attempts on one key until the transaction ends.
	LockLoginKey(ctx context.Context, emailKey string) error
	RecordLoginFailure(ctx context.Context, emailKey string, at time.Time) error
	// LoginFailuresSince returns how many failures were recorded since t
	// and when the oldest of them happened.
	LoginFailuresSince(ctx context.Context, emailKey string, since time.Time) (int, time.Time, error)
	ClearLoginFailures(ctx context.Context, emailKey string) error
	// DeleteLoginFailuresBefore is housekeeping.
	DeleteLoginFailuresBefore(ctx context.Context, t time.Time) (int, error)
}

// AuditFilter narrows an audit listing.
type AuditFilter struct {
	Action       string
	Since, Until *time.Time
}

// AuditRepository appends to and reads the audit log of the scope.
type AuditRepository interface {
	AppendAudit(ctx context.Context, e domain.AuditEvent) error
	FindAudit(ctx context.Context, f AuditFilter, p Page) ([]domain.AuditEvent, error)
}

// MoleculeRepository stores the org's molecules.
type MoleculeRepository interface {
	CreateMolecule(ctx context.Context, m domain.Molecule) error
	// FindMoleculeByID returns MOLECULE_NOT_FOUND.
	FindMoleculeByID(ctx context.Context, id string) (domain.Molecule, error)
	// FindMoleculesByID returns the org's molecules among ids, by id, with
	// one query; an id not found is absent from the map.
	FindMoleculesByID(ctx context.Context, ids ...string) (map[string]domain.Molecule, error)
	FindMolecules(ctx context.Context, p Page) ([]domain.Molecule, error)
	DeleteMolecule(ctx context.Context, id string) error
	// StorageUsed sums the bytes of the org's molecules and job artifacts
	// plus the declared size of pending uploads.
	StorageUsed(ctx context.Context) (int64, error)
}

// UploadRepository stores presigned uploads.
type UploadRepository interface {
	CreateUpload(ctx context.Context, u domain.Upload) error
	// FindUploadByID returns UPLOAD_NOT_FOUND.
	FindUploadByID(ctx context.Context, id string) (domain.Upload, error)
	FindUploadByIDForUpdate(ctx context.Context, id string) (domain.Upload, error)
	UpdateUpload(ctx context.Context, u domain.Upload) error
}

// PipelineRepository stores pipelines: built-in ones and the org's own.
type PipelineRepository interface {
	// FindPipelineByID returns PIPELINE_NOT_FOUND.
	FindPipelineByID(ctx context.Context, id string) (domain.Pipeline, error)
	FindPipelines(ctx context.Context, p Page) ([]domain.Pipeline, error)
	// CreatePipeline returns CONFLICT when the name and version exist.
	CreatePipeline(ctx context.Context, p domain.Pipeline, createdBy string) error
	// ParamsSchema returns the pipeline's JSON Schema document.
	ParamsSchema(ctx context.Context, id string) ([]byte, error)
}

// JobFilter narrows a job listing.
type JobFilter struct {
	Status     domain.JobStatus
	PipelineID string
}

// Score is one docked pose's score.
type Score struct {
	Pose     int
	Affinity float64
	RMSDLB   float64
	RMSDUB   float64
}

// TaskResult is one task's output record.
type TaskResult struct {
	TaskName      string
	ServiceName   string
	EngineVersion string
	SchemaVersion string
	ResultData    map[string]any
}

// Artifact is a stored job output file.
type Artifact struct {
	Name        string // one of domain.JobArtifacts
	Key         string
	SizeBytes   int64
	SHA256      string
	ContentType string
}

// JobResults are a completed job's outputs.
type JobResults struct {
	JobID         string
	EngineVersion string
	Scores        []Score
	Tasks         []TaskResult
	Artifacts     []Artifact
}

// IdempotencyRecord remembers the first response to an Idempotency-Key.
type IdempotencyRecord struct {
	Key            string
	RequestHash    string
	JobID          string
	ResponseStatus int
	ExpiresAt      time.Time
}

// OutboxEntry is a job whose queue message may not have been sent, or
// was sent but never claimed.
type OutboxEntry struct {
	JobID     string
	OrgID     string
	CreatedAt time.Time
	SentAt    *time.Time
	Attempts  int
}

// JobRepository stores the org's jobs, their events, results and cache.
type JobRepository interface {
	// CreateJob inserts the job, its pending events and (unless it is
	// already terminal) its outbox entry.
	CreateJob(ctx context.Context, j *domain.Job) error
	// FindJobByID returns JOB_NOT_FOUND.
	FindJobByID(ctx context.Context, id string) (*domain.Job, error)
	FindJobs(ctx context.Context, f JobFilter, p Page) ([]*domain.Job, error)
	// UpdateJob locks the job, applies fn (a domain transition) and writes
	// the row and the events fn produced. fn's error aborts the change.
	UpdateJob(ctx context.Context, id string, fn func(*domain.Job) error) (*domain.Job, error)
	FindJobEvents(ctx context.Context, id string) ([]domain.JobEvent, error)
	CountActiveJobs(ctx context.Context) (int, error)

	// SaveResults stores scores, task results and artifacts of a job; it
	// returns CONFLICT when the job already has results.
	SaveResults(ctx context.Context, r JobResults) error
	FindResults(ctx context.Context, jobID string) (JobResults, error)
	FindArtifact(ctx context.Context, jobID, name string) (Artifact, error)

	FindCachedJob(ctx context.Context, signature string) (string, bool, error)
	PutCache(ctx context.Context, signature, jobID string) error

	// LockIdempotencyKey serializes requests carrying the same key until
	// the transaction ends, so concurrent retries see the first response.
	LockIdempotencyKey(ctx context.Context, subjectID, key string) error
	FindIdempotencyKey(ctx context.Context, subjectID, key string) (IdempotencyRecord, bool, error)
	SaveIdempotencyKey(ctx context.Context, subjectID string, r IdempotencyRecord) error

	// MarkOutboxSent records that the job's message was sent. The entry
	// stays until the engine claims the job, so a lost message is resent.
	MarkOutboxSent(ctx context.Context, jobID string, at time.Time) error
	// FindDueOutbox (global scope) lists entries never sent and created
	// before unsentBefore, and entries sent before sentBefore but still
	// unclaimed.
	FindDueOutbox(ctx context.Context, unsentBefore, sentBefore time.Time, limit int) ([]OutboxEntry, error)
	// DeleteExpiredIdempotencyKeys removes keys past their expiry.
	DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int, error)
}

// JobMessage is the body of a jobs-queue message.
type JobMessage struct {
	JobID string
	OrgID string
}

// JobQueue sends job messages.
type JobQueue interface {
	SendJob(ctx context.Context, m JobMessage) error
}

// ObjectStore is the org-prefixed, KMS-encrypted object storage. Keys are
// always built by domain helpers from server-made ids.
type ObjectStore interface {
	// PutObject stores body under key in the artifacts bucket with SSE-KMS.
	PutObject(ctx context.Context, key string, body []byte, contentType string) error
	GetObject(ctx context.Context, key string, maxBytes int64) ([]byte, error)
	DeleteObject(ctx context.Context, key string) error
	// PresignGet returns a URL valid for ttl (at most 15 minutes).
	PresignGet(ctx context.Context, key string, ttl time.Duration, downloadName string) (string, time.Time, error)
	// PresignUpload returns a presigned PUT into the uploads bucket whose
	// signature covers SSE-KMS and the exact content length.
	PresignUpload(ctx context.Context, key string, size int64, ttl time.Duration) (PresignedRequest, error)
	// GetUpload reads an object of the uploads bucket.
	GetUpload(ctx context.Context, key string, maxBytes int64) ([]byte, error)
	DeleteUpload(ctx context.Context, key string) error
}

// PresignedRequest is what a client needs to send an upload.
type PresignedRequest struct {
	URL       string
	Method    string
	Headers   map[string]string
	ExpiresAt time.Time
}

// Token is the content of an access or refresh token.
type Token struct {
	ID          string // jti
	Use         string // "access" or "refresh"
	SubjectID   string
	SubjectType domain.SubjectType
	OrgID       string
	Roles       []domain.Role
	Scopes      []domain.Permission
	FamilyID    string // refresh tokens only
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// Token uses.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// TokenSigner signs tokens with the current key.
type TokenSigner interface {
	Sign(ctx context.Context, t Token) (string, error)
}

// TokenVerifier checks a token's signature and registered claims and
// returns its content; any failure is AUTH_UNAUTHORIZED.
type TokenVerifier interface {
	Verify(ctx context.Context, raw, use string) (Token, error)
}

// PasswordHasher hashes and checks passwords.
type PasswordHasher interface {
	Hash(password string) (string, error)
	// Verify compares in constant time; an empty hash spends the same time
	// as a real one and returns false, so unknown emails cost the same.
	Verify(hash, password string) bool
}

// Clock tells the time; tests pin it.
type Clock func() time.Time
