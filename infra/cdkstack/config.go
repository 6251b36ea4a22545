// Package cdkstack is MAD's CDK stack: one deployment (stage) of the
// backend with its key, buckets, queues, database, functions, HTTP API,
// alarms and dashboard. The stack is configured by CDK context, read and
// validated once by NewConfig before any construct is built.
package cdkstack

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mad-bio/mad/shared/stack"
)

// Context keys. Every key is optional; Config documents the defaults.
const (
	CtxStage                     = "stage"
	CtxBuildDir                  = "buildDir"
	CtxRepoRoot                  = "repoRoot"
	CtxEngineMemoryMB            = "engineMemoryMb"
	CtxEngineTimeoutSeconds      = "engineTimeoutSeconds"
	CtxEngineEphemeralMB         = "engineEphemeralStorageMb"
	CtxAuthorizerCacheTTL        = "authorizerCacheTtlSeconds"
	CtxAlarmEmail                = "alarmEmail"
	CtxDatabase                  = "database"
	CtxExternalDBSecretARN       = "externalDbSecretArn"
	CtxExternalDBAdminSecretARN  = "externalDbAdminSecretArn"
	CtxDBInstanceType            = "dbInstanceType"
	CtxJobsMaxReceiveCount       = "jobsMaxReceiveCount"
	CtxJobsVisibilityTimeout     = "jobsVisibilityTimeoutSeconds"
	CtxUploadsVisibilityTimeout  = "uploadsVisibilityTimeoutSeconds"
	CtxJobsDLQVisibilityTimeout  = "jobsDlqVisibilityTimeoutSeconds"
	CtxJWTAlg                    = "jwtAlg"
	CtxJWTRotationDays           = "jwtRotationDays"
	CtxAccessTokenTTLMinutes     = "accessTokenTtlMinutes"
	CtxRefreshTokenTTLHours      = "refreshTokenTtlHours"
	CtxDBRotationDays            = "dbRotationDays"
	CtxThrottleRate              = "apiThrottleRateLimit"
	CtxThrottleBurst             = "apiThrottleBurstLimit"
	CtxCORSOrigins               = "corsOrigins"
	CtxLogRetentionDays          = "logRetentionDays"
	CtxRootEmail                 = "rootEmail"
	CtxLogLevel                  = "logLevel"
	CtxJobsOldestAgeAlarmSeconds = "jobsOldestMessageAgeAlarmSeconds"
)

// Database modes.
const (
	DatabaseRDS      = "rds"
	DatabaseExternal = "external"
)

// Hard limits of the services involved.
const (
	lambdaMaxTimeoutSeconds = 900
	sqsMaxVisibilitySeconds = 43200
	lambdaMinMemoryMB       = 128
	lambdaMaxMemoryMB       = 10240
	apiAuthorizerMaxTTL     = 3600
	defaultRootEmail        = "root@mad.invalid"
)

