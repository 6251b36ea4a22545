package vina

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/mad-bio/mad/shared/domain"
)

// Fixed file names inside the run's work directory. Only these (and the
// staged inputs "receptor.<format>", "ligand.<format>") ever appear on a
// command line, so no user-controlled string reaches argv.
const (
	receptorPDBQT = "receptor.pdbqt"
	ligandPDBQT   = "ligand.pdbqt"
	outPDBQT      = "out.pdbqt"
	posesSDF      = "poses.sdf"
)

// Ligand limits. Vina's search cost grows with atoms and torsions and Open
// Babel's preparation is superlinear, so a "ligand" the size of a protein
// would only burn the job's timeout; reject it before any tool runs.
const (
	MaxLigandHeavyAtoms = 500
	MaxLigandAtoms      = 2000 // hydrogens included, as far as the file has them
	MaxLigandFileBytes  = 8 << 20
)

// stage makes the caller's file src available as name in the work dir. src
// must be a regular file inside scratch (symlinks are refused so that a
// crafted input cannot make a tool read outside the scratch dir). A hard
// link avoids copying large receptors; a copy is the fallback.
func stage(scratch, work, src, name string) (int64, error) {
	abs, err := filepath.Abs(src)
	if err != nil {
		return 0, err
	}
	rootAbs, err := filepath.Abs(scratch)
	if err != nil {
		return 0, err
	}
	rel, err := filepath.Rel(rootAbs, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return 0, fmt.Errorf("input %s is not inside the scratch dir", src)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("input %s is not a regular file", src)
	}
	dst := filepath.Join(work, name)
	if err := os.Link(abs, dst); err == nil {
		return fi.Size(), nil
	}
	in, err := os.Open(abs)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// inspect scans a staged molecule file according to its format.
func inspect(path string, f domain.MoleculeFormat) (molInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return molInfo{}, err
	}
	defer fh.Close()
	r := bufio.NewReaderSize(fh, 256*1024)
	switch f {
	case domain.FormatPDB:
		return inspectPDB(r, false)
	case domain.FormatPDBQT:
		return inspectPDB(r, true)
	case domain.FormatSDF:
		return inspectSDF(r)
	case domain.FormatMOL2:
		return inspectMOL2(r)
	case domain.FormatSMI:
		return inspectSMI(r)
	}
	return molInfo{}, fmt.Errorf("unsupported format %q", f)
}

// inspectErr separates I/O failures (internal) from content problems
// (invalid input): the inspectors return plain errors for the latter.
func inspectErr(input string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("read %s: %w", input, err)
	}
	return invalid(input, "%s", err.Error())
}

// prepareReceptor leaves receptor.pdbqt in work.
func (r *Runner) prepareReceptor(ctx context.Context, scratch, work string, in Input) error {
	switch in.Format {
	case domain.FormatPDB, domain.FormatPDBQT:
	case domain.FormatSDF, domain.FormatMOL2, domain.FormatSMI:
		return invalid("receptor", "a receptor must be a PDB or PDBQT file, not %s (SDF, MOL2 and SMILES are ligand formats)", strings.ToUpper(string(in.Format)))
	default:
		return invalid("receptor", "unsupported format %q", sanitize(string(in.Format), 20))
	}
	staged := "receptor." + string(in.Format)
	if _, err := stage(scratch, work, in.Path, staged); err != nil {
		return fmt.Errorf("stage receptor: %w", err)
	}
	info, err := inspect(filepath.Join(work, staged), in.Format)
	if err != nil {
		return inspectErr("receptor", err)
	}
	if info.Atoms == 0 {
		return invalid("receptor", "no ATOM/HETATM records with coordinates: not a %s file", strings.ToUpper(string(in.Format)))
	}
	if info.MultiModels {
		return invalid("receptor", "the file holds several MODELs (an ensemble); the receptor must be a single structure")
	}
	if in.Format == domain.FormatPDBQT {
		return nil // used as is; vina itself validates atom types
	}
	// -xr writes a rigid molecule: without it Open Babel builds a ligand
	// torsion tree (ROOT/BRANCH) for the protein, which vina refuses in a
	// receptor. Hydrogens are added only when the file has none: vina needs
	// polar hydrogens to type donors (without them every N becomes an
	// acceptor), but -h on an already protonated structure adds extra ones
	// (1iep_receptorH.pdb: 517 polar H with -h, 473 without, 473 in the
	// reference PDBQT).
	args := []string{"-ipdb", staged, "-xr"}
	if info.Hydrogens == 0 {
		args = append(args, "-h")
	}
	args = append(args, "--partialcharge", "gasteiger", "-opdbqt", "-O", receptorPDBQT)
	return r.obabelConvert(ctx, work, "receptor", args, receptorPDBQT)
}

