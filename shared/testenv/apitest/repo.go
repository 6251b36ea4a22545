package apitest

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// root finds the repository root once per test binary: the nearest
// directory at or above the working directory (a test's package
// directory) that holds go.mod.
var root = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("apitest: no go.mod in the working directory or above it")
		}
		dir = parent
	}
})

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := root()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// EventsDir returns the repository's sample events folder, events/.
func EventsDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "events")
}

// ReadEvent returns the bytes of the sample event events/<rel> (rel is
// slash-separated).
func ReadEvent(t testing.TB, rel string) []byte {
	t.Helper()
	return readFile(t, filepath.Join(EventsDir(t), filepath.FromSlash(rel)))
}

// Testdata returns the bytes of shared/testdata/<rel> (rel is
// slash-separated), e.g. "1iep/1iep_ligand.sdf".
func Testdata(t testing.TB, rel string) []byte {
	t.Helper()
	return readFile(t, filepath.Join(RepoRoot(t), "shared", "testdata", filepath.FromSlash(rel)))
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
