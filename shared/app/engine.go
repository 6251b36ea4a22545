package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
)

// Docking failure classes. The docking adapter wraps its errors with these
// so the engine can decide between failing the job and letting SQS retry.
var (
	// ErrInvalidInput: the molecules cannot be docked; retrying cannot help.
	ErrInvalidInput = errors.New("invalid docking input")
	// ErrDockTimeout: the run exceeded the job's timeout_seconds.
	ErrDockTimeout = errors.New("docking timed out")
	// ErrDockCancelled: the job was cancelled while the run was going on.
	ErrDockCancelled = errors.New("docking cancelled")
)

// DockInput is one molecule file in the scratch directory.
type DockInput struct {
	Path   string
	Format domain.MoleculeFormat
}

// DockRequest is one docking run.
type DockRequest struct {
	ScratchDir       string
	Receptor, Ligand DockInput
	Params           domain.VinaParams
	// Cancelled is polled while the run goes on.
	Cancelled func(ctx context.Context) (bool, error)
}

// DockResult is what a run produced.
type DockResult struct {
	Scores        []Score
	PosesPDBQT    []byte
	PosesSDF      []byte
	Log           []byte
	EngineVersion string
	DockWall      time.Duration
	PrepareWall   time.Duration
}

// Docker runs a docking engine.
type Docker interface {
	Dock(ctx context.Context, req DockRequest) (DockResult, error)
}

// Engine processes job messages: claim, fetch inputs, dock, store
// artifacts and results. It is idempotent: a duplicate or late message
// for a finished job is acknowledged and skipped, and a job completes at
// most once (its results row has the job as primary key and the COMPLETED
// transition happens in the same transaction).
type Engine struct {
	Store       Store
	Objects     ObjectStore
	Docker      Docker
	Clock       Clock
	ScratchDir  string
	MaxReceives int // the queue's maxReceiveCount: the last delivery fails the job instead of retrying
	Log         *slog.Logger
	Function    string
}

// maxInputBytes bounds what the engine downloads per molecule.
const maxInputBytes = domain.MaxUploadMoleculeBytes

