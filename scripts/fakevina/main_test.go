package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/vina"
)

// build compiles fakevina into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakevina")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.TrimSpace(out.String()) != "AutoDock Vina v1.2.3" {
		t.Errorf("--version printed %q", out.String())
	}
	out.Reset()
	fail := func(k string) string {
		if k == "FAKEVINA_FAIL" {
			return "version"
		}
		return ""
	}
	if code := run([]string{"--version"}, &out, &errb, fail); code == 0 || out.Len() != 0 {
		t.Errorf("FAKEVINA_FAIL=version: exit %d, stdout %q", code, out.String())
	}
}

func TestArgumentErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown option":  {"--bogus", "1"},
		"missing value":   {"--receptor"},
		"not a number":    {"--receptor", "r", "--ligand", "l", "--out", "o", "--center_x", "x"},
		"nan":             {"--center_x", "NaN"},
		"required absent": {"--receptor", "r", "--ligand", "l"},
		"positional":      {"r.pdbqt"},
		"twice":           {"--cpu", "1", "--cpu", "2"},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb, func(string) string { return "" }); code != 1 {
			t.Errorf("%s: exit %d, want 1 (vina's)", name, code)
		}
		if !strings.Contains(errb.String(), "Command line parse error") {
			t.Errorf("%s: stderr %q", name, errb.String())
		}
	}
}

func TestTrimKeepsNumModes(t *testing.T) {
	for _, n := range []int{1, 2, 4, 9} {
		models, results := trim(canned, n)
		want := min(n, 4)
		if got := bytes.Count(models, []byte("\nMODEL ")) + boolInt(bytes.HasPrefix(models, []byte("MODEL "))); got != want || len(results) != want {
			t.Errorf("num_modes %d: %d models, %d results, want %d", n, got, len(results), want)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func params() domain.VinaParams {
	seed := int64(42)
	return domain.VinaParams{Center: [3]float64{15.19, 53.903, 16.917}, Size: [3]float64{20, 20, 20},
		Exhaustiveness: 1, NumModes: 3, EnergyRange: 3, Seed: &seed, TimeoutSeconds: 60}
}

// TestEngineAdapterAcceptsIt runs shared/vina's Runner (the engine's exact
// argument list and output handling, with the real obabel) on fakevina.
func TestEngineAdapterAcceptsIt(t *testing.T) {
	if _, err := exec.LookPath(vina.DefaultObabelPath); err != nil {
		t.Skip("obabel not installed")
	}
	bin := build(t)
	dir := t.TempDir()
	copyIn := func(name string) vina.Input {
		b, err := os.ReadFile(filepath.Join("..", "..", "shared", "testdata", "1iep", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return vina.Input{Path: p, Format: domain.FormatPDBQT}
	}
	r := &vina.Runner{VinaPath: bin, CPUs: 1, Logger: slog.New(slog.DiscardHandler)}
	req := vina.Request{ScratchDir: dir, Receptor: copyIn("1iep_receptor.pdbqt"), Ligand: copyIn("1iep_ligand.pdbqt"), Params: params()}

	t.Setenv("FAKEVINA_SLEEP", "10ms")
	res, err := r.Dock(context.Background(), req)
	if err != nil {
		t.Fatalf("Dock: %v", err)
	}
	if res.VinaVersion != "1.2.3" || len(res.Poses) != 3 || res.Poses[0].Affinity != -13.234 || res.Seed != 42 {
		t.Errorf("result: version %q, %d poses %+v, seed %d", res.VinaVersion, len(res.Poses), res.Poses, res.Seed)
	}
	if !bytes.Contains(res.PosesSDF, []byte("$$$$")) || !bytes.Contains(res.Log, []byte("mode |   affinity")) {
		t.Errorf("SDF or log missing: %d SDF bytes, log %q", len(res.PosesSDF), res.Log)
	}

	// FAKEVINA_FAIL=invalid is read by the adapter as vina's input error.
	t.Setenv("FAKEVINA_FAIL", "invalid")
	_, err = r.Dock(context.Background(), req)
	if !errors.Is(err, vina.ErrInvalidInput) {
		t.Errorf("FAKEVINA_FAIL=invalid: %v, want ErrInvalidInput", err)
	}
	// crash is not an input error: the engine retries it.
	t.Setenv("FAKEVINA_FAIL", "crash")
	_, err = r.Dock(context.Background(), req)
	if err == nil || errors.Is(err, vina.ErrInvalidInput) {
		t.Errorf("FAKEVINA_FAIL=crash: %v, want a transient error", err)
	}
	// Only the listed seeds fail.
	t.Setenv("FAKEVINA_FAIL_SEEDS", "7,8")
	if _, err := r.Dock(context.Background(), req); err != nil {
		t.Errorf("seed 42 not listed, yet: %v", err)
	}
	// The sleep is honoured and a hang is ended by the run's timeout.
	t.Setenv("FAKEVINA_FAIL", "hang")
	t.Setenv("FAKEVINA_FAIL_SEEDS", "")
	p := params()
	p.TimeoutSeconds = 1
	req.Params = p
	start := time.Now()
	if _, err := r.Dock(context.Background(), req); !errors.Is(err, vina.ErrTimeout) {
		t.Errorf("hang: %v, want ErrTimeout", err)
	}
	t.Logf("hang stopped after %s", time.Since(start).Round(time.Millisecond))
}
