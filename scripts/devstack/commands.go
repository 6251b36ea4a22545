package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/build"
	"github.com/mad-bio/mad/scripts/devstack/internal/fnenv"
	"github.com/mad-bio/mad/scripts/devstack/internal/rie"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/stack"
)

func cmdUp(ctx context.Context) error {
	o, err := optionsFromEnv()
	if err != nil {
		return err
	}
	s, err := Start(ctx, o)
	if err != nil {
		return err
	}
	defer s.Stop()
	fmt.Fprintf(o.Out, "\nMAD local stack: %s   (root user %s; `go run ./scripts/devstack env` for the aws CLI)\n\n", s.URL, o.RootEmail)
	if err := s.WaitReady(ctx, 2*time.Minute); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("not ready: %w", err)
	}
	s.ready("ready", "GET %s/ready -> 200 after %s", s.URL, time.Since(s.start).Round(100*time.Millisecond))
	if err := s.Wait(ctx); err != nil {
		return err
	}
	fmt.Fprintln(o.Out, "\nstopping...")
	return nil
}

// stateDir is the state dir of a running stack for the client commands.
func stateDir() (state.Dir, error) {
	root, err := build.RepoRoot(".")
	if err != nil {
		return state.Dir{}, err
	}
	return state.Dir{Path: envStr("MAD_LOCAL_STATE_DIR", filepath.Join(root, ".state"))}, nil
}

func cmdEnv(args []string) error {
	st, err := stateDir()
	if err != nil {
		return err
	}
	rt, err := st.ReadRuntime()
	if err != nil {
		return err
	}
	if len(args) == 1 {
		env, ok := rt.FunctionEnv[args[0]]
		if !ok {
			return fmt.Errorf("unknown function %q (one of %s)", args[0], strings.Join(routes.AllFunctions, ", "))
		}
		fmt.Printf("# environment of %s in the running local stack (run ./build/local/%s/bootstrap under aws-lambda-rie, or go run ./functions/%s with AWS_LAMBDA_RUNTIME_API)\n", args[0], args[0], args[0])
		fmt.Print(fnenv.Exports(withoutBase(env)))
		return nil
	}
	// The union of every function's configuration, for the aws CLI and tools.
	m := map[string]string{}
	for _, env := range rt.FunctionEnv {
		for _, kv := range withoutBase(env) {
			k, v, _ := strings.Cut(kv, "=")
			if !strings.HasPrefix(k, "AWS_LAMBDA_") {
				m[k] = v
			}
		}
	}
	m["MAD_API_URL"] = rt.GatewayURL
	m["MAD_DATABASE_URL"] = rt.DatabaseURL
	m["MAD_DATABASE_ADMIN_URL"] = rt.AdminURL
	fmt.Println("# the running local stack; eval \"$(go run ./scripts/devstack env)\" then e.g. aws s3 ls, aws sqs list-queues")
	fmt.Print(fnenv.Exports(fnenv.List(m)))
	return nil
}