// prepareLigand leaves ligand.pdbqt in work.
func (r *Runner) prepareLigand(ctx context.Context, scratch, work string, in Input) error {
	switch in.Format {
	case domain.FormatPDBQT, domain.FormatSDF, domain.FormatMOL2, domain.FormatSMI:
	case domain.FormatPDB:
		// Open Babel could read it, but a PDB ligand has no bond orders, so
		// the aromaticity and torsion tree would be guesses.
		return invalid("ligand", "a ligand must be PDBQT, SDF, MOL2 or SMILES, not PDB")
	default:
		return invalid("ligand", "unsupported format %q", sanitize(string(in.Format), 20))
	}
	staged := "ligand." + string(in.Format)
	size, err := stage(scratch, work, in.Path, staged)
	if err != nil {
		return fmt.Errorf("stage ligand: %w", err)
	}
	if size > MaxLigandFileBytes {
		return invalid("ligand", "file is %d bytes, more than the %d allowed for a ligand", size, MaxLigandFileBytes)
	}
	info, err := inspect(filepath.Join(work, staged), in.Format)
	if err != nil {
		return inspectErr("ligand", err)
	}
	switch {
	case info.Molecules == 0 || info.Atoms == 0:
		return invalid("ligand", "no atoms found in the %s file", strings.ToUpper(string(in.Format)))
	case info.Molecules > 1 || info.MultiModels:
		return invalid("ligand", "the file holds several molecules; exactly one ligand is docked per job")
	case info.HeavyAtoms > MaxLigandHeavyAtoms:
		return invalid("ligand", "%d heavy atoms, more than the %d allowed", info.HeavyAtoms, MaxLigandHeavyAtoms)
	case info.Atoms > MaxLigandAtoms:
		return invalid("ligand", "%d atoms, more than the %d allowed", info.Atoms, MaxLigandAtoms)
	case info.HeavyAtoms == 0:
		return invalid("ligand", "only hydrogen atoms")
	}
	if in.Format == domain.FormatPDBQT {
		return nil // used as is
	}
	// -h: vina's atom typing needs polar hydrogens (a no-op when the file
	// already has them all). --gen3d when there are no 3D coordinates
	// (SMILES, or a 2D depiction with every z == 0): vina only changes
	// torsions, so a flat input would be docked flat.
	args := []string{"-i" + string(in.Format), staged, "-h"}
	if !info.HasCoords || !info.Has3D {
		args = append(args, "--gen3d")
	}
	// Open Babel 3.1.1 writes all charges as 0.000 unless asked; vina's
	// scoring ignores them, but the PDBQT is returned to users as poses and
	// tools reading it expect Gasteiger charges.
	args = append(args, "--partialcharge", "gasteiger", "-opdbqt", "-O", ligandPDBQT)
	return r.obabelConvert(ctx, work, "ligand", args, ligandPDBQT)
}

// obabelEnv pins Open Babel to one OpenMP thread. Debian's build links
// libgomp, and with more threads than free cores (a busy or throttled CPU)
// the spinning OpenMP workers make --gen3d take 10-60 s instead of 0.3 s
// (imatinib SMILES, 2 cores under load). The conversions are small; one
// thread is all they need.
var obabelEnv = []string{"OMP_NUM_THREADS=1"}

var convertedRE = regexp.MustCompile(`(\d+) molecules? converted`)

// obabelConvert runs obabel and checks its result by content, because
// obabel exits 0 on most failures ("0 molecules converted", an empty file,
// "ERROR: not a valid PDB file"). The output must be exactly one molecule
// with atoms. Failures are invalid input, except when obabel cannot be run
// at all or was stopped (timeout, cancellation).
func (r *Runner) obabelConvert(ctx context.Context, work, input string, args []string, out string) error {
	res, err := runProc(ctx, r.log(), work, r.obabelPath(), args, obabelEnv, nil)
	reason := obabelError(res.Stderr.Bytes())
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			// Could not run, or stopped by timeout/cancellation: not the
			// molecule's fault; the wrapped cause keeps its class.
			return fmt.Errorf("obabel (%s): %w", input, err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// A crash on a given file is deterministic: retrying cannot help.
			return invalid(input, "Open Babel crashed (%s) while converting it", ws.Signal())
		}
		if reason == "" {
			reason = fmt.Sprintf("Open Babel exited with status %d", ee.ExitCode())
		}
		return invalid(input, "conversion to PDBQT failed: %s", reason)
	}
	atoms, models, err := countPDBQT(filepath.Join(work, out))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read converted %s: %w", input, err)
	}
	if atoms == 0 {
		if reason == "" {
			reason = "Open Babel produced no atoms"
		}
		return invalid(input, "conversion to PDBQT failed: %s", reason)
	}
	n := models
	if m := convertedRE.FindSubmatch(res.Stderr.Bytes()); m != nil {
		n, _ = strconv.Atoi(string(m[1]))
	}
	if n > 1 || models > 1 {
		return invalid(input, "the file holds %d structures (molecules or models); the %s must be a single one", max(n, models), input)
	}
	if w := bytes.Count(res.Stderr.Bytes(), []byte("Open Babel Warning")); w > 0 {
		r.log().Debug("vina: obabel warnings", "input", input, "count", w)
	}
	return nil
}

// obabelError returns the first message obabel printed, sanitized: an
// error if there is one, else a warning (Open Babel reports an unparsable
// SMILES only as a warning). Its messages look like:
//
//	==============================
//	*** Open Babel Error  in ReadMolecule
//	  ERROR: not a valid PDB file
func obabelError(stderr []byte) string {
	lines := splitLines(stderr)
	for _, kind := range []string{"Open Babel Error", "Open Babel Warning"} {
		for i, l := range lines {
			if !strings.Contains(l, kind) {
				continue
			}
			msg := strings.TrimSpace(l)
			if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				msg = strings.TrimSpace(lines[i+1])
			}
			return sanitize(msg, 200)
		}
	}
	return ""
}

// countPDBQT counts ATOM/HETATM records and distinct MODEL numbers of a
// PDBQT file. Distinct, because with several input molecules Open Babel's
// -xr writes every disconnected fragment as its own MODEL block, repeating
// the molecule's number.
func countPDBQT(path string) (atoms, models int, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer fh.Close()
	seen := map[string]bool{}
	sc := newLineScanner(fh)
	for sc.Scan() {
		l := sc.Bytes()
		switch {
		case bytes.HasPrefix(l, []byte("ATOM  ")), bytes.HasPrefix(l, []byte("HETATM")):
			atoms++
		case bytes.HasPrefix(l, []byte("MODEL")):
			seen[string(bytes.TrimSpace(l[5:]))] = true
		}
	}
	return atoms, len(seen), scanErr(sc.Err())
}
