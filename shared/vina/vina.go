// Package vina is the docking engine adapter: it prepares molecules with
// Open Babel and docks them with AutoDock Vina, both run as child processes
// inside a scratch directory.
//
// Safety properties the rest of MAD relies on:
//   - no shell is involved and argv holds only validated numbers and fixed
//     file names, so nothing a user uploads or names reaches a command line;
//   - every file the tools write is in a fresh directory inside the
//     caller's scratch dir, and captured output is bounded in memory;
//   - a run ends, with its whole process group killed, on timeout,
//     cancellation, or when the caller's context is done.
//
// Errors are classified for the job state machine: ErrInvalidInput (fail the
// job at once), ErrTimeout, ErrCancelled, or anything else (transient).
package vina

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/mad-bio/mad/shared/domain"
)

// Default tool locations (Debian's autodock-vina and openbabel packages).
const (
	DefaultVinaPath   = "/usr/bin/vina"
	DefaultObabelPath = "/usr/bin/obabel"
)

// DefaultCancelPollInterval is how often Request.Cancelled is polled while
// vina runs: often enough that a cancelled job stops within seconds, rarely
// enough that polling (a database read) costs nothing next to docking.
const DefaultCancelPollInterval = 2 * time.Second

// Runner runs Open Babel and AutoDock Vina as child processes. A Runner is
// safe for concurrent use; its fields must not change after first use.
type Runner struct {
	VinaPath, ObabelPath string // empty means the Default*Path
	CPUs                 int    // passed as --cpu; 0 means runtime.NumCPU()
	Logger               *slog.Logger
	// CancelPollInterval overrides DefaultCancelPollInterval (tests).
	CancelPollInterval time.Duration

	mu      sync.Mutex
	version string

	// onVinaStart, when set (tests), receives the pid of each vina process.
	onVinaStart func(pid int)
}

// Input is a molecule file already inside the scratch dir and its format.
type Input struct {
	Path   string
	Format domain.MoleculeFormat
}

// Request is one docking run.
type Request struct {
	// ScratchDir is a fresh, empty dir owned by the caller; every file the
	// runner writes stays inside it (in a subdirectory removed on return).
	ScratchDir       string
	Receptor, Ligand Input
	Params           domain.VinaParams
	// Cancelled is polled (every ~2 s) while vina runs; returning true stops
	// the run (process group killed) with ErrCancelled. Errors are logged and
	// ignored: a failed poll must not kill a healthy run. May be nil.
	Cancelled func(ctx context.Context) (bool, error)
}

// Pose is one docked pose: Mode 1 is the best. Affinity is in kcal/mol;
// RMSDLB and RMSDUB are the lower and upper bound RMSD from mode 1 (Å).
type Pose struct {
	Mode                     int
	Affinity, RMSDLB, RMSDUB float64
}

// Result is the outcome of a successful run.
type Result struct {
	Poses      []Pose // sorted by mode, mode 1 best (lowest affinity)
	PosesPDBQT []byte // vina's output, all models
	PosesSDF   []byte // the same poses converted by Open Babel
	Log        []byte // vina's stdout (tail, if it was over 1 MiB)
	// VinaVersion is e.g. "1.2.3", parsed from `vina --version`.
	VinaVersion string
	// Seed is the seed vina used: Params.Seed, or the one it chose itself.
	Seed int64
	// VinaWall is the vina process's wall time; PrepareWall covers staging
	// and Open Babel conversion of the inputs; ConvertWall the conversion of
	// the poses to SDF.
	VinaWall, PrepareWall, ConvertWall time.Duration
}

func (r *Runner) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) vinaPath() string {
	if r.VinaPath == "" {
		return DefaultVinaPath
	}
	return r.VinaPath
}

func (r *Runner) obabelPath() string {
	if r.ObabelPath == "" {
		return DefaultObabelPath
	}
	return r.ObabelPath
}

func (r *Runner) cpus() int {
	if r.CPUs > 0 {
		return r.CPUs
	}
	return runtime.NumCPU()
}

