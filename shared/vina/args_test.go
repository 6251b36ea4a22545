package vina

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/domain"
)

func exampleParams() domain.VinaParams {
	return domain.VinaParams{
		Center:         [3]float64{15.190, 53.903, 16.917},
		Size:           [3]float64{20, 20, 20},
		Exhaustiveness: 1,
		NumModes:       3,
		EnergyRange:    3,
		TimeoutSeconds: 120,
	}
}

func TestVinaArgs(t *testing.T) {
	seed := int64(42)
	withSeed := exampleParams()
	withSeed.Seed = &seed
	odd := exampleParams()
	odd.Center = [3]float64{-0.0, 1e-7, -9999.5}
	odd.Size = [3]float64{1, 126, 22.125}
	odd.EnergyRange = 0.5

	for _, tc := range []struct {
		name string
		p    domain.VinaParams
		cpus int
		want []string
	}{
		{"seed absent", exampleParams(), 1, []string{
			"--receptor", "receptor.pdbqt", "--ligand", "ligand.pdbqt",
			"--center_x", "15.19", "--center_y", "53.903", "--center_z", "16.917",
			"--size_x", "20", "--size_y", "20", "--size_z", "20",
			"--exhaustiveness", "1", "--num_modes", "3", "--energy_range", "3",
			"--cpu", "1", "--out", "out.pdbqt",
		}},
		{"seed present", withSeed, 2, []string{
			"--receptor", "receptor.pdbqt", "--ligand", "ligand.pdbqt",
			"--center_x", "15.19", "--center_y", "53.903", "--center_z", "16.917",
			"--size_x", "20", "--size_y", "20", "--size_z", "20",
			"--exhaustiveness", "1", "--num_modes", "3", "--energy_range", "3",
			"--cpu", "2", "--seed", "42", "--out", "out.pdbqt",
		}},
		// 'f' formatting: no exponent (vina's parser would accept one, but a
		// plain decimal is what the log shows users) and no "-0".
		{"formatting", odd, 1, []string{
			"--receptor", "receptor.pdbqt", "--ligand", "ligand.pdbqt",
			"--center_x", "0", "--center_y", "0.0000001", "--center_z", "-9999.5",
			"--size_x", "1", "--size_y", "126", "--size_z", "22.125",
			"--exhaustiveness", "1", "--num_modes", "3", "--energy_range", "0.5",
			"--cpu", "1", "--out", "out.pdbqt",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := vinaArgs(tc.p, tc.cpus)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("argv\n got %q\nwant %q", got, tc.want)
			}
			assertArgvSafe(t, got)
		})
	}
}

// assertArgvSafe checks that every argument is a known flag, one of the
// fixed file names, or a number: nothing else (no path, no user string)
// can reach vina's command line.
func assertArgvSafe(t *testing.T, argv []string) {
	t.Helper()
	allowed := map[string]bool{
		"--receptor": true, "--ligand": true, "--out": true, "--seed": true, "--cpu": true,
		"--center_x": true, "--center_y": true, "--center_z": true,
		"--size_x": true, "--size_y": true, "--size_z": true,
		"--exhaustiveness": true, "--num_modes": true, "--energy_range": true,
		receptorPDBQT: true, ligandPDBQT: true, outPDBQT: true,
	}
	for _, a := range argv {
		if allowed[a] {
			continue
		}
		if _, err := strconv.ParseFloat(a, 64); err != nil || strings.ContainsAny(a, "eE") {
			t.Errorf("argv element %q is neither a fixed token nor a plain number", a)
		}
	}
}

func TestVinaArgsRejects(t *testing.T) {
	mod := func(f func(p *domain.VinaParams)) domain.VinaParams {
		p := exampleParams()
		f(&p)
		return p
	}
	i64 := func(v int64) *int64 { return &v }
	for name, p := range map[string]domain.VinaParams{
		"NaN center":          mod(func(p *domain.VinaParams) { p.Center[1] = math.NaN() }),
		"infinite center":     mod(func(p *domain.VinaParams) { p.Center[0] = math.Inf(1) }),
		"huge center":         mod(func(p *domain.VinaParams) { p.Center[2] = 1e300 }),
		"zero size":           mod(func(p *domain.VinaParams) { p.Size[0] = 0 }),
		"size over 126":       mod(func(p *domain.VinaParams) { p.Size[2] = 127 }),
		"exhaustiveness 0":    mod(func(p *domain.VinaParams) { p.Exhaustiveness = 0 }),
		"num_modes 21":        mod(func(p *domain.VinaParams) { p.NumModes = 21 }),
		"energy_range NaN":    mod(func(p *domain.VinaParams) { p.EnergyRange = math.NaN() }),
		"seed 0 (random)":     mod(func(p *domain.VinaParams) { p.Seed = i64(0) }),
		"seed over int32":     mod(func(p *domain.VinaParams) { p.Seed = i64(math.MaxInt32 + 1) }),
		"no timeout":          mod(func(p *domain.VinaParams) { p.TimeoutSeconds = 0 }),
		"negative timeout":    mod(func(p *domain.VinaParams) { p.TimeoutSeconds = -5 }),
		"negative exhaustive": mod(func(p *domain.VinaParams) { p.Exhaustiveness = -1 }),
	} {
		_, err := vinaArgs(p, 1)
		var ie *InputError
		if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &ie) || ie.Input != "params" {
			t.Errorf("%s: err = %v, want an invalid params error", name, err)
		}
	}
	// The timeout is the only bound relaxed (tests use 1 s).
	p := exampleParams()
	p.TimeoutSeconds = 1
	if _, err := vinaArgs(p, 1); err != nil {
		t.Errorf("TimeoutSeconds=1: %v", err)
	}
	if _, err := vinaArgs(exampleParams(), 0); err == nil {
		t.Error("cpus=0 accepted")
	}
}
