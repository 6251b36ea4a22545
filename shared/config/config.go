// Package config reads every setting of every function from the
// environment, in one place. Functions declare the groups they need with
// Require, which names every missing variable in one error so that a
// misconfigured function fails at cold start with one clear log line.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. Fields are grouped by the Need that
// requires them.
type Config struct {
	Stage       string     // MAD_STAGE (default "local")
	Region      string     // AWS_REGION
	AWSEndpoint string     // AWS_ENDPOINT_URL: moto or LocalStack; empty in AWS
	LogLevel    slog.Level // MAD_LOG_LEVEL (debug|info|warn|error)

	// Database (NeedDB).
	DBSecretID  string // MAD_DB_SECRET_ID: Secrets Manager secret with the app role's credentials
	DatabaseURL string // MAD_DATABASE_URL: overrides the secret (tests, external databases)
	// DBHost overrides the secret's host (MAD_DB_HOST): in AWS the functions
	// reach the database through RDS Proxy, while the secret keeps the
	// instance's host for the rotation function.
	DBHost      string
	DBPort      int           // MAD_DB_PORT: overrides the secret's port
	DBMaxConns  int32         // MAD_DB_MAX_CONNS (default 2: one Lambda serves one request at a time)
	DBSecretTTL time.Duration // MAD_DB_SECRET_TTL (default 5m): re-read credentials after rotation

	// Migration (NeedDBAdmin).
	DBAdminSecretID  string // MAD_DB_ADMIN_SECRET_ID
	DatabaseAdminURL string // MAD_DATABASE_ADMIN_URL

	// Tokens (NeedJWT).
	JWTAlg         string        // MAD_JWT_ALG: HS256 (default), RS256 or ES256
	JWTSecretID    string        // MAD_JWT_SECRET_ID
	JWTIssuer      string        // MAD_JWT_ISSUER (default "mad")
	JWTAudience    string        // MAD_JWT_AUDIENCE (default "mad-api")
	AccessTTL      time.Duration // MAD_ACCESS_TOKEN_TTL (default 15m)
	RefreshTTL     time.Duration // MAD_REFRESH_TOKEN_TTL (default 168h)
	JWTKeyCacheTTL time.Duration // MAD_JWT_KEY_CACHE_TTL (default 5m)

	// Storage (NeedStorage).
	ArtifactsBucket string        // MAD_ARTIFACTS_BUCKET
	UploadsBucket   string        // MAD_UPLOADS_BUCKET
	KMSKeyID        string        // MAD_KMS_KEY_ID: key ARN or id used for SSE-KMS
	PresignTTL      time.Duration // MAD_PRESIGN_TTL (default 15m, at most 15m)

	// Queues (NeedQueue).
	JobsQueueURL    string // MAD_JOBS_QUEUE_URL
	UploadsQueueURL string // MAD_UPLOADS_QUEUE_URL (readiness only)

	// Engine (NeedEngine).
	VinaPath        string // MAD_VINA_PATH (default "vina")
	ObabelPath      string // MAD_OBABEL_PATH (default "obabel")
	ScratchDir      string // MAD_SCRATCH_DIR (default os.TempDir())
	EngineCPUs      int    // MAD_ENGINE_CPUS (default: runtime.NumCPU at use)
	JobsMaxReceives int    // MAD_JOBS_MAX_RECEIVE_COUNT (default 5): last attempt fails the job

	// Sweeper.
	SweepPendingAfter time.Duration // MAD_SWEEP_PENDING_AFTER (default 60s)
	SweepStaleAfter   time.Duration // MAD_SWEEP_STALE_AFTER (default 2h)

	// Bootstrap root user (migrate function).
	RootEmail    string // MAD_ROOT_EMAIL
	RootPassword string // MAD_ROOT_PASSWORD
	RootSecretID string // MAD_ROOT_SECRET_ID: secret {"email","password"}; used when the two above are empty
}

// Need is a group of settings a function requires.
type Need int

// Needs.
const (
	NeedDB Need = iota
	NeedDBAdmin
	NeedJWT
	NeedStorage
	NeedQueue
	NeedEngine
)

