package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Vina parameter bounds from the contract.
const (
	MinBoxSize        = 1.0
	MaxBoxSize        = 126.0
	MaxCoordinate     = 10000.0 // Angstrom; anything larger is not a real structure
	MinExhaustiveness = 1
	MaxExhaustiveness = 32
	MinNumModes       = 1
	MaxNumModes       = 20
	MinEnergyRange    = 0.5
	MaxEnergyRange    = 10.0
	MinTimeoutSeconds = 10
	MaxTimeoutSeconds = 840
)

// VinaParams are the fully resolved parameters of a docking run.
type VinaParams struct {
	Center         [3]float64
	Size           [3]float64
	Exhaustiveness int
	NumModes       int
	EnergyRange    float64
	Seed           *int64
	TimeoutSeconds int
}

// VinaParamsPatch is a partial set of parameters: a request's params or a
// pipeline's defaults. Nil means "not given".
type VinaParamsPatch struct {
	Center         *[3]float64
	Size           *[3]float64
	Exhaustiveness *int
	NumModes       *int
	EnergyRange    *float64
	Seed           *int64
	TimeoutSeconds *int
}

// BuiltinVinaDefaults are the defaults of the contract.
func BuiltinVinaDefaults() VinaParamsPatch {
	ex, nm, er, to := 8, 9, 3.0, 600
	return VinaParamsPatch{Exhaustiveness: &ex, NumModes: &nm, EnergyRange: &er, TimeoutSeconds: &to}
}

// Over returns p with every field that o leaves nil taken from base.
func (o VinaParamsPatch) Over(base VinaParamsPatch) VinaParamsPatch {
	out := base
	if o.Center != nil {
		out.Center = o.Center
	}
	if o.Size != nil {
		out.Size = o.Size
	}
	if o.Exhaustiveness != nil {
		out.Exhaustiveness = o.Exhaustiveness
	}
	if o.NumModes != nil {
		out.NumModes = o.NumModes
	}
	if o.EnergyRange != nil {
		out.EnergyRange = o.EnergyRange
	}
	if o.Seed != nil {
		out.Seed = o.Seed
	}
	if o.TimeoutSeconds != nil {
		out.TimeoutSeconds = o.TimeoutSeconds
	}
	return out
}

// ValidateDefaults checks the fields a patch gives (for pipeline defaults),
// with field paths under prefix.
func (o VinaParamsPatch) ValidateDefaults(prefix string) error {
	fe := FieldErrors{}
	o.check(prefix, fe, false)
	return fe.Err()
}

// Resolve applies defaults and checks every bound, returning field errors
// named under prefix (for example "params.size[2]").
func (o VinaParamsPatch) Resolve(prefix string, defaults VinaParamsPatch) (VinaParams, error) {
	m := o.Over(defaults.Over(BuiltinVinaDefaults()))
	fe := FieldErrors{}
	m.check(prefix, fe, true)
	if err := fe.Err(); err != nil {
		return VinaParams{}, err
	}
	return VinaParams{
		Center: *m.Center, Size: *m.Size, Exhaustiveness: *m.Exhaustiveness,
		NumModes: *m.NumModes, EnergyRange: *m.EnergyRange, Seed: m.Seed,
		TimeoutSeconds: *m.TimeoutSeconds,
	}, nil
}

func (o VinaParamsPatch) check(prefix string, fe FieldErrors, required bool) {
	f := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	if o.Center == nil {
		if required {
			fe.Add(f("center"), "required: [x, y, z] in Angstrom")
		}
	} else {
		for i, v := range o.Center {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxCoordinate {
				fe.Add(fmt.Sprintf("%s[%d]", f("center"), i), fmt.Sprintf("must be a finite number within +-%g", MaxCoordinate))
			}
		}
	}
	if o.Size == nil {
		if required {
			fe.Add(f("size"), "required: [x, y, z] in Angstrom, each 1..126")
		}
	} else {
		for i, v := range o.Size {
			if math.IsNaN(v) || v < MinBoxSize || v > MaxBoxSize {
				fe.Add(fmt.Sprintf("%s[%d]", f("size"), i), "must be between 1 and 126")
			}
		}
	}
	intRange(fe, f("exhaustiveness"), o.Exhaustiveness, MinExhaustiveness, MaxExhaustiveness)
	intRange(fe, f("num_modes"), o.NumModes, MinNumModes, MaxNumModes)
	intRange(fe, f("timeout_seconds"), o.TimeoutSeconds, MinTimeoutSeconds, MaxTimeoutSeconds)
	if v := o.EnergyRange; v != nil && (math.IsNaN(*v) || *v < MinEnergyRange || *v > MaxEnergyRange) {
		fe.Add(f("energy_range"), "must be between 0.5 and 10")
	}
	// Vina reads the seed as a 32-bit int and takes 0 to mean "random",
	// which would make a seeded (and cached) run irreproducible.
	if v := o.Seed; v != nil && (*v == 0 || *v < math.MinInt32 || *v > math.MaxInt32) {
		fe.Add(f("seed"), "must be a non-zero 32-bit integer")
	}
}

func intRange(fe FieldErrors, field string, v *int, lo, hi int) {
	if v != nil && (*v < lo || *v > hi) {
		fe.Add(field, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
	}
}

// Canonical returns a stable text form of the parameters, used in the input
// signature: every field, fixed order, shortest exact float formatting.
func (p VinaParams) Canonical() string {
	var b strings.Builder
	fl := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	fmt.Fprintf(&b, "center=%s,%s,%s;", fl(p.Center[0]), fl(p.Center[1]), fl(p.Center[2]))
	fmt.Fprintf(&b, "size=%s,%s,%s;", fl(p.Size[0]), fl(p.Size[1]), fl(p.Size[2]))
	fmt.Fprintf(&b, "exhaustiveness=%d;num_modes=%d;energy_range=%s;", p.Exhaustiveness, p.NumModes, fl(p.EnergyRange))
	if p.Seed != nil {
		fmt.Fprintf(&b, "seed=%d;", *p.Seed)
	} else {
		b.WriteString("seed=random;")
	}
	// timeout_seconds does not change the result, so it is not part of it.
	return b.String()
}

// SignatureInput is what makes two docking runs the same computation.
type SignatureInput struct {
	Engine, EngineVersion        string
	Params                       VinaParams
	ReceptorSHA256, LigandSHA256 string
	ReceptorFormat, LigandFormat MoleculeFormat
}

// InputSignature returns the hex SHA-256 of the canonical signature input.
// Equal signatures within one org share cached results.
func InputSignature(in SignatureInput) string {
	h := sha256.New()
	fmt.Fprintf(h, "v1\nengine=%s\nversion=%s\nparams=%s\nreceptor=%s:%s\nligand=%s:%s\n",
		in.Engine, in.EngineVersion, in.Params.Canonical(),
		in.ReceptorFormat, in.ReceptorSHA256, in.LigandFormat, in.LigandSHA256)
	return hex.EncodeToString(h.Sum(nil))
}
