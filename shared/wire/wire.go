// Package wire holds the JSON shapes of the HTTP contract that more than
// one function reads or writes, with their conversions to domain types.
package wire

import (
	"time"

	"github.com/mad-bio/mad/shared/domain"
)

// VinaParams is the "params" object of the contract. Pointers tell "not
// given" from zero.
type VinaParams struct {
	Center         *[3]float64 `json:"center,omitempty"`
	Size           *[3]float64 `json:"size,omitempty"`
	Exhaustiveness *int        `json:"exhaustiveness,omitempty"`
	NumModes       *int        `json:"num_modes,omitempty"`
	EnergyRange    *float64    `json:"energy_range,omitempty"`
	Seed           *int64      `json:"seed,omitempty"`
	TimeoutSeconds *int        `json:"timeout_seconds,omitempty"`
}

// Patch converts to the domain's partial parameters.
func (v VinaParams) Patch() domain.VinaParamsPatch {
	return domain.VinaParamsPatch{Center: v.Center, Size: v.Size, Exhaustiveness: v.Exhaustiveness,
		NumModes: v.NumModes, EnergyRange: v.EnergyRange, Seed: v.Seed, TimeoutSeconds: v.TimeoutSeconds}
}

// FromPatch converts partial domain parameters (pipeline defaults).
func FromPatch(p domain.VinaParamsPatch) VinaParams {
	return VinaParams{Center: p.Center, Size: p.Size, Exhaustiveness: p.Exhaustiveness, NumModes: p.NumModes,
		EnergyRange: p.EnergyRange, Seed: p.Seed, TimeoutSeconds: p.TimeoutSeconds}
}

// FromParams converts resolved parameters.
func FromParams(p domain.VinaParams) VinaParams {
	return VinaParams{Center: &p.Center, Size: &p.Size, Exhaustiveness: &p.Exhaustiveness, NumModes: &p.NumModes,
		EnergyRange: &p.EnergyRange, Seed: p.Seed, TimeoutSeconds: &p.TimeoutSeconds}
}

// List is the contract's list envelope.
type List[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// NewList builds a list envelope; an empty cursor becomes null.
func NewList[T any](items []T, next string) List[T] {
	if items == nil {
		items = []T{}
	}
	l := List[T]{Items: items}
	if next != "" {
		l.NextCursor = &next
	}
	return l
}

// Time formats a time as RFC 3339 UTC.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// TimePtr formats an optional time; nil stays null.
func TimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := Time(*t)
	return &s
}

// Map converts a slice.
func Map[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