// Load reads the configuration from getenv (os.Getenv in functions).
// It fails on malformed values; missing required values are reported by
// Require.
func Load(getenv func(string) string) (Config, error) {
	var errs []string
	str := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	dur := func(k string, def time.Duration) time.Duration {
		v := getenv(k)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q is not a positive duration like 15m", k, v))
			return def
		}
		return d
	}
	num := func(k string, def int) int {
		v := getenv(k)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q is not a positive integer", k, v))
			return def
		}
		return n
	}
	c := Config{
		Stage:       str("MAD_STAGE", "local"),
		Region:      str("AWS_REGION", str("AWS_DEFAULT_REGION", "")),
		AWSEndpoint: str("AWS_ENDPOINT_URL", ""),

		DBSecretID:  str("MAD_DB_SECRET_ID", ""),
		DatabaseURL: str("MAD_DATABASE_URL", ""),
		DBHost:      str("MAD_DB_HOST", ""),
		DBPort:      num("MAD_DB_PORT", 0),
		DBMaxConns:  int32(num("MAD_DB_MAX_CONNS", 2)),
		DBSecretTTL: dur("MAD_DB_SECRET_TTL", 5*time.Minute),

		DBAdminSecretID:  str("MAD_DB_ADMIN_SECRET_ID", ""),
		DatabaseAdminURL: str("MAD_DATABASE_ADMIN_URL", ""),

		JWTAlg:         str("MAD_JWT_ALG", "HS256"),
		JWTSecretID:    str("MAD_JWT_SECRET_ID", ""),
		JWTIssuer:      str("MAD_JWT_ISSUER", "mad"),
		JWTAudience:    str("MAD_JWT_AUDIENCE", "mad-api"),
		AccessTTL:      dur("MAD_ACCESS_TOKEN_TTL", 15*time.Minute),
		RefreshTTL:     dur("MAD_REFRESH_TOKEN_TTL", 7*24*time.Hour),
		JWTKeyCacheTTL: dur("MAD_JWT_KEY_CACHE_TTL", 5*time.Minute),

		ArtifactsBucket: str("MAD_ARTIFACTS_BUCKET", ""),
		UploadsBucket:   str("MAD_UPLOADS_BUCKET", ""),
		KMSKeyID:        str("MAD_KMS_KEY_ID", ""),
		PresignTTL:      dur("MAD_PRESIGN_TTL", 15*time.Minute),

		JobsQueueURL:    str("MAD_JOBS_QUEUE_URL", ""),
		UploadsQueueURL: str("MAD_UPLOADS_QUEUE_URL", ""),

		VinaPath:        str("MAD_VINA_PATH", "vina"),
		ObabelPath:      str("MAD_OBABEL_PATH", "obabel"),
		ScratchDir:      str("MAD_SCRATCH_DIR", os.TempDir()),
		EngineCPUs:      num("MAD_ENGINE_CPUS", 0),
		JobsMaxReceives: num("MAD_JOBS_MAX_RECEIVE_COUNT", 5),

		SweepPendingAfter: dur("MAD_SWEEP_PENDING_AFTER", time.Minute),
		SweepStaleAfter:   dur("MAD_SWEEP_STALE_AFTER", 2*time.Hour),

		RootEmail:    str("MAD_ROOT_EMAIL", ""),
		RootPassword: getenv("MAD_ROOT_PASSWORD"),
		RootSecretID: str("MAD_ROOT_SECRET_ID", ""),
	}
	switch strings.ToLower(str("MAD_LOG_LEVEL", "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Sprintf("MAD_LOG_LEVEL=%q is not one of debug, info, warn, error", getenv("MAD_LOG_LEVEL")))
	}
	switch c.JWTAlg {
	case "HS256", "RS256", "ES256":
	default:
		errs = append(errs, fmt.Sprintf("MAD_JWT_ALG=%q is not one of HS256, RS256, ES256", c.JWTAlg))
	}
	if c.PresignTTL > 15*time.Minute {
		errs = append(errs, "MAD_PRESIGN_TTL must be at most 15m")
	}
	if c.AccessTTL > time.Hour {
		errs = append(errs, "MAD_ACCESS_TOKEN_TTL must be at most 1h: access tokens are short-lived")
	}
	if c.RefreshTTL < c.AccessTTL {
		errs = append(errs, "MAD_REFRESH_TOKEN_TTL must not be shorter than MAD_ACCESS_TOKEN_TTL")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// Require checks that every setting the needs call for is present and
// names all missing environment variables in one error.
func (c Config) Require(needs ...Need) error {
	var missing []string
	need := func(v, name string) {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if c.Region == "" {
		missing = append(missing, "AWS_REGION")
	}
	for _, n := range needs {
		switch n {
		case NeedDB:
			if c.DatabaseURL == "" && c.DBSecretID == "" {
				missing = append(missing, "MAD_DB_SECRET_ID (or MAD_DATABASE_URL)")
			}
		case NeedDBAdmin:
			if c.DatabaseAdminURL == "" && c.DBAdminSecretID == "" {
				missing = append(missing, "MAD_DB_ADMIN_SECRET_ID (or MAD_DATABASE_ADMIN_URL)")
			}
		case NeedJWT:
			need(c.JWTSecretID, "MAD_JWT_SECRET_ID")
		case NeedStorage:
			need(c.ArtifactsBucket, "MAD_ARTIFACTS_BUCKET")
			need(c.UploadsBucket, "MAD_UPLOADS_BUCKET")
			need(c.KMSKeyID, "MAD_KMS_KEY_ID")
		case NeedQueue:
			need(c.JobsQueueURL, "MAD_JOBS_QUEUE_URL")
		case NeedEngine:
			need(c.VinaPath, "MAD_VINA_PATH")
			need(c.ObabelPath, "MAD_OBABEL_PATH")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing configuration: %s", strings.Join(missing, ", "))
	}
	return nil
}
