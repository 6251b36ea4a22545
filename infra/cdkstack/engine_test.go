package cdkstack_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mad-bio/mad/infra/cdkstack"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	c, err := cdkstack.NewConfig(func(string) any { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return c.RepoRoot
}

func TestEngineBaseImagesArePinnedAndTheDockerfileMatchesTheLock(t *testing.T) {
	root := repoRoot(t)
	lock, err := cdkstack.ReadBaseImageLock(root)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, cdkstack.EngineDockerfile))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	defaults := cdkstack.DockerfileArgDefaults(df)
	for _, k := range lock.Keys {
		if defaults[k] != lock.Values[k] {
			t.Errorf("Dockerfile ARG %s=%q, lock has %q: run make engine-image-bump or fix by hand", k, defaults[k], lock.Values[k])
		}
	}
	if !strings.HasPrefix(lock.Values["GO_IMAGE"], "golang:") || !strings.Contains(lock.Values["BASE_IMAGE"], "debian:bookworm-slim@sha256:") {
		t.Errorf("base images %v", lock.Values)
	}
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build", "FROM ${BASE_IMAGE}",
		"-tags lambda.norpc", "./functions/engine", "--no-install-recommends autodock-vina openbabel ca-certificates",
		"USER 10001:10001", `ENTRYPOINT ["/usr/local/bin/engine"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

func TestBaseImageLockRejectsUnpinnedImages(t *testing.T) {
	for _, bad := range []string{
		"GO_IMAGE=golang:1.26-bookworm\nBASE_IMAGE=debian:bookworm-slim@" + cdkstack.PlaceholderDigest,
		"GO_IMAGE=golang@" + cdkstack.PlaceholderDigest + "\nBASE_IMAGE=debian:bookworm-slim@" + cdkstack.PlaceholderDigest,
		"BASE_IMAGE=debian:bookworm-slim@" + cdkstack.PlaceholderDigest,
	} {
		if _, err := cdkstack.ParseBaseImageLock(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestSetPinsRewritesLockAndDockerfileAlike(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	in := "# c\nGO_IMAGE=golang:1.26.8-bookworm@" + cdkstack.PlaceholderDigest + "\nARG GO_IMAGE=golang:1.26.8-bookworm@" + cdkstack.PlaceholderDigest + "\nOTHER=x"
	out := cdkstack.SetPins(in, map[string]string{"GO_IMAGE": "golang:1.26.8-bookworm@" + d})
	if strings.Count(out, d) != 2 || !strings.Contains(out, "OTHER=x") || !strings.HasPrefix(out, "# c\n") {
		t.Errorf("SetPins = %q", out)
	}
}

func TestEngineBuildContextExcludesMatchTheDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "functions/engine/Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	want := append([]string(nil), cdkstack.EngineAssetExclude...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Dockerfile.dockerignore %v != EngineAssetExclude %v", got, want)
	}
	// What CDK staged for the dev stack is exactly the engine's inputs.
	staged := engineAssetDir(t, devStack.get(t))
	for _, want := range []string{"go.mod", "go.sum", "functions/engine/Dockerfile", "shared", "migrations"} {
		if _, err := os.Stat(filepath.Join(staged, want)); err != nil {
			t.Errorf("engine build context lacks %s", want)
		}
	}
	entries, _ := os.ReadDir(staged)
	for _, e := range entries {
		switch e.Name() {
		case "go.mod", "go.sum", "functions", "shared", "migrations":
		default:
			t.Errorf("engine build context holds %s", e.Name())
		}
	}
	_ = filepath.WalkDir(staged, func(p string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, "_test.go") || d.Name() == "testdata") {
			t.Errorf("engine build context holds %s", p)
		}
		return nil
	})
}

// engineAssetDir finds the staged engine image asset of a synthesis.
func engineAssetDir(t *testing.T, s *synthesized) string {
	t.Helper()
	entries, err := os.ReadDir(s.outdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		d := filepath.Join(s.outdir, e.Name())
		if _, err := os.Stat(filepath.Join(d, cdkstack.EngineDockerfile)); err == nil {
			return d
		}
	}
	t.Fatalf("no staged engine asset in %s", s.outdir)
	return ""
}
