// Package stack names the resources of one MAD deployment (stage). The CDK
// stack and the local stack both take names from here, so a function
// configured for one runs unchanged against the other.
package stack

import "fmt"

// Names derives resource names for a stage, account and region.
type Names struct {
	Stage   string
	Account string
	Region  string
}

func (n Names) prefix() string { return "mad-" + n.Stage }

// ArtifactsBucket holds molecules and job artifacts under "<org_id>/...".
func (n Names) ArtifactsBucket() string {
	return fmt.Sprintf("%s-artifacts-%s-%s", n.prefix(), n.Account, n.Region)
}

// UploadsBucket receives presigned uploads; its ObjectCreated events feed
// the uploads queue. Engine artifacts never land here, so they never
// trigger ingest.
func (n Names) UploadsBucket() string {
	return fmt.Sprintf("%s-uploads-%s-%s", n.prefix(), n.Account, n.Region)
}

// AccessLogsBucket receives S3 server access logs.
func (n Names) AccessLogsBucket() string {
	return fmt.Sprintf("%s-access-logs-%s-%s", n.prefix(), n.Account, n.Region)
}

// JobsQueue feeds the engine.
func (n Names) JobsQueue() string { return n.prefix() + "-jobs" }

// JobsDLQ receives job messages after maxReceiveCount deliveries.
func (n Names) JobsDLQ() string { return n.prefix() + "-jobs-dlq" }

// UploadsQueue feeds ingest with S3 ObjectCreated events.
func (n Names) UploadsQueue() string { return n.prefix() + "-uploads" }

// UploadsDLQ receives upload events ingest could not handle.
func (n Names) UploadsDLQ() string { return n.prefix() + "-uploads-dlq" }

// KeyAlias is the alias of the stack's KMS key.
func (n Names) KeyAlias() string { return "alias/" + n.prefix() }

// JWTSecret holds the JWT signing key (HS256) or the KMS key set (RS256/ES256).
func (n Names) JWTSecret() string { return "mad/" + n.Stage + "/jwt-signing-key" }

// DBAppSecret holds the application role's database credentials.
func (n Names) DBAppSecret() string { return "mad/" + n.Stage + "/db-app" }

// DBAdminSecret holds the migration (owner) credentials.
func (n Names) DBAdminSecret() string { return "mad/" + n.Stage + "/db-admin" }

// RootSecret holds the bootstrap root user's email and password.
func (n Names) RootSecret() string { return "mad/" + n.Stage + "/root-user" }

// FunctionName is the Lambda function name of fn.
func (n Names) FunctionName(fn string) string { return n.prefix() + "-" + fn }

// Defaults shared by the CDK stack and the local stack.
const (
	// JobsMaxReceiveCount: AWS advises at least 5 so throttling alone never
	// dead-letters a message.
	JobsMaxReceiveCount    = 5
	UploadsMaxReceiveCount = 5
	// EngineTimeoutSeconds is the engine's Lambda timeout; vina's own
	// timeout stays below it.
	EngineTimeoutSeconds = 900
	// VisibilityTimeoutFactor: SQS visibility >= 6x the consumer's timeout.
	VisibilityTimeoutFactor = 6
	// AppDBRole is the NOLOGIN group role that holds the application's
	// grants; login users (and rotation clones) are members of it.
	AppDBRole = "mad_app"
	// AppDBUser is the application's login user.
	AppDBUser = "mad_api"
	// DatabaseName is the application database.
	DatabaseName = "mad"
)