// Config is the validated configuration of one stack.
type Config struct {
	Stage string // stage (default "dev"); a stage starting with "prod" is a production stage
	// RepoRoot is the repository root (context repoRoot, default: the
	// nearest directory above the working directory holding go.mod).
	RepoRoot string
	// BuildDir holds build/functions/<name>/bootstrap (context buildDir,
	// default "build/functions", relative to RepoRoot).
	BuildDir string

	EngineMemoryMB       int // engineMemoryMb (default 4096, 128..10240)
	EngineTimeoutSeconds int // engineTimeoutSeconds (default 900, 1..900)
	EngineEphemeralMB    int // engineEphemeralStorageMb (default 2048, 512..10240)

	AuthorizerCacheTTLSeconds int // authorizerCacheTtlSeconds (default 30, 0..3600)
	ThrottleRateLimit         int // apiThrottleRateLimit (default 100 requests/s)
	ThrottleBurstLimit        int // apiThrottleBurstLimit (default 200)

	AlarmEmail                    string // alarmEmail (optional)
	JobsOldestMessageAgeAlarmSecs int    // jobsOldestMessageAgeAlarmSeconds (default 1800)

	Database                 string // database: rds (default) or external
	ExternalDBSecretARN      string // externalDbSecretArn: app-user secret (external mode)
	ExternalDBAdminSecretARN string // externalDbAdminSecretArn: owner secret for migrations (external mode)
	DBInstanceType           string // dbInstanceType (default t4g.small)
	DBRotationDays           int    // dbRotationDays (default 30)

	JobsMaxReceiveCount int // jobsMaxReceiveCount (default stack.JobsMaxReceiveCount)
	// Visibility timeouts of the consumed queues; default
	// stack.VisibilityTimeoutFactor x the consumer's timeout.
	JobsVisibilitySeconds    int
	UploadsVisibilitySeconds int
	JobsDLQVisibilitySeconds int

	JWTAlg                string // jwtAlg: HS256 (default), RS256 or ES256
	JWTRotationDays       int    // jwtRotationDays (default 30; must exceed the refresh TTL)
	AccessTokenTTLMinutes int    // accessTokenTtlMinutes (default 15, 1..60)
	RefreshTokenTTLHours  int    // refreshTokenTtlHours (default 168)

	CORSOrigins      []string // corsOrigins: comma-separated or JSON list of https origins (default none)
	LogRetentionDays int      // logRetentionDays (default 30; 365 in prod stages)
	RootEmail        string   // rootEmail (default root@mad.invalid; required in prod stages)
	LogLevel         string   // logLevel: debug, info (default), warn, error
}

// Prod reports whether the stage is a production stage.
func (c Config) Prod() bool { return strings.HasPrefix(c.Stage, "prod") }

// Names returns the resource names of the stage for account and region
// (tokens in the stack).
func (c Config) Names(account, region string) stack.Names {
	return stack.Names{Stage: c.Stage, Account: account, Region: region}
}

// ExternalDB reports whether the database is provided from outside.
func (c Config) ExternalDB() bool { return c.Database == DatabaseExternal }

// AssetDir is the zip asset directory of the Go function fn.
func (c Config) AssetDir(fn string) string { return filepath.Join(c.BuildDir, fn) }

// FunctionTimeout is the effective timeout of fn (the engine's comes from
// context).
func (c Config) FunctionTimeout(f stack.Function) int {
	if f.Name == "engine" {
		return c.EngineTimeoutSeconds
	}
	return f.TimeoutSeconds
}

// QueueVisibility is the visibility timeout of q.
func (c Config) QueueVisibility(q stack.Queue) int {
	switch q {
	case stack.QueueJobs:
		return c.JobsVisibilitySeconds
	case stack.QueueUploads:
		return c.UploadsVisibilitySeconds
	case stack.QueueJobsDLQ:
		return c.JobsDLQVisibilitySeconds
	}
	return 30
}

// consumerTimeout is the timeout of the function consuming q, or 0.
func (c Config) consumerTimeout(q stack.Queue) int {
	for _, f := range stack.Functions {
		if f.Kind == stack.KindQueue && f.Consumes == q {
			return c.FunctionTimeout(f)
		}
	}
	return 0
}

