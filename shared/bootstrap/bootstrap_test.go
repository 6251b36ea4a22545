package bootstrap_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	jobsBin   string
	buildErr  error
)

// buildJobs compiles functions/jobs once per test binary: it needs the
// database, storage and the queue, so its cold start checks them all.
func buildJobs(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mad-coldstart-")
		if err != nil {
			buildErr = err
			return
		}
		jobsBin = filepath.Join(dir, "jobs")
		out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", jobsBin, "../../functions/jobs").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build functions/jobs: %v", buildErr)
	}
	return jobsBin
}

// coldStart runs a function binary outside Lambda: a misconfigured one
// must exit before it would ever reach the runtime API.
func coldStart(t *testing.T, bin string, env ...string) (int, []map[string]any) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	return code, lines
}

func TestMisconfiguredFunctionFailsAtColdStartWithOneLineNamingWhatIsMissing(t *testing.T) {
	t.Parallel()
	bin := buildJobs(t)
	code, lines := coldStart(t, bin)
	if code == 0 || len(lines) != 1 {
		t.Fatalf("exit %d, %d log lines %v; want a non-zero exit and exactly one line", code, len(lines), lines)
	}
	msg := fmt.Sprint(lines[0]["msg"], " ", lines[0]["err"])
	for _, name := range []string{"AWS_REGION", "MAD_DB_SECRET_ID", "MAD_ARTIFACTS_BUCKET", "MAD_UPLOADS_BUCKET", "MAD_KMS_KEY_ID", "MAD_JOBS_QUEUE_URL"} {
		if !strings.Contains(msg, name) {
			t.Errorf("the cold-start line does not name %s: %s", name, msg)
		}
	}
	if lines[0]["level"] != "ERROR" || lines[0]["function"] != "jobs" {
		t.Errorf("line %v: want level ERROR and function jobs", lines[0])
	}
}

func TestMalformedSettingFailsAtColdStart(t *testing.T) {
	t.Parallel()
	bin := buildJobs(t)
	code, lines := coldStart(t, bin, "AWS_REGION=us-east-1", "MAD_DATABASE_URL=postgres://x@127.0.0.1:1/x", "MAD_ACCESS_TOKEN_TTL=forever")
	if code == 0 || len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0]["err"]), "MAD_ACCESS_TOKEN_TTL") {
		t.Fatalf("exit %d, lines %v; want one line naming MAD_ACCESS_TOKEN_TTL", code, lines)
	}
}

func TestUnreachableDatabaseFailsAtColdStart(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	bin := buildJobs(t)
	code, lines := coldStart(t, bin, "AWS_REGION=us-east-1", fmt.Sprintf("MAD_DATABASE_URL=postgres://mad:x@127.0.0.1:%d/mad?sslmode=disable", port),
		"MAD_ARTIFACTS_BUCKET=a", "MAD_UPLOADS_BUCKET=u", "MAD_KMS_KEY_ID=k", "MAD_JOBS_QUEUE_URL=http://127.0.0.1:1/q")
	if code == 0 || len(lines) != 1 {
		t.Fatalf("exit %d, lines %v; want a non-zero exit and one line", code, lines)
	}
	if m := fmt.Sprint(lines[0]["msg"]); !strings.Contains(m, "database") {
		t.Fatalf("line %v does not say the database failed", lines[0])
	}
}