// Process handles one delivery of a job message. A nil error acknowledges
// it; an error makes SQS redeliver it after the visibility timeout.
func (e *Engine) Process(ctx context.Context, msg JobMessage, receiveCount int) error {
	ctx = obs.With(ctx, obs.Fields{OrgID: msg.OrgID, JobID: msg.JobID})
	log := e.log()
	start := time.Now()
	scope := domain.OrgScope(msg.OrgID)
	sys := domain.SystemPrincipal(msg.OrgID, "engine")
	var job *domain.Job
	claimed := false
	err := e.Store.Tx(ctx, scope, func(tx Tx) error {
		var err error
		job, err = tx.Jobs().UpdateJob(ctx, msg.JobID, func(j *domain.Job) error {
			var cerr error
			claimed, cerr = j.Claim(now(e.Clock), receiveCount)
			return cerr
		})
		if err != nil || !claimed {
			return err
		}
		if job.Attempts == 1 {
			a := audit(ctx, sys, domain.AuditJobStarted, "job", job.ID)
			a.JobID = job.ID
			return tx.Audit().AppendAudit(ctx, a)
		}
		return nil
	})
	if domain.ErrorCode(err) == domain.CodeJobNotFound {
		log.WarnContext(ctx, "job message for an unknown job; acknowledged")
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim job: %w", err)
	}
	if !claimed {
		log.InfoContext(ctx, "job already finished; duplicate message acknowledged", "status", job.Status)
		return nil
	}
	lastAttempt := e.MaxReceives > 0 && receiveCount >= e.MaxReceives

	res, err := e.run(ctx, job)
	switch {
	case err == nil:
		err = e.complete(ctx, sys, job, res)
		if err == nil {
			obs.Metric(e.Function, "EngineDuration", float64(time.Since(start).Milliseconds()), "Milliseconds", nil)
			obs.Metric(e.Function, "VinaDuration", float64(res.DockWall.Milliseconds()), "Milliseconds", nil)
			obs.Metric(e.Function, "JobsCompleted", 1, "Count", nil)
			return nil
		}
		if !lastAttempt {
			return err
		}
		return e.fail(ctx, sys, job.ID, "results could not be stored: "+err.Error(), "transient")
	case errors.Is(err, ErrDockCancelled):
		log.InfoContext(ctx, "job cancelled while docking")
		return nil
	case errors.Is(err, ErrInvalidInput):
		return e.fail(ctx, sys, job.ID, err.Error(), "invalid_input")
	case errors.Is(err, ErrDockTimeout):
		return e.fail(ctx, sys, job.ID, fmt.Sprintf("docking exceeded timeout_seconds=%d", job.Params.TimeoutSeconds), "timeout")
	default:
		if lastAttempt {
			return e.fail(ctx, sys, job.ID, fmt.Sprintf("engine failed on its last attempt (%d): %v", receiveCount, err), "transient")
		}
		obs.Metric(e.Function, "EngineRetries", 1, "Count", nil)
		log.WarnContext(ctx, "transient engine failure; SQS will redeliver", "err", err, "receive_count", receiveCount)
		return err
	}
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// run fetches the inputs into a fresh scratch dir and docks.
func (e *Engine) run(ctx context.Context, job *domain.Job) (DockResult, error) {
	var found map[string]domain.Molecule
	err := e.Store.Read(ctx, domain.OrgScope(job.OrgID), func(tx Tx) error {
		var err error
		found, err = tx.Molecules().FindMoleculesByID(ctx, job.Inputs.Receptor, job.Inputs.Ligand)
		return err
	})
	if err != nil {
		return DockResult{}, fmt.Errorf("read input molecules: %w", err)
	}
	rec, okRec := found[job.Inputs.Receptor]
	lig, okLig := found[job.Inputs.Ligand]
	if !okRec || !okLig {
		return DockResult{}, fmt.Errorf("%w: an input molecule was deleted before the job ran", ErrInvalidInput)
	}
	dir, err := os.MkdirTemp(e.ScratchDir, "job-*")
	if err != nil {
		return DockResult{}, fmt.Errorf("scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	fetch := func(m domain.Molecule, base string) (DockInput, error) {
		b, err := e.Objects.GetObject(ctx, m.Key(), maxInputBytes)
		if err != nil {
			return DockInput{}, fmt.Errorf("fetch %s: %w", base, err)
		}
		p := filepath.Join(dir, base+"."+string(m.Format))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return DockInput{}, fmt.Errorf("write %s: %w", base, err)
		}
		return DockInput{Path: p, Format: m.Format}, nil
	}
	// The two downloads are independent: fetch them concurrently.
	var ri, li DockInput
	g, _ := errgroup.WithContext(ctx)
	g.Go(func() (err error) { ri, err = fetch(rec, "receptor_in"); return err })
	g.Go(func() (err error) { li, err = fetch(lig, "ligand_in"); return err })
	if err := g.Wait(); err != nil {
		return DockResult{}, err
	}
	return e.Docker.Dock(ctx, DockRequest{ScratchDir: dir, Receptor: ri, Ligand: li, Params: job.Params,
		Cancelled: func(ctx context.Context) (bool, error) {
			var st domain.JobStatus
			err := e.Store.Tx(ctx, domain.OrgScope(job.OrgID), func(tx Tx) error {
				j, err := tx.Jobs().FindJobByID(ctx, job.ID)
				if err == nil {
					st = j.Status
				}
				return err
			})
			return st == domain.JobCancelled, err
		}})
}

// resultDoc is result.json, the machine-readable summary artifact.
type resultDoc struct {
	JobID         string         `json:"job_id"`
	Engine        string         `json:"engine"`
	EngineVersion string         `json:"engine_version"`
	Params        map[string]any `json:"params"`
	Scores        []scoreDoc     `json:"scores"`
}

type scoreDoc struct {
	Pose     int     `json:"pose"`
	Affinity float64 `json:"affinity"`
	RMSDLB   float64 `json:"rmsd_lb"`
	RMSDUB   float64 `json:"rmsd_ub"`
}

// complete uploads the artifacts (deterministic keys: a retry overwrites,
// never duplicates) and then, in one transaction, records COMPLETED, the
// results, the artifacts, the cache entry and the audit entry.
func (e *Engine) complete(ctx context.Context, sys domain.Principal, job *domain.Job, res DockResult) error {
	doc := resultDoc{JobID: job.ID, Engine: domain.EngineVina, EngineVersion: res.EngineVersion, Params: paramsDoc(job.Params)}
	for _, s := range res.Scores {
		doc.Scores = append(doc.Scores, scoreDoc(s))
	}
	resultJSON, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result.json: %w", err)
	}
	files := []struct {
		name, ctype string
		body        []byte
	}{
		{"poses.pdbqt", "chemical/x-pdb", res.PosesPDBQT},
		{"poses.sdf", "chemical/x-mdl-sdfile", res.PosesSDF},
		{"vina.log", "text/plain; charset=utf-8", res.Log},
		{"result.json", "application/json", resultJSON},
	}
	// Four independent uploads: concurrently, each to its fixed key.
	arts := make([]Artifact, len(files))
	g, gctx := errgroup.WithContext(ctx)
	for i, f := range files {
		g.Go(func() error {
			key := domain.JobArtifactKey(job.OrgID, job.ID, f.name)
			if err := e.Objects.PutObject(gctx, key, f.body, f.ctype); err != nil {
				return fmt.Errorf("store %s: %w", f.name, err)
			}
			sum := sha256.Sum256(f.body)
			arts[i] = Artifact{Name: f.name, Key: key, SizeBytes: int64(len(f.body)), SHA256: hex.EncodeToString(sum[:]), ContentType: f.ctype}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	best := 0.0
	if len(res.Scores) > 0 {
		best = res.Scores[0].Affinity
	}
	task := TaskResult{TaskName: "dock", ServiceName: "vina", EngineVersion: res.EngineVersion, SchemaVersion: "1",
		ResultData: map[string]any{"num_poses": len(res.Scores), "best_affinity": best,
			"vina_seconds": res.DockWall.Seconds(), "prepare_seconds": res.PrepareWall.Seconds()}}
	err = e.Store.Tx(ctx, domain.OrgScope(job.OrgID), func(tx Tx) error {
		if _, err := tx.Jobs().UpdateJob(ctx, job.ID, func(j *domain.Job) error {
			return j.Complete(now(e.Clock), map[string]any{"best_affinity": best, "num_poses": len(res.Scores)})
		}); err != nil {
			return err
		}
		if err := tx.Jobs().SaveResults(ctx, JobResults{JobID: job.ID, EngineVersion: res.EngineVersion,
			Scores: res.Scores, Tasks: []TaskResult{task}, Artifacts: arts}); err != nil {
			return err
		}
		if err := tx.Jobs().PutCache(ctx, job.InputSignature, job.ID); err != nil {
			return err
		}
		a := audit(ctx, sys, domain.AuditJobCompleted, "job", job.ID)
		a.JobID, a.Detail = job.ID, map[string]any{"best_affinity": best}
		return tx.Audit().AppendAudit(ctx, a)
	})
	if domain.ErrorCode(err) == domain.CodeConflict {
		// Cancelled meanwhile, or completed by a duplicate delivery: the
		// first writer wins and this run's results are dropped.
		e.log().InfoContext(ctx, "job finished elsewhere; results of this run dropped", "err", err)
		e.dropArtifactsOfCancelled(ctx, job)
		return nil
	}
	return err
}

// dropArtifactsOfCancelled deletes what this run uploaded when the job was
// cancelled under it. A job completed by another delivery keeps them: its
// artifacts live under the same keys.
func (e *Engine) dropArtifactsOfCancelled(ctx context.Context, job *domain.Job) {
	var st domain.JobStatus
	err := e.Store.Tx(ctx, domain.OrgScope(job.OrgID), func(tx Tx) error {
		j, err := tx.Jobs().FindJobByID(ctx, job.ID)
		if err == nil {
			st = j.Status
		}
		return err
	})
	if err != nil || st != domain.JobCancelled {
		return
	}
	for name := range domain.JobArtifacts {
		if err := e.Objects.DeleteObject(ctx, domain.JobArtifactKey(job.OrgID, job.ID, name)); err != nil {
			e.log().WarnContext(ctx, "delete artifact of a cancelled job", "artifact", name, "err", err)
		}
	}
}

func paramsDoc(p domain.VinaParams) map[string]any {
	m := map[string]any{"center": p.Center, "size": p.Size, "exhaustiveness": p.Exhaustiveness,
		"num_modes": p.NumModes, "energy_range": p.EnergyRange, "timeout_seconds": p.TimeoutSeconds}
	if p.Seed != nil {
		m["seed"] = *p.Seed
	}
	return m
}

// fail marks the job FAILED with a reason and acknowledges the message.
func (e *Engine) fail(ctx context.Context, sys domain.Principal, jobID, reason, class string) error {
	obs.Metric(e.Function, "JobsFailed", 1, "Count", map[string]string{"Class": class})
	err := FailJob(ctx, e.Store, sys, jobID, reason, class, e.Clock)
	if err != nil {
		return fmt.Errorf("mark job failed: %w", err)
	}
	e.log().InfoContext(ctx, "job failed", "class", class, "reason", reason)
	return nil
}

// FailJob marks a job FAILED unless it already finished, with its audit
// entry, in one transaction.
func FailJob(ctx context.Context, s Store, sys domain.Principal, jobID, reason, class string, c Clock) error {
	return s.Tx(ctx, domain.OrgScope(sys.OrgID), func(tx Tx) error {
		finished := false
		_, err := tx.Jobs().UpdateJob(ctx, jobID, func(j *domain.Job) error {
			if j.Status.Terminal() {
				finished = true
				return nil
			}
			return j.Fail(now(c), reason, map[string]any{"class": class})
		})
		if err != nil || finished {
			return err
		}
		a := audit(ctx, sys, domain.AuditJobFailed, "job", jobID)
		a.JobID, a.Outcome = jobID, domain.OutcomeFailure
		a.Detail = map[string]any{"reason": reason, "class": class}
		return tx.Audit().AppendAudit(ctx, a)
	})
}
