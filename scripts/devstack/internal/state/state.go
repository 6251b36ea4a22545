// Package state holds the local stack's on-disk state: the state directory
// layout, the credentials generated once, and the runtime file that tells
// `devstack env` and `devstack invoke` how to reach a running stack.
package state

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is a state directory (".state" at the repository root by default).
type Dir struct{ Path string }

// PG is the Postgres cluster's data directory.
func (d Dir) PG() string { return filepath.Join(d.Path, "pg") }

// Logs holds one log file per child process.
func (d Dir) Logs() string { return filepath.Join(d.Path, "logs") }

// AWS holds the snapshot of S3 objects and secrets taken at shutdown.
func (d Dir) AWS() string { return filepath.Join(d.Path, "aws") }

// Credentials is the file of generated passwords.
func (d Dir) Credentials() string { return filepath.Join(d.Path, "credentials.json") }

// Runtime is the file describing the running stack.
func (d Dir) Runtime() string { return filepath.Join(d.Path, "runtime.json") }

// Credentials are generated on first start and kept.
type Credentials struct {
	OwnerPassword string `json:"owner_password"`
	AppPassword   string `json:"app_password"`
}

// LoadOrCreateCredentials reads the credentials file, generating missing
// values (and the file) on first use.
func (d Dir) LoadOrCreateCredentials() (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(d.Credentials())
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("%s: %w", d.Credentials(), err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return c, err
	}
	changed := false
	for _, p := range []*string{&c.OwnerPassword, &c.AppPassword} {
		if *p == "" {
			*p = Random(32)
			changed = true
		}
	}
	if changed {
		if err := WriteJSON(d.Credentials(), c, 0o600); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Runtime describes a running stack.
type Runtime struct {
	PID         int    `json:"pid"`
	Stage       string `json:"stage"`
	Region      string `json:"region"`
	Account     string `json:"account"`
	GatewayURL  string `json:"gateway_url"`
	AWSEndpoint string `json:"aws_endpoint"`
	KeyARN      string `json:"key_arn"`
	// FunctionEnv is the environment each function runs with (without
	// the process environment), by function name.
	FunctionEnv map[string][]string `json:"function_env"`
	DatabaseURL string              `json:"database_url"` // the application role's URL
	AdminURL    string              `json:"admin_url"`    // the owner's URL
	// SuperURL is the superuser's (Unix socket) URL of devstack's own
	// cluster, empty with DATABASE_URL; backups need it to read past the
	// forced row-level security.
	SuperURL string `json:"super_url,omitempty"`
	// PGDataDir is the data directory of devstack's own cluster.
	PGDataDir string `json:"pg_data_dir,omitempty"`
	// Instances lists, per function, each emulator instance's processes
	// (MAD_LOCAL_FAULTS or MAD_LOCAL_S3_FAULTS only; refreshed while the
	// stack runs, as instances are restarted and runtimes re-initialised).
	Instances map[string][]Instance `json:"instances,omitempty"`
	// Faults is the fault injection of MAD_LOCAL_FAULTS / MAD_LOCAL_S3_FAULTS.
	Faults *Faults `json:"faults,omitempty"`
}

// Instance is one emulator instance of a function.
type Instance struct {
	Index        int    `json:"index"`
	Address      string `json:"address"`
	RIEPID       int    `json:"rie_pid"`
	BootstrapPID int    `json:"bootstrap_pid,omitempty"`
	Restarts     int    `json:"restarts"`
	Busy         bool   `json:"busy"`
}

// Faults describes the fault injection endpoints (scripts/devstack/internal/faults).
type Faults struct {
	// AdminURL serves POST/GET/DELETE /faults, GET /requests and
	// POST /postgres/stop|start.
	AdminURL string `json:"admin_url"`
	// S3ProxyURL is the fault proxy in front of the AWS endpoint, used as
	// AWS_ENDPOINT_URL by S3ProxyFunctions.
	S3ProxyURL       string   `json:"s3_proxy_url,omitempty"`
	S3ProxyFunctions []string `json:"s3_proxy_functions,omitempty"`
}

// ReadRuntime reads the runtime file of a running stack.
func (d Dir) ReadRuntime() (Runtime, error) {
	var r Runtime
	b, err := os.ReadFile(d.Runtime())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return r, fmt.Errorf("no running local stack (%s missing): start it with `make dev`", d.Runtime())
		}
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

// WriteJSON writes v as indented JSON atomically.
func WriteJSON(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Random returns n random alphanumerics (crypto/rand, unbiased).
func Random(n int) string {
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			// 62*4 = 248: reject 248..255 to keep the distribution uniform.
			if b < 248 && len(out) < n {
				out = append(out, alnum[int(b)%62])
			}
		}
	}
	return string(out)
}