// Version returns vina's version ("1.2.3"). It is part of every job's input
// signature, so it is read from the binary rather than configured; the
// first successful answer is cached (failures are not, so a transient
// failure does not stick).
func (r *Runner) Version(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.version != "" {
		return r.version, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := runProc(ctx, r.log(), "", r.vinaPath(), []string{"--version"}, nil, nil)
	if err != nil {
		return "", fmt.Errorf("vina --version: %w", err)
	}
	v, err := parseVersion(res.Stdout.Bytes())
	if err != nil {
		return "", err
	}
	r.version = v
	return v, nil
}

// vinaArgs builds vina's argument list from validated numbers and fixed
// file names only. It rejects parameters outside the contract's bounds
// (domain validation should have caught them; this is the last line before
// a command line), except TimeoutSeconds, which only has to be positive.
func vinaArgs(p domain.VinaParams, cpus int) ([]string, error) {
	if err := checkParams(p); err != nil {
		return nil, err
	}
	if cpus < 1 {
		return nil, fmt.Errorf("cpu count %d", cpus)
	}
	fl := func(v float64) string {
		if v == 0 {
			v = 0 // no "-0"
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	args := []string{
		"--receptor", receptorPDBQT,
		"--ligand", ligandPDBQT,
		"--center_x", fl(p.Center[0]), "--center_y", fl(p.Center[1]), "--center_z", fl(p.Center[2]),
		"--size_x", fl(p.Size[0]), "--size_y", fl(p.Size[1]), "--size_z", fl(p.Size[2]),
		"--exhaustiveness", strconv.Itoa(p.Exhaustiveness),
		"--num_modes", strconv.Itoa(p.NumModes),
		"--energy_range", fl(p.EnergyRange),
		"--cpu", strconv.Itoa(cpus),
	}
	if p.Seed != nil {
		args = append(args, "--seed", strconv.FormatInt(*p.Seed, 10))
	}
	return append(args, "--out", outPDBQT), nil
}

func checkParams(p domain.VinaParams) error {
	bad := func(format string, a ...any) error { return invalid("params", format, a...) }
	for i, v := range p.Center {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > domain.MaxCoordinate {
			return bad("center[%d] must be a finite number within +-%g", i, domain.MaxCoordinate)
		}
	}
	for i, v := range p.Size {
		if math.IsNaN(v) || v < domain.MinBoxSize || v > domain.MaxBoxSize {
			return bad("size[%d] must be between %g and %g", i, domain.MinBoxSize, domain.MaxBoxSize)
		}
	}
	if p.Exhaustiveness < domain.MinExhaustiveness || p.Exhaustiveness > domain.MaxExhaustiveness {
		return bad("exhaustiveness must be between %d and %d", domain.MinExhaustiveness, domain.MaxExhaustiveness)
	}
	if p.NumModes < domain.MinNumModes || p.NumModes > domain.MaxNumModes {
		return bad("num_modes must be between %d and %d", domain.MinNumModes, domain.MaxNumModes)
	}
	if math.IsNaN(p.EnergyRange) || p.EnergyRange < domain.MinEnergyRange || p.EnergyRange > domain.MaxEnergyRange {
		return bad("energy_range must be between %g and %g", domain.MinEnergyRange, domain.MaxEnergyRange)
	}
	// Vina 1.2.3 reads --seed as a C int and treats 0 as "pick a random
	// seed", which would make a seeded (cacheable) job nondeterministic.
	if s := p.Seed; s != nil && (*s == 0 || *s < math.MinInt32 || *s > math.MaxInt32) {
		return bad("seed must be a non-zero 32-bit integer (vina treats 0 as random)")
	}
	if p.TimeoutSeconds < 1 {
		return bad("timeout_seconds must be positive")
	}
	return nil
}

// Dock prepares the inputs, runs vina and collects the results. The whole
// call (preparation included, since a stuck 3D generation is as bad as a
// stuck search) is bounded by Params.TimeoutSeconds and by ctx.
func (r *Runner) Dock(ctx context.Context, req Request) (Result, error) {
	var res Result
	log := r.log()
	if req.ScratchDir == "" {
		return res, errors.New("vina: empty ScratchDir")
	}
	args, err := vinaArgs(req.Params, r.cpus())
	if err != nil {
		return res, err
	}
	version, err := r.Version(ctx)
	if err != nil {
		return res, classifyCtxErr(err, "vina version")
	}
	res.VinaVersion = version

	// Causes tell a TimeoutSeconds expiry and a cancellation apart from the
	// caller's own context ending.
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	timeout := time.Duration(req.Params.TimeoutSeconds) * time.Second
	runCtx, cancelTimeout := context.WithTimeoutCause(runCtx, timeout,
		fmt.Errorf("%w after timeout_seconds=%d", ErrTimeout, req.Params.TimeoutSeconds))
	defer cancelTimeout()

	// A fresh subdirectory keeps our fixed names from colliding with the
	// caller's files and is removed on return (Lambda's /tmp is small and
	// reused by warm containers); the results are returned as bytes.
	work, err := os.MkdirTemp(req.ScratchDir, "vina-")
	if err != nil {
		return res, fmt.Errorf("vina: work dir: %w", err)
	}
	defer os.RemoveAll(work)

	start := time.Now()
	if err := r.prepareReceptor(runCtx, req.ScratchDir, work, req.Receptor); err != nil {
		return res, classifyCtxErr(err, "prepare receptor")
	}
	if err := r.prepareLigand(runCtx, req.ScratchDir, work, req.Ligand); err != nil {
		return res, classifyCtxErr(err, "prepare ligand")
	}
	res.PrepareWall = time.Since(start)
	log.Debug("vina: inputs prepared", "receptor_format", req.Receptor.Format,
		"ligand_format", req.Ligand.Format, "wall", res.PrepareWall)

	stopPoll := r.pollCancelled(runCtx, req.Cancelled, cancelRun)
	proc, err := runProc(runCtx, log, work, r.vinaPath(), args, nil, r.onVinaStart)
	stopPoll()
	res.VinaWall = proc.Wall
	res.Log = withTruncationNote(proc.Stdout)
	if err != nil {
		if ie := vinaInputError(proc.Stderr.Bytes()); ie != nil {
			if ie.Input == "molecule" {
				if in := attributeAtomType(ie.Reason, map[string]string{
					"receptor": filepath.Join(work, receptorPDBQT),
					"ligand":   filepath.Join(work, ligandPDBQT),
				}); in != "" {
					ie.Input = in
				}
			}
			return res, ie
		}
		if runCtx.Err() == nil { // vina failed on its own
			return res, fmt.Errorf("vina failed: %w: %s", err, sanitize(lastLines(proc.Stderr.Bytes(), 3), 300))
		}
		return res, classifyCtxErr(err, "vina")
	}

	res.PosesPDBQT, err = readBounded(filepath.Join(work, outPDBQT), 64<<20)
	if err != nil {
		return res, fmt.Errorf("vina output: %w", err)
	}
	res.Poses, err = parseRemarks(res.PosesPDBQT)
	if err != nil {
		return res, fmt.Errorf("vina output: %w", err)
	}
	table, terr := parseResultTable(proc.Stdout.Bytes())
	if terr != nil {
		log.Warn("vina: result table unreadable", "err", terr)
	} else if problems := crossCheck(res.Poses, table, req.Params.EnergyRange); len(problems) > 0 {
		log.Warn("vina: stdout table disagrees with output REMARKs (REMARKs used)", "problems", problems)
	}
	if req.Params.Seed != nil {
		res.Seed = *req.Params.Seed
	} else if s, ok := parseSeed(proc.Stdout.Bytes()); ok {
		res.Seed = s
	}

	start = time.Now()
	res.PosesSDF, err = r.posesToSDF(runCtx, work, len(res.Poses))
	res.ConvertWall = time.Since(start)
	if err != nil {
		return res, classifyCtxErr(err, "convert poses")
	}
	log.Debug("vina: docked", "poses", len(res.Poses), "best", res.Poses[0].Affinity,
		"vina_wall", res.VinaWall, "prepare_wall", res.PrepareWall, "convert_wall", res.ConvertWall)
	return res, nil
}

// pollCancelled polls cancelled every interval until the returned stop
// function is called, and cancels the run with ErrCancelled when it reports
// true. stop waits for the poller, so Cancelled is never called after Dock
// returns.
func (r *Runner) pollCancelled(ctx context.Context, cancelled func(context.Context) (bool, error), cancelRun context.CancelCauseFunc) (stop func()) {
	if cancelled == nil {
		return func() {}
	}
	interval := r.CancelPollInterval
	if interval <= 0 {
		interval = DefaultCancelPollInterval
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			yes, err := cancelled(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.log().Warn("vina: cancellation poll failed", "err", err)
				}
				continue
			}
			if yes {
				r.log().Debug("vina: run cancelled")
				cancelRun(fmt.Errorf("%w by request", ErrCancelled))
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// posesToSDF converts out.pdbqt (all models) to SDF. The poses come from
// vina itself, so any failure here is ours: an internal error, never
// ErrInvalidInput.
func (r *Runner) posesToSDF(ctx context.Context, work string, poses int) ([]byte, error) {
	proc, err := runProc(ctx, r.log(), work, r.obabelPath(),
		[]string{"-ipdbqt", outPDBQT, "-osdf", "-O", posesSDF}, obabelEnv, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("obabel: %w: %s", err, obabelError(proc.Stderr.Bytes()))
	}
	sdf, err := readBounded(filepath.Join(work, posesSDF), 64<<20)
	if err != nil {
		return nil, fmt.Errorf("obabel output: %w", err)
	}
	if n := countRecords(sdf); n != poses {
		return nil, fmt.Errorf("obabel wrote %d SDF records for %d poses: %s", n, poses, obabelError(proc.Stderr.Bytes()))
	}
	return sdf, nil
}

// classifyCtxErr maps the ways a step can stop to the package's errors.
// InputError, ErrTimeout and ErrCancelled pass through; the caller's own
// deadline becomes ErrTimeout (still matching context.DeadlineExceeded);
// everything else is wrapped as internal.
func classifyCtxErr(err error, what string) error {
	switch {
	case errors.Is(err, ErrInvalidInput), errors.Is(err, ErrTimeout), errors.Is(err, ErrCancelled):
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s stopped at the caller's deadline: %w", ErrTimeout, what, err)
	}
	return fmt.Errorf("vina: %s: %w", what, err)
}

func withTruncationNote(t *tailBuffer) []byte {
	b := t.Bytes()
	if n := t.Truncated(); n > 0 {
		note := fmt.Sprintf("[... %d bytes of output dropped ...]\n", n)
		return append([]byte(note), b...)
	}
	return append([]byte(nil), b...)
}

func readBounded(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the %d limit", filepath.Base(path), fi.Size(), limit)
	}
	return os.ReadFile(path)
}

// countRecords counts "$$$$" record terminators of an SDF file.
func countRecords(sdf []byte) int {
	n := 0
	for _, l := range splitLines(sdf) {
		if l == "$$$$" {
			n++
		}
	}
	return n
}
