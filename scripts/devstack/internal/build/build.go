// Package build finds the repository, builds the functions' Linux
// bootstraps for this machine exactly like `make build-local`
// (build/local/<name>/bootstrap), and installs the Lambda Runtime
// Interface Emulator.
package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mad-bio/mad/shared/stack"
)

// RIEModule is the emulator version the Go module proxy serves.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// RepoRoot walks up from dir to the directory holding this module's go.mod.
func RepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/mad-bio/mad\n")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("not inside the github.com/mad-bio/mad module (go.mod not found)")
		}
		d = parent
	}
}

// EnsureRIE returns the path of aws-lambda-rie in binDir, installing it
// with `go install` when missing.
func EnsureRIE(ctx context.Context, root, binDir string) (string, error) {
	p := filepath.Join(binDir, "aws-lambda-rie")
	if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
		return p, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "install", RIEModule)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+binDir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w\n%s", RIEModule, err, out)
	}
	return p, nil
}

// Present splits stack.Functions into those whose <root>/<dir>/<name>
// directory holds Go files and those that are missing.
func Present(root, dir string) (present []stack.Function, missing []string) {
	for _, f := range stack.Functions {
		files, _ := filepath.Glob(filepath.Join(root, dir, f.Name, "*.go"))
		if len(files) == 0 {
			missing = append(missing, f.Name)
			continue
		}
		present = append(present, f)
	}
	return present, missing
}

// BootstrapPath is where fn's bootstrap is built.
func BootstrapPath(outDir, fn string) string { return filepath.Join(outDir, fn, "bootstrap") }

// Functions builds functions/<name> into outDir/<name>/bootstrap with the
// Makefile's flags. It builds all at once (one go invocation shares the
// work); when that fails it builds each alone so one broken function does
// not hide the others. It returns the errors of the functions that failed.
func Functions(ctx context.Context, root, outDir string, names []string) map[string]error {
	if len(names) == 0 {
		return nil
	}
	tmp := filepath.Join(outDir, ".bin")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return all(names, err)
	}
	var pkgs []string
	for _, n := range names {
		pkgs = append(pkgs, "./functions/"+n)
	}
	if err := goBuild(ctx, root, tmp+string(filepath.Separator), pkgs...); err == nil {
		failed := map[string]error{}
		for _, n := range names {
			if err := place(filepath.Join(tmp, n), BootstrapPath(outDir, n)); err != nil {
				failed[n] = err
			}
		}
		return failed
	}
	failed := map[string]error{}
	for _, n := range names {
		if err := goBuild(ctx, root, BootstrapPath(outDir, n), "./functions/"+n); err != nil {
			failed[n] = err
		}
	}
	return failed
}

func all(names []string, err error) map[string]error {
	m := map[string]error{}
	for _, n := range names {
		m[n] = err
	}
	return m
}

func place(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.Rename(from, to)
}

// goBuild runs the Makefile's build-local command (GOARCH: this machine's):
// CGO_ENABLED=0 GOOS=linux go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o OUT PKGS.
func goBuild(ctx context.Context, root, out string, pkgs ...string) error {
	args := append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Binary builds one package (any GOOS=linux main package, e.g. a test
// Lambda) into out with the bootstrap flags.
func Binary(ctx context.Context, root, out, pkg string) error {
	return goBuild(ctx, root, out, pkg)
}
