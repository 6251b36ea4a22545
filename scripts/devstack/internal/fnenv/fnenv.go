// Package fnenv builds the environment each function runs with locally,
// from the stack's function table (stack.Function.Needs) and the variable
// names of shared/config, so a function gets exactly what it would get in
// AWS, pointed at the local endpoint. Nothing of the developer's AWS
// environment (profiles, real credentials, CA bundles) leaks in: a local
// function can only reach the local endpoint.
package fnenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/provision"
	"github.com/mad-bio/mad/shared/stack"
)

// Inputs are the stack-wide values.
type Inputs struct {
	Names    stack.Names
	Endpoint string
	Res      *provision.Resources
	LogLevel string // MAD_LOG_LEVEL (default info)
	// ScratchDir is the engine's MAD_SCRATCH_DIR.
	ScratchDir string
	// Getenv reads the developer's environment for MAD_* pass-through
	// (default os.Getenv via os.Environ).
	Environ []string
	// VinaPath, when set (MAD_LOCAL_VINA), replaces the engine's
	// MAD_VINA_PATH, e.g. with scripts/fakevina; the FAKEVINA_* variables
	// of the developer's environment then reach the engine too.
	VinaPath string
	// EndpointFor overrides AWS_ENDPOINT_URL per function (the S3 fault
	// proxy of MAD_LOCAL_S3_FAULTS).
	EndpointFor map[string]string
}

// devstackOwn are MAD_* variables of devstack and the tests, never passed on.
var devstackOwn = []string{"MAD_LOCAL_", "MAD_E2E_", "MAD_TEST_"}

// AWS returns the variables that point an SDK at the local endpoint.
func AWS(in Inputs) map[string]string {
	return map[string]string{
		"AWS_REGION":            in.Names.Region,
		"AWS_DEFAULT_REGION":    in.Names.Region,
		"AWS_ENDPOINT_URL":      in.Endpoint,
		"AWS_ACCESS_KEY_ID":     awsx.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": awsx.SecretAccessKey,
	}
}

// Config returns the shared/config variables fn needs.
func Config(f stack.Function, in Inputs) map[string]string {
	n, r := in.Names, in.Res
	m := AWS(in)
	if ep := in.EndpointFor[f.Name]; ep != "" {
		m["AWS_ENDPOINT_URL"] = ep
	}
	m["MAD_STAGE"] = n.Stage
	m["MAD_LOG_LEVEL"] = in.LogLevel
	if m["MAD_LOG_LEVEL"] == "" {
		m["MAD_LOG_LEVEL"] = "info"
	}
	if f.Needs.DB {
		m["MAD_DB_SECRET_ID"] = secret(r, n.DBAppSecret())
	}
	if f.Needs.DBAdmin {
		m["MAD_DB_ADMIN_SECRET_ID"] = secret(r, n.DBAdminSecret())
	}
	if f.Needs.JWT {
		m["MAD_JWT_SECRET_ID"] = secret(r, n.JWTSecret())
		m["MAD_JWT_ALG"] = "HS256"
	}
	if f.Needs.Storage {
		m["MAD_ARTIFACTS_BUCKET"] = r.ArtifactsBucket
		m["MAD_UPLOADS_BUCKET"] = r.UploadsBucket
		m["MAD_KMS_KEY_ID"] = r.KeyARN
	}
	if f.Needs.Queue {
		m["MAD_JOBS_QUEUE_URL"] = r.Queues[string(stack.QueueJobs)].URL
		m["MAD_UPLOADS_QUEUE_URL"] = r.Queues[string(stack.QueueUploads)].URL
	}
	if f.Needs.Engine {
		m["MAD_VINA_PATH"] = lookPath("vina")
		if in.VinaPath != "" {
			m["MAD_VINA_PATH"] = in.VinaPath
		}
		m["MAD_OBABEL_PATH"] = lookPath("obabel")
		m["MAD_SCRATCH_DIR"] = in.ScratchDir
		m["MAD_JOBS_MAX_RECEIVE_COUNT"] = strconv.Itoa(stack.JobsMaxReceiveCount)
	}
	if f.Needs.Root {
		m["MAD_ROOT_SECRET_ID"] = secret(r, n.RootSecret())
	}
	return m
}

// secret returns the ARN of the secret named name (the CDK stack passes
// ARNs, and Secrets Manager hands rotation functions the ARN), or the name.
func secret(r *provision.Resources, name string) string {
	if arn := r.SecretARNs[name]; arn != "" {
		return arn
	}
	return name
}

func lookPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

// Lambda returns the variables Lambda itself sets.
func Lambda(f stack.Function, n stack.Names) map[string]string {
	name := n.FunctionName(f.Name)
	return map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(f.TimeoutSeconds),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "local",
		"TZ":                              "UTC",
		"LANG":                            "C.UTF-8",
	}
}

// Env returns the full environment (KEY=VALUE, sorted) of fn's emulator.
func Env(f stack.Function, in Inputs) []string {
	environ := in.Environ
	if environ == nil {
		environ = os.Environ()
	}
	m := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME":
			m[k] = v
		case strings.HasPrefix(k, "MAD_") && !hasAnyPrefix(k, devstackOwn):
			m[k] = v // tuning knobs of shared/config (TTLs, pool sizes...)
		case strings.HasPrefix(k, "FAKEVINA_") && f.Needs.Engine && in.VinaPath != "":
			m[k] = v // scripts/fakevina's knobs
		}
	}
	if m["PATH"] == "" {
		m["PATH"] = "/usr/local/bin:/usr/bin:/bin"
	}
	m["TMPDIR"] = os.TempDir()
	for k, v := range Lambda(f, in.Names) {
		m[k] = v
	}
	for k, v := range Config(f, in) {
		m[k] = v
	}
	return List(m)
}

func hasAnyPrefix(s string, ps []string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// List renders m as sorted KEY=VALUE strings.
func List(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Exports renders KEY=VALUE pairs as shell export lines, single-quoted.
func Exports(env []string) string {
	var b strings.Builder
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+,=", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ScratchDir is the engine's scratch directory under a state dir.
func ScratchDir(stateDir string) string { return filepath.Join(stateDir, "scratch") }
