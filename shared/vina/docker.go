package vina

import (
	"context"
	"errors"
	"fmt"

	"github.com/mad-bio/mad/shared/app"
)

// Docker adapts a Runner to the engine's app.Docker port, translating
// this package's error classes to the app's.
type Docker struct{ Runner *Runner }

var _ app.Docker = Docker{}

// Dock runs one docking job.
func (d Docker) Dock(ctx context.Context, req app.DockRequest) (app.DockResult, error) {
	res, err := d.Runner.Dock(ctx, Request{
		ScratchDir: req.ScratchDir,
		Receptor:   Input{Path: req.Receptor.Path, Format: req.Receptor.Format},
		Ligand:     Input{Path: req.Ligand.Path, Format: req.Ligand.Format},
		Params:     req.Params,
		Cancelled:  req.Cancelled,
	})
	var ie *InputError
	switch {
	case err == nil:
	case errors.As(err, &ie):
		return app.DockResult{}, fmt.Errorf("%w: %s", app.ErrInvalidInput, ie.Error())
	case errors.Is(err, ErrInvalidInput):
		return app.DockResult{}, fmt.Errorf("%w: %v", app.ErrInvalidInput, err)
	case errors.Is(err, ErrCancelled):
		return app.DockResult{}, fmt.Errorf("%w: %v", app.ErrDockCancelled, err)
	case errors.Is(err, ErrTimeout):
		return app.DockResult{}, fmt.Errorf("%w: %v", app.ErrDockTimeout, err)
	default:
		return app.DockResult{}, err
	}
	out := app.DockResult{PosesPDBQT: res.PosesPDBQT, PosesSDF: res.PosesSDF, Log: res.Log,
		EngineVersion: res.VinaVersion, DockWall: res.VinaWall, PrepareWall: res.PrepareWall + res.ConvertWall}
	for _, p := range res.Poses {
		out.Scores = append(out.Scores, app.Score{Pose: p.Mode, Affinity: p.Affinity, RMSDLB: p.RMSDLB, RMSDUB: p.RMSDUB})
	}
	return out, nil
}
