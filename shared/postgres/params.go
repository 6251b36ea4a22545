package postgres

import "github.com/mad-bio/mad/shared/domain"

// vinaParamsPatch is the stored JSON form of docking parameters (job
// params, pipeline defaults, upload run requests). Field names match the
// contract so the stored documents read like the API's.
type vinaParamsPatch struct {
	Center         *[3]float64 `json:"center,omitempty"`
	Size           *[3]float64 `json:"size,omitempty"`
	Exhaustiveness *int        `json:"exhaustiveness,omitempty"`
	NumModes       *int        `json:"num_modes,omitempty"`
	EnergyRange    *float64    `json:"energy_range,omitempty"`
	Seed           *int64      `json:"seed,omitempty"`
	TimeoutSeconds *int        `json:"timeout_seconds,omitempty"`
}

func patchRow(p domain.VinaParamsPatch) vinaParamsPatch {
	return vinaParamsPatch{Center: p.Center, Size: p.Size, Exhaustiveness: p.Exhaustiveness, NumModes: p.NumModes,
		EnergyRange: p.EnergyRange, Seed: p.Seed, TimeoutSeconds: p.TimeoutSeconds}
}

func (v vinaParamsPatch) toDomain() domain.VinaParamsPatch {
	return domain.VinaParamsPatch{Center: v.Center, Size: v.Size, Exhaustiveness: v.Exhaustiveness, NumModes: v.NumModes,
		EnergyRange: v.EnergyRange, Seed: v.Seed, TimeoutSeconds: v.TimeoutSeconds}
}

func paramsRow(p domain.VinaParams) vinaParamsPatch {
	return vinaParamsPatch{Center: &p.Center, Size: &p.Size, Exhaustiveness: &p.Exhaustiveness, NumModes: &p.NumModes,
		EnergyRange: &p.EnergyRange, Seed: p.Seed, TimeoutSeconds: &p.TimeoutSeconds}
}

func (v vinaParamsPatch) resolved() domain.VinaParams {
	var p domain.VinaParams
	if v.Center != nil {
		p.Center = *v.Center
	}
	if v.Size != nil {
		p.Size = *v.Size
	}
	if v.Exhaustiveness != nil {
		p.Exhaustiveness = *v.Exhaustiveness
	}
	if v.NumModes != nil {
		p.NumModes = *v.NumModes
	}
	if v.EnergyRange != nil {
		p.EnergyRange = *v.EnergyRange
	}
	if v.TimeoutSeconds != nil {
		p.TimeoutSeconds = *v.TimeoutSeconds
	}
	p.Seed = v.Seed
	return p
}
