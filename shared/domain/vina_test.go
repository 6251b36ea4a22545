package domain

import (
	"math"
	"testing"
)

func f3(a, b, c float64) *[3]float64 { return &[3]float64{a, b, c} }
func ip(i int) *int                  { return &i }
func fp(f float64) *float64          { return &f }

func TestVinaParamsResolveChecksEveryBound(t *testing.T) {
	base := VinaParamsPatch{Center: f3(15.19, 53.903, 16.917), Size: f3(20, 20, 20)}
	cases := []struct {
		name  string
		patch VinaParamsPatch
		field string // "" = valid
	}{
		{"defaults fill the rest", VinaParamsPatch{}, ""},
		{"size too small", VinaParamsPatch{Size: f3(0.5, 20, 20)}, "params.size[0]"},
		{"box of 500 Angstrom", VinaParamsPatch{Size: f3(500, 20, 20)}, "params.size[0]"},
		{"NaN center", VinaParamsPatch{Center: f3(math.NaN(), 0, 0)}, "params.center[0]"},
		{"infinite center", VinaParamsPatch{Center: f3(0, math.Inf(1), 0)}, "params.center[1]"},
		{"exhaustiveness 0", VinaParamsPatch{Exhaustiveness: ip(0)}, "params.exhaustiveness"},
		{"exhaustiveness 33", VinaParamsPatch{Exhaustiveness: ip(33)}, "params.exhaustiveness"},
		{"num_modes 21", VinaParamsPatch{NumModes: ip(21)}, "params.num_modes"},
		{"energy_range 0.4", VinaParamsPatch{EnergyRange: fp(0.4)}, "params.energy_range"},
		{"timeout 9", VinaParamsPatch{TimeoutSeconds: ip(9)}, "params.timeout_seconds"},
		{"timeout 841", VinaParamsPatch{TimeoutSeconds: ip(841)}, "params.timeout_seconds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.patch.Over(base).Resolve("params", VinaParamsPatch{})
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p.Exhaustiveness != 8 || p.NumModes != 9 || p.EnergyRange != 3 || p.TimeoutSeconds != 600 {
					t.Fatalf("defaults not applied: %+v", p)
				}
				return
			}
			de, ok := AsError(err)
			if !ok || de.Code != CodeValidation {
				t.Fatalf("got %v, want VALIDATION_FAILED", err)
			}
			if _, ok := de.Fields[c.field]; !ok {
				t.Fatalf("fields %v do not name %s", de.Fields, c.field)
			}
		})
	}
}

func TestCenterAndSizeAreRequired(t *testing.T) {
	_, err := VinaParamsPatch{}.Resolve("params", VinaParamsPatch{})
	de, _ := AsError(err)
	if de == nil || de.Fields["params.center"] == "" || de.Fields["params.size"] == "" {
		t.Fatalf("missing center/size not reported: %v", err)
	}
}

func TestInputSignatureIgnoresTimeoutButNotScienceParams(t *testing.T) {
	p := VinaParams{Center: [3]float64{1, 2, 3}, Size: [3]float64{20, 20, 20}, Exhaustiveness: 8, NumModes: 9, EnergyRange: 3, TimeoutSeconds: 600}
	in := SignatureInput{Engine: "vina", EngineVersion: "1.2.3", Params: p, ReceptorSHA256: "a", LigandSHA256: "b", ReceptorFormat: FormatPDBQT, LigandFormat: FormatPDBQT}
	base := InputSignature(in)
	q := in
	q.Params.TimeoutSeconds = 60
	if InputSignature(q) != base {
		t.Fatal("timeout changed the signature")
	}
	q = in
	q.Params.Exhaustiveness = 9
	if InputSignature(q) == base {
		t.Fatal("exhaustiveness did not change the signature")
	}
	q = in
	seed := int64(42)
	q.Params.Seed = &seed
	if InputSignature(q) == base {
		t.Fatal("seed did not change the signature")
	}
	q = in
	q.LigandSHA256 = "c"
	if InputSignature(q) == base {
		t.Fatal("ligand content did not change the signature")
	}
}