var (
	stageRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
	secretARN = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
	instRE    = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z0-9]+$`)
)

// logRetentionValues are the retention periods CloudWatch Logs accepts.
var logRetentionValues = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// NewConfig reads and validates the context through get (the app's
// TryGetContext). All problems are reported in one error, each naming its
// context key, so bad context fails synthesis before any construct exists.
func NewConfig(get func(key string) any) (Config, error) {
	r := reader{get: get}
	c := Config{
		Stage:                         r.str(CtxStage, "dev"),
		RepoRoot:                      r.str(CtxRepoRoot, ""),
		BuildDir:                      r.str(CtxBuildDir, filepath.Join("build", "functions")),
		EngineMemoryMB:                r.int(CtxEngineMemoryMB, 4096),
		EngineTimeoutSeconds:          r.int(CtxEngineTimeoutSeconds, stack.EngineTimeoutSeconds),
		EngineEphemeralMB:             r.int(CtxEngineEphemeralMB, 2048),
		AuthorizerCacheTTLSeconds:     r.int(CtxAuthorizerCacheTTL, 30),
		ThrottleRateLimit:             r.int(CtxThrottleRate, 100),
		ThrottleBurstLimit:            r.int(CtxThrottleBurst, 200),
		AlarmEmail:                    r.str(CtxAlarmEmail, ""),
		JobsOldestMessageAgeAlarmSecs: r.int(CtxJobsOldestAgeAlarmSeconds, 1800),
		Database:                      r.str(CtxDatabase, DatabaseRDS),
		ExternalDBSecretARN:           r.str(CtxExternalDBSecretARN, ""),
		ExternalDBAdminSecretARN:      r.str(CtxExternalDBAdminSecretARN, ""),
		DBInstanceType:                r.str(CtxDBInstanceType, "t4g.small"),
		DBRotationDays:                r.int(CtxDBRotationDays, 30),
		JobsMaxReceiveCount:           r.int(CtxJobsMaxReceiveCount, stack.JobsMaxReceiveCount),
		JWTAlg:                        r.str(CtxJWTAlg, "HS256"),
		JWTRotationDays:               r.int(CtxJWTRotationDays, 30),
		AccessTokenTTLMinutes:         r.int(CtxAccessTokenTTLMinutes, 15),
		RefreshTokenTTLHours:          r.int(CtxRefreshTokenTTLHours, 7*24),
		CORSOrigins:                   r.list(CtxCORSOrigins),
		RootEmail:                     r.str(CtxRootEmail, ""),
		LogLevel:                      r.str(CtxLogLevel, "info"),
	}
	c.LogRetentionDays = r.int(CtxLogRetentionDays, 30)
	if c.Prod() && r.get(CtxLogRetentionDays) == nil {
		c.LogRetentionDays = 365
	}
	c.JobsVisibilitySeconds = r.int(CtxJobsVisibilityTimeout, stack.VisibilityTimeoutFactor*c.EngineTimeoutSeconds)
	c.UploadsVisibilitySeconds = r.int(CtxUploadsVisibilityTimeout, stack.QueueVisibilitySeconds(stack.QueueUploads))
	c.JobsDLQVisibilitySeconds = r.int(CtxJobsDLQVisibilityTimeout, stack.QueueVisibilitySeconds(stack.QueueJobsDLQ))

	bad := r.errs
	fail := func(key, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("context %q: %s", key, fmt.Sprintf(format, args...)))
	}
	if !stageRE.MatchString(c.Stage) {
		fail(CtxStage, "%q must be 1-16 characters of lowercase letters, digits and '-', starting with a letter (it becomes part of bucket names)", c.Stage)
	}
	if c.EngineTimeoutSeconds < 1 || c.EngineTimeoutSeconds > lambdaMaxTimeoutSeconds {
		fail(CtxEngineTimeoutSeconds, "%d is outside 1..%d (the Lambda maximum)", c.EngineTimeoutSeconds, lambdaMaxTimeoutSeconds)
	}
	if c.EngineMemoryMB < lambdaMinMemoryMB || c.EngineMemoryMB > lambdaMaxMemoryMB {
		fail(CtxEngineMemoryMB, "%d is outside %d..%d", c.EngineMemoryMB, lambdaMinMemoryMB, lambdaMaxMemoryMB)
	}
	if c.EngineEphemeralMB < 512 || c.EngineEphemeralMB > 10240 {
		fail(CtxEngineEphemeralMB, "%d is outside 512..10240", c.EngineEphemeralMB)
	}
	if c.AuthorizerCacheTTLSeconds < 0 || c.AuthorizerCacheTTLSeconds > apiAuthorizerMaxTTL {
		fail(CtxAuthorizerCacheTTL, "%d is outside 0..%d", c.AuthorizerCacheTTLSeconds, apiAuthorizerMaxTTL)
	}
	if c.ThrottleRateLimit < 1 {
		fail(CtxThrottleRate, "%d must be at least 1", c.ThrottleRateLimit)
	}
	if c.ThrottleBurstLimit < 1 {
		fail(CtxThrottleBurst, "%d must be at least 1", c.ThrottleBurstLimit)
	}
	if c.AlarmEmail != "" {
		if a, err := mail.ParseAddress(c.AlarmEmail); err != nil || a.Address != c.AlarmEmail || !strings.Contains(a.Address[strings.LastIndex(a.Address, "@"):], ".") {
			fail(CtxAlarmEmail, "%q is not an email address like ops@example.com", c.AlarmEmail)
		}
	}
	if c.JobsOldestMessageAgeAlarmSecs < 60 {
		fail(CtxJobsOldestAgeAlarmSeconds, "%d must be at least 60", c.JobsOldestMessageAgeAlarmSecs)
	}
	switch c.Database {
	case DatabaseRDS:
		if c.ExternalDBSecretARN != "" || c.ExternalDBAdminSecretARN != "" {
			fail(CtxDatabase, "%q contradicts %s/%s: set database=external to use an existing database", c.Database, CtxExternalDBSecretARN, CtxExternalDBAdminSecretARN)
		}
		if !instRE.MatchString(c.DBInstanceType) {
			fail(CtxDBInstanceType, "%q is not an instance type like t4g.small", c.DBInstanceType)
		}
	case DatabaseExternal:
		for _, k := range []struct{ key, v string }{{CtxExternalDBSecretARN, c.ExternalDBSecretARN}, {CtxExternalDBAdminSecretARN, c.ExternalDBAdminSecretARN}} {
			if k.v == "" {
				fail(k.key, "is required when database=external")
			} else if !secretARN.MatchString(k.v) {
				fail(k.key, "%q is not a Secrets Manager secret ARN", k.v)
			}
		}
	default:
		fail(CtxDatabase, "%q is not one of %s, %s", c.Database, DatabaseRDS, DatabaseExternal)
	}
	if c.DBRotationDays < 1 || c.DBRotationDays > 365 {
		fail(CtxDBRotationDays, "%d is outside 1..365", c.DBRotationDays)
	}
	if c.JobsMaxReceiveCount < 1 || c.JobsMaxReceiveCount > 1000 {
		fail(CtxJobsMaxReceiveCount, "%d is outside 1..1000", c.JobsMaxReceiveCount)
	}
	for _, q := range []struct {
		key string
		q   stack.Queue
	}{{CtxJobsVisibilityTimeout, stack.QueueJobs}, {CtxUploadsVisibilityTimeout, stack.QueueUploads}, {CtxJobsDLQVisibilityTimeout, stack.QueueJobsDLQ}} {
		v, min := c.QueueVisibility(q.q), stack.VisibilityTimeoutFactor*c.consumerTimeout(q.q)
		switch {
		case v > sqsMaxVisibilitySeconds:
			fail(q.key, "%d exceeds the SQS maximum of %d seconds", v, sqsMaxVisibilitySeconds)
		case v < min:
			fail(q.key, "%d is too short: the %s queue needs at least %d x its consumer's %d s timeout = %d s",
				v, q.q, stack.VisibilityTimeoutFactor, c.consumerTimeout(q.q), min)
		}
	}
	switch c.JWTAlg {
	case "HS256", "RS256", "ES256":
	default:
		fail(CtxJWTAlg, "%q is not one of HS256, RS256, ES256", c.JWTAlg)
	}
	if c.AccessTokenTTLMinutes < 1 || c.AccessTokenTTLMinutes > 60 {
		fail(CtxAccessTokenTTLMinutes, "%d is outside 1..60: access tokens are short-lived", c.AccessTokenTTLMinutes)
	}
	if c.RefreshTokenTTLHours*60 < c.AccessTokenTTLMinutes {
		fail(CtxRefreshTokenTTLHours, "%d is shorter than the access token TTL", c.RefreshTokenTTLHours)
	}
	if c.JWTRotationDays < 1 || c.JWTRotationDays > 365 {
		fail(CtxJWTRotationDays, "%d is outside 1..365", c.JWTRotationDays)
	} else if c.JWTRotationDays*24 <= c.RefreshTokenTTLHours {
		// Verifiers accept the current and the previous key; a rotation
		// period no longer than the refresh TTL would orphan live tokens.
		fail(CtxJWTRotationDays, "%d days must exceed the refresh token TTL of %d hours", c.JWTRotationDays, c.RefreshTokenTTLHours)
	}
	for _, o := range c.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			fail(CtxCORSOrigins, "%q %v", o, err)
		}
	}
	if !containsInt(logRetentionValues, c.LogRetentionDays) {
		fail(CtxLogRetentionDays, "%d is not a CloudWatch Logs retention period (%v)", c.LogRetentionDays, logRetentionValues)
	}
	if c.RootEmail == "" {
		if c.Prod() {
			fail(CtxRootEmail, "is required in a production stage (%q)", c.Stage)
		}
		c.RootEmail = defaultRootEmail
	} else if a, err := mail.ParseAddress(c.RootEmail); err != nil || a.Address != c.RootEmail {
		fail(CtxRootEmail, "%q is not an email address", c.RootEmail)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		fail(CtxLogLevel, "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	if len(bad) == 0 {
		if err := c.resolvePaths(); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("invalid CDK context: %s", strings.Join(bad, "; "))
	}
	return c, nil
}

func (c *Config) resolvePaths() error {
	if c.RepoRoot == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("context %q: working directory: %v", CtxRepoRoot, err)
		}
		root, ok := findRepoRoot(wd)
		if !ok {
			return fmt.Errorf("context %q: no go.mod above %s; set -c %s=<path>", CtxRepoRoot, wd, CtxRepoRoot)
		}
		c.RepoRoot = root
	}
	abs, err := filepath.Abs(c.RepoRoot)
	if err != nil {
		return fmt.Errorf("context %q: %v", CtxRepoRoot, err)
	}
	c.RepoRoot = abs
	if !filepath.IsAbs(c.BuildDir) {
		c.BuildDir = filepath.Join(c.RepoRoot, c.BuildDir)
	}
	return nil
}

func findRepoRoot(dir string) (string, bool) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func checkOrigin(o string) error {
	if o == "*" {
		return fmt.Errorf("is not allowed: list the browser origins that upload")
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("is not an origin like https://app.example.com")
	}
	local := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"
	if u.Scheme != "https" && !(u.Scheme == "http" && local) {
		return fmt.Errorf("must use https (http only for localhost)")
	}
	return nil
}

func containsInt(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// reader converts context values: cdk.json gives JSON types, -c gives strings.
type reader struct {
	get  func(string) any
	errs []string
}

func (r *reader) str(key, def string) string {
	v := r.get(key)
	if v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		r.errs = append(r.errs, fmt.Sprintf("context %q: %v is not a string", key, v))
		return def
	}
	if s = strings.TrimSpace(s); s == "" {
		return def
	}
	return s
}

func (r *reader) int(key string, def int) int {
	v := r.get(key)
	switch x := v.(type) {
	case nil:
		return def
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
	case int:
		return x
	case json.Number:
		if n, err := strconv.Atoi(string(x)); err == nil {
			return n
		}
	case string:
		if strings.TrimSpace(x) == "" {
			return def
		}
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return n
		}
	}
	r.errs = append(r.errs, fmt.Sprintf("context %q: %v is not an integer", key, v))
	return def
}

func (r *reader) list(key string) []string {
	v := r.get(key)
	var out []string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		x = strings.TrimSpace(x)
		if strings.HasPrefix(x, "[") {
			if err := json.Unmarshal([]byte(x), &out); err != nil {
				r.errs = append(r.errs, fmt.Sprintf("context %q: %q is not a JSON list of strings", key, x))
				return nil
			}
			break
		}
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				r.errs = append(r.errs, fmt.Sprintf("context %q: %v is not a string", key, e))
				return nil
			}
			out = append(out, strings.TrimSpace(s))
		}
	case []string:
		out = x
	default:
		r.errs = append(r.errs, fmt.Sprintf("context %q: %v is not a list of origins", key, v))
		return nil
	}
	sort.Strings(out)
	return out
}