// withoutBase drops the process basics (PATH, HOME, TMPDIR) from env.
func withoutBase(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "HOME", "TMPDIR", "LANG", "TZ":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// oneShot starts a fresh single emulator for fn with the running stack's
// environment, rebuilding the function first.
func oneShot(ctx context.Context, fn string) (*rie.Pool, string, error) {
	f, ok := stack.FunctionByName(fn)
	if !ok {
		return nil, "", fmt.Errorf("unknown function %q (one of %s)", fn, strings.Join(routes.AllFunctions, ", "))
	}
	st, err := stateDir()
	if err != nil {
		return nil, "", err
	}
	rt, err := st.ReadRuntime()
	if err != nil {
		return nil, "", err
	}
	root, _ := build.RepoRoot(".")
	emu, err := build.EnsureRIE(ctx, root, filepath.Join(root, ".state", "bin"))
	if err != nil {
		return nil, "", err
	}
	outDir := filepath.Join(root, "build", "local")
	if failed := buildFunctions(ctx, root, outDir, envStr("MAD_LOCAL_FUNCTIONS", "functions"), []string{fn}); failed[fn] != nil {
		return nil, "", failed[fn]
	}
	logDir := filepath.Join(st.Logs(), "invoke")
	_ = os.Remove(filepath.Join(logDir, fn+"-0.log"))
	p, err := rie.Start(ctx, rie.Spec{Function: fn, Emulator: emu, Bootstrap: build.BootstrapPath(outDir, fn),
		Env: rt.FunctionEnv[fn], Timeout: time.Duration(f.TimeoutSeconds) * time.Second, Size: 1, LogDir: logDir})
	if err != nil {
		return nil, "", err
	}
	return p, filepath.Join(logDir, fn+"-0.log"), nil
}

func cmdInvoke(ctx context.Context, args []string) (int, error) {
	if len(args) != 2 {
		return 2, errors.New("usage: devstack invoke FUNCTION EVENT.json (- for stdin)")
	}
	var event []byte
	var err error
	if args[1] == "-" {
		event, err = io.ReadAll(os.Stdin)
	} else {
		event, err = os.ReadFile(args[1])
	}
	if err != nil {
		return 1, err
	}
	if !json.Valid(event) {
		return 1, fmt.Errorf("%s is not JSON", args[1])
	}
	p, logPath, err := oneShot(ctx, args[0])
	if err != nil {
		return 1, err
	}
	defer p.Close()
	out, ierr := p.Invoke(ctx, event)
	p.Close()
	if b, err := os.ReadFile(logPath); err == nil {
		os.Stderr.Write(b)
	}
	if ierr != nil {
		return 1, ierr
	}
	fmt.Println(string(out))
	return 0, nil
}

// cmdRotateKeys rotates the JWT signing key the way Secrets Manager does:
// RotateSecret puts an AWSPENDING version id (the ClientRequestToken) on
// the secret, then the rotation function is invoked with the steps
// createSecret, setSecret, testSecret and finishSecret.
func cmdRotateKeys(ctx context.Context) error {
	st, err := stateDir()
	if err != nil {
		return err
	}
	rt, err := st.ReadRuntime()
	if err != nil {
		return err
	}
	c, err := awsx.New(ctx, rt.AWSEndpoint, rt.Region)
	if err != nil {
		return err
	}
	names := stack.Names{Stage: rt.Stage, Account: rt.Account, Region: rt.Region}
	d, err := c.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(names.JWTSecret())})
	if err != nil {
		return fmt.Errorf("describe %s: %w", names.JWTSecret(), err)
	}
	arn := aws.ToString(d.ARN)
	p, logPath, err := oneShot(ctx, routes.FnRotate)
	if err != nil {
		return err
	}
	defer p.Close()
	token := uuid()
	// Secrets Manager's first half: the token becomes an AWSPENDING version
	// without a value (moto_local.py makes moto stop there, like AWS).
	if _, err := c.Secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), ClientRequestToken: aws.String(token),
		RotationLambdaARN: aws.String(fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", names.Region, names.Account, names.FunctionName(routes.FnRotate))),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}}); err != nil {
		return fmt.Errorf("rotate-secret %s: %w", names.JWTSecret(), err)
	}
	fmt.Printf("rotating %s with ClientRequestToken %s\n", names.JWTSecret(), token)
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		ev, _ := json.Marshal(map[string]string{"Step": step, "SecretId": arn, "ClientRequestToken": token})
		t0 := time.Now()
		if _, err := p.Invoke(ctx, ev); err != nil {
			if b, rerr := os.ReadFile(logPath); rerr == nil {
				os.Stderr.Write(b)
			}
			return fmt.Errorf("step %s: %w", step, err)
		}
		fmt.Printf("  %-13s ok (%s)\n", step, time.Since(t0).Round(time.Millisecond))
	}
	d, err = c.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return err
	}
	stages := d.VersionIdsToStages[token]
	if !contains(stages, "AWSCURRENT") {
		return fmt.Errorf("after finishSecret the new version %s has stages %v, not AWSCURRENT", token, stages)
	}
	fmt.Printf("done: version %s is AWSCURRENT; tokens signed with the previous key stay valid while the verifier accepts AWSPREVIOUS\n", token)
	return nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func cmdE2E(ctx context.Context, testArgs []string) (int, error) {
	t0 := time.Now()
	phase := func(name string, since time.Time) {
		fmt.Printf("[e2e %6.1fs] %s (%s)\n", time.Since(t0).Seconds(), name, time.Since(since).Round(100*time.Millisecond))
	}
	o, err := optionsFromEnv()
	if err != nil {
		return 1, err
	}
	tmp, err := os.MkdirTemp("", "mad-e2e-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(tmp)
	// Postgres runs as another OS user under root and must traverse it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 1, err
	}
	o.StateDir = tmp
	o.Ephemeral = true
	o.DatabaseURL, o.AWSEndpoint = "", ""
	o.Stage = "e2e"
	if o.Port, err = freePort(); err != nil {
		return 1, err
	}
	if o.PGPort, err = freePort(); err != nil {
		return 1, err
	}
	if o.AWSPort, err = freePort(); err != nil {
		return 1, err
	}
	if o.Visibility == 0 {
		o.Visibility = 5
	}
	if o.SweepPeriod == 0 {
		o.SweepPeriod = 10 * time.Second
	}
	o.Out = os.Stdout
	tStart := time.Now()
	s, err := Start(ctx, o)
	if err != nil {
		return 1, err
	}
	defer s.Stop()
	phase("stack started", tStart)
	tReady := time.Now()
	if err := s.WaitReady(ctx, 2*time.Minute); err != nil {
		return 1, fmt.Errorf("stack not ready: %w", err)
	}
	phase("GET /ready 200", tReady)
	tTest := time.Now()
	args := append([]string{"test", "./scripts/e2e", "-count=1", "-v"}, testArgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = o.Root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"MAD_E2E_URL="+s.URL,
		"MAD_E2E_AWS_ENDPOINT="+s.runtime.AWSEndpoint,
		"MAD_E2E_STAGE="+s.runtime.Stage,
		"MAD_E2E_ROOT_EMAIL="+o.RootEmail,
		"MAD_E2E_ROOT_PASSWORD="+o.RootPassword,
		"MAD_E2E_DATABASE_URL="+s.runtime.DatabaseURL,
		"MAD_E2E_VISIBILITY_SECONDS="+fmt.Sprint(o.Visibility),
	)
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 1, err
		}
		code = ee.ExitCode()
	}
	phase(fmt.Sprintf("go test ./scripts/e2e exited %d", code), tTest)
	tStop := time.Now()
	s.Stop()
	phase("stack stopped", tStop)
	return code, nil
}
