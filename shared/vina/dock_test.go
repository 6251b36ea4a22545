package vina

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mad-bio/mad/shared/domain"
)

// Integration tests run the real vina and obabel. Vina runs are kept
// sequential (no t.Parallel) with --cpu 1: the reference machine has two
// cores, and parallel runs would make the timing assertions flaky.

func requireTools(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs vina/obabel")
	}
	for _, p := range []string{DefaultVinaPath, DefaultObabelPath} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newTestRunner(t testing.TB) *Runner {
	return &Runner{
		CPUs:   1,
		Logger: slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// quickParams is the README's fast setting: about 10 s on the 1iep pair.
func quickParams() domain.VinaParams {
	p := exampleParams()
	seed := int64(42)
	p.Seed = &seed
	return p
}

// scratchWith makes a scratch dir holding the named files (copied from the
// 1iep samples when content is a "1iep:" reference, else literal content)
// and returns it with the inputs.
func scratchWith(t testing.TB, receptor, ligand inputSpec) (string, Input, Input) {
	t.Helper()
	dir := t.TempDir()
	put := func(name string, s inputSpec) Input {
		var b []byte
		if ref, ok := strings.CutPrefix(s.content, "1iep:"); ok {
			b = readTestdata(t, filepath.Join(testdata1iep, ref))
		} else {
			b = []byte(s.content)
		}
		p := filepath.Join(dir, "input-"+name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return Input{Path: p, Format: s.format}
	}
	return dir, put("receptor", receptor), put("ligand", ligand)
}

type inputSpec struct {
	format  domain.MoleculeFormat
	content string
}

var (
	recPDBQT = inputSpec{domain.FormatPDBQT, "1iep:1iep_receptor.pdbqt"}
	recPDB   = inputSpec{domain.FormatPDB, "1iep:1iep_receptorH.pdb"}
	ligPDBQT = inputSpec{domain.FormatPDBQT, "1iep:1iep_ligand.pdbqt"}
	ligSDF   = inputSpec{domain.FormatSDF, "1iep:1iep_ligand.sdf"}
)

// assertNoProcesses checks that the vina process group is gone and that no
// process is left working in the scratch dir (cwd inside it): argv holds
// only relative names, so the cwd is what ties a process to a run.
func assertNoProcesses(t *testing.T, pgid int, scratch string) {
	t.Helper()
	if pgid > 0 {
		if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still exists (kill 0: %v)", pgid, err)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, scratch) {
			t.Errorf("process %s still runs in %s", e.Name(), cwd)
		}
	}
}

// assertScratchClean checks that the runner left only the caller's files.
func assertScratchClean(t *testing.T, scratch string) {
	t.Helper()
	ents, err := os.ReadDir(scratch)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "input-") {
			t.Errorf("runner left %s in the scratch dir", e.Name())
		}
	}
}

func TestVersion(t *testing.T) {
	requireTools(t)
	r := newTestRunner(t)
	v, err := r.Version(context.Background())
	if err != nil || v != "1.2.3" {
		t.Fatalf("Version = %q, %v; want 1.2.3 (Debian's autodock-vina)", v, err)
	}
	r.VinaPath = "/nonexistent/vina" // cached: the binary is not run again
	if v2, err := r.Version(context.Background()); err != nil || v2 != v {
		t.Fatalf("cached Version = %q, %v", v2, err)
	}
	if _, err := (&Runner{VinaPath: "/nonexistent/vina"}).Version(context.Background()); err == nil {
		t.Fatal("Version of a missing binary succeeded")
	}
}

func TestDockPDBQTPair(t *testing.T) {
	requireTools(t)
	r := newTestRunner(t)
	params := quickParams()
	scratch, rec, lig := scratchWith(t, recPDBQT, ligPDBQT)

	var pgid int
	var argv []string
	r.onVinaStart = func(pid int) {
		pgid = pid
		// Start returns once the child released the parent's memory inside
		// execve, which is a moment before the kernel has filled in the new
		// image's arguments: poll until they appear.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
			if err != nil {
				return
			}
			if len(b) > 0 {
				argv = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
				return
			}
		}
	}
	res, err := r.Dock(context.Background(), Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("poses %v vina %v prepare %v convert %v", res.Poses, res.VinaWall, res.PrepareWall, res.ConvertWall)

	// The command line vina really got: binary, then exactly vinaArgs.
	want, _ := vinaArgs(params, 1)
	if len(argv) == 0 || argv[0] != DefaultVinaPath || !reflect.DeepEqual(argv[1:], want) {
		t.Errorf("vina cmdline = %q, want %s %q", argv, DefaultVinaPath, want)
	}
	for _, a := range argv {
		if strings.Contains(a, scratch) || strings.Contains(a, "input-") {
			t.Errorf("cmdline contains a caller path: %q", a)
		}
	}

	if n := len(res.Poses); n < 1 || n > params.NumModes {
		t.Fatalf("%d poses, want 1..%d", n, params.NumModes)
	}
	if a := res.Poses[0].Affinity; a < -14.5 || a > -11.5 {
		t.Errorf("best affinity %.3f, want between -14.5 and -11.5", a)
	}
	for i, p := range res.Poses {
		if p.Mode != i+1 {
			t.Errorf("pose %d has mode %d", i, p.Mode)
		}
		if p.Affinity < res.Poses[0].Affinity {
			t.Errorf("mode %d (%.3f) beats mode 1 (%.3f)", p.Mode, p.Affinity, res.Poses[0].Affinity)
		}
	}
	// Vina 1.2.3 with exhaustiveness 1 usually keeps fewer than num_modes
	// poses (seed 42 gives one); the SDF must hold exactly the poses.
	if got := strings.Count(string(res.PosesSDF), "$$$$"); got != len(res.Poses) {
		t.Errorf("SDF has %d records for %d poses", got, len(res.Poses))
	}
	if got := strings.Count(string(res.PosesPDBQT), "REMARK VINA RESULT"); got != len(res.Poses) {
		t.Errorf("PDBQT has %d results for %d poses", got, len(res.Poses))
	}
	if !strings.Contains(string(res.Log), "mode |   affinity") {
		t.Errorf("log lacks the result table:\n%s", res.Log)
	}
	if res.VinaVersion != "1.2.3" || res.Seed != 42 {
		t.Errorf("version %q seed %d", res.VinaVersion, res.Seed)
	}
	if res.VinaWall <= 0 || res.PrepareWall <= 0 || res.ConvertWall <= 0 {
		t.Errorf("walls %v %v %v", res.VinaWall, res.PrepareWall, res.ConvertWall)
	}
	assertNoProcesses(t, pgid, scratch)
	assertScratchClean(t, scratch)
}

func TestDockPDBReceptorSDFLigand(t *testing.T) {
	requireTools(t)
	r := newTestRunner(t)
	scratch, rec, lig := scratchWith(t, recPDB, ligSDF)
	res, err := r.Dock(context.Background(), Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: quickParams()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("poses %v vina %v prepare %v convert %v", res.Poses, res.VinaWall, res.PrepareWall, res.ConvertWall)
	// Converted inputs differ slightly from the reference PDBQTs (Open
	// Babel's torsion tree and hydrogens), so the bound is looser.
	if a := res.Poses[0].Affinity; a > -9 || a < -16 {
		t.Errorf("best affinity %.3f, want a reasonable negative value (-16..-9)", a)
	}
	if got := strings.Count(string(res.PosesSDF), "$$$$"); got != len(res.Poses) {
		t.Errorf("SDF has %d records for %d poses", got, len(res.Poses))
	}
	assertScratchClean(t, scratch)
}

// TestPrepareLigand covers the conversions that do not need a docking run
// to check: 3D generation for SMILES and 2D SDF, MOL2 input.
func TestPrepareLigand(t *testing.T) {
	requireTools(t)
	r := newTestRunner(t)
	sdf := string(readTestdata(t, filepath.Join(testdata1iep, "1iep_ligand.sdf")))
	for _, tc := range []struct {
		name string
		in   inputSpec
	}{
		{"SMILES", inputSpec{domain.FormatSMI, "Cc1ccc(NC(=O)c2ccc(CN3CC[NH+](C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1 imatinib\n"}},
		{"2D SDF", inputSpec{domain.FormatSDF, flatten(t, sdf)}},
		{"3D SDF", inputSpec{domain.FormatSDF, sdf}},
		{"MOL2", inputSpec{domain.FormatMOL2, tinyMOL2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scratch, _, lig := scratchWith(t, recPDBQT, tc.in)
			work := t.TempDir()
			if err := r.prepareLigand(context.Background(), scratch, work, lig); err != nil {
				t.Fatal(err)
			}
			info, err := inspect(filepath.Join(work, ligandPDBQT), domain.FormatPDBQT)
			if err != nil {
				t.Fatal(err)
			}
			if info.Atoms == 0 || !info.Has3D || info.MultiModels {
				t.Errorf("ligand.pdbqt: %+v, want atoms in 3D", info)
			}
			b := readTestdata(t, filepath.Join(work, ligandPDBQT))
			if !strings.Contains(string(b), "TORSDOF") {
				t.Error("ligand.pdbqt has no torsion tree")
			}
		})
	}
}

func TestDockInvalidInput(t *testing.T) {
	requireTools(t)
	sdf := string(readTestdata(t, filepath.Join(testdata1iep, "1iep_ligand.sdf")))
	pdbqt := string(readTestdata(t, filepath.Join(testdata1iep, "1iep_ligand.pdbqt")))
	// An AutoDock type vina does not know: passes our scan, vina rejects it.
	badType := strings.Replace(pdbqt, " A \n", " Xx\n", 1)
	seed0 := int64(0)
	// An NMR-style ensemble: two MODELs of the same fragment.
	var frag []string
	for _, l := range strings.Split(string(readTestdata(t, filepath.Join(testdata1iep, "1iep_receptorH.pdb"))), "\n") {
		if strings.HasPrefix(l, "ATOM") && len(frag) < 100 {
			frag = append(frag, l)
		}
	}
	ensemble := "MODEL        1\n" + strings.Join(frag, "\n") + "\nENDMDL\nMODEL        2\n" + strings.Join(frag, "\n") + "\nENDMDL\nEND\n"
	for _, tc := range []struct {
		name          string
		rec, lig      inputSpec
		params        func(*domain.VinaParams)
		input, reason string
	}{
		{name: "receptor given as SDF", rec: inputSpec{domain.FormatSDF, sdf}, lig: ligPDBQT, input: "receptor", reason: "must be a PDB or PDBQT"},
		{name: "receptor PDB that is an SDF", rec: inputSpec{domain.FormatPDB, sdf}, lig: ligPDBQT, input: "receptor", reason: "no ATOM/HETATM"},
		{name: "receptor PDB of junk", rec: inputSpec{domain.FormatPDB, "hello\n"}, lig: ligPDBQT, input: "receptor", reason: "no ATOM/HETATM"},
		{name: "receptor ensemble", rec: inputSpec{domain.FormatPDB, ensemble}, lig: ligPDBQT, input: "receptor", reason: "several MODELs"},
		{name: "empty receptor PDBQT", rec: inputSpec{domain.FormatPDBQT, ""}, lig: ligPDBQT, input: "receptor"},
		{name: "ligand with no atoms", rec: recPDBQT, lig: inputSpec{domain.FormatSDF, "empty\n  x\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n"}, input: "ligand", reason: "no atoms"},
		{name: "empty ligand PDBQT", rec: recPDBQT, lig: inputSpec{domain.FormatPDBQT, ""}, input: "ligand", reason: "no atoms"},
		{name: "junk SDF ligand", rec: recPDBQT, lig: inputSpec{domain.FormatSDF, "junk junk\n"}, input: "ligand", reason: "not a molfile"},
		{name: "junk SMILES ligand", rec: recPDBQT, lig: inputSpec{domain.FormatSMI, "hello world\n"}, input: "ligand", reason: "SMILES"},
		// Tokenizes fine, so Open Babel is the one to refuse it (exit 0,
		// "0 molecules converted", the reason only as a warning).
		{name: "SMILES obabel rejects", rec: recPDBQT, lig: inputSpec{domain.FormatSMI, "C1CC bad\n"}, input: "ligand", reason: "unmatched ring bonds"},
		{name: "ligand with 10000 atoms", rec: recPDBQT, lig: inputSpec{domain.FormatSDF, bigV3000(10000)}, input: "ligand", reason: "10000 heavy atoms"},
		{name: "two ligands", rec: recPDBQT, lig: inputSpec{domain.FormatSDF, sdf + sdf}, input: "ligand", reason: "several molecules"},
		{name: "ligand as PDB", rec: recPDBQT, lig: inputSpec{domain.FormatPDB, "1iep:1iep_receptorH.pdb"}, input: "ligand", reason: "not PDB"},
		{name: "vina rejects atom type", rec: recPDBQT, lig: inputSpec{domain.FormatPDBQT, badType}, input: "ligand", reason: "rejected by AutoDock Vina"},
		{name: "vina rejects receptor", rec: inputSpec{domain.FormatPDBQT, pdbqt}, lig: ligPDBQT, input: "receptor", reason: "rejected by AutoDock Vina"},
		{name: "seed 0", rec: recPDBQT, lig: ligPDBQT, params: func(p *domain.VinaParams) { p.Seed = &seed0 }, input: "params", reason: "seed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRunner(t)
			scratch, rec, lig := scratchWith(t, tc.rec, tc.lig)
			p := quickParams()
			if tc.params != nil {
				tc.params(&p)
			}
			start := time.Now()
			_, err := r.Dock(context.Background(), Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: p})
			var ie *InputError
			if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &ie) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			if ie.Input != tc.input || !strings.Contains(ie.Reason, tc.reason) {
				t.Errorf("got %s: %q; want %s, reason containing %q", ie.Input, ie.Reason, tc.input, tc.reason)
			}
			if errors.Is(err, ErrTimeout) || errors.Is(err, ErrCancelled) {
				t.Errorf("err %v matches another class", err)
			}
			// Rejections must be quick: none of these may reach a search.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			t.Logf("%v (%v)", err, time.Since(start))
			assertScratchClean(t, scratch)
		})
	}
}

func TestDockTimeout(t *testing.T) {
	requireTools(t)
	r := newTestRunner(t)
	scratch, rec, lig := scratchWith(t, recPDBQT, ligPDBQT)
	p := quickParams()
	p.TimeoutSeconds = 1 // below the domain minimum on purpose
	var pgid atomic.Int64
	r.onVinaStart = func(pid int) { pgid.Store(int64(pid)) }
	start := time.Now()
	_, err := r.Dock(context.Background(), Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: p})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrInvalidInput) || errors.Is(err, ErrCancelled) {
		t.Fatalf("err = %v, want ErrTimeout only", err)
	}
	if pgid.Load() == 0 {
		t.Fatal("vina never started (timeout hit during preparation?)")
	}
	if elapsed > 4*time.Second {
		t.Errorf("Dock returned after %v, want ~1 s", elapsed)
	}
	t.Logf("%v after %v", err, elapsed)
	assertNoProcesses(t, int(pgid.Load()), scratch)
	assertScratchClean(t, scratch)
}

func TestDockCancelled(t *testing.T) {
	requireTools(t)
	r := newTestRunner(t)
	r.CancelPollInterval = 300 * time.Millisecond
	scratch, rec, lig := scratchWith(t, recPDBQT, ligPDBQT)
	var pgid atomic.Int64
	r.onVinaStart = func(pid int) { pgid.Store(int64(pid)) }
	var mu sync.Mutex
	calls, returned := 0, false
	cancelled := func(ctx context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			t.Error("Cancelled polled after Dock returned")
		}
		calls++
		switch calls {
		case 1:
			return false, nil
		case 2: // a failing poll is logged, not fatal
			return false, errors.New("db unavailable")
		}
		return true, nil
	}
	start := time.Now()
	_, err := r.Dock(context.Background(), Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: quickParams(), Cancelled: cancelled})
	elapsed := time.Since(start)
	mu.Lock()
	returned = true
	n := calls
	mu.Unlock()
	if !errors.Is(err, ErrCancelled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	if n != 3 {
		t.Errorf("Cancelled called %d times, want 3", n)
	}
	if elapsed > 4*time.Second {
		t.Errorf("Dock returned after %v, want ~1 s", elapsed)
	}
	t.Logf("%v after %v", err, elapsed)
	time.Sleep(2 * r.CancelPollInterval) // a stray poller would call again
	assertNoProcesses(t, int(pgid.Load()), scratch)
}

func TestDockCallerDeadline(t *testing.T) {
	requireTools(t)
	r := newTestRunner(t)
	scratch, rec, lig := scratchWith(t, recPDBQT, ligPDBQT)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var pgid atomic.Int64
	r.onVinaStart = func(pid int) { pgid.Store(int64(pid)) }
	_, err := r.Dock(ctx, Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: quickParams()})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	assertNoProcesses(t, int(pgid.Load()), scratch)

	// A caller cancellation (shutdown) is none of the classes: transient.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	scratch, rec, lig = scratchWith(t, recPDBQT, ligPDBQT)
	_, err = r.Dock(ctx, Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: quickParams()})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrCancelled) || errors.Is(err, ErrInvalidInput) {
		t.Fatalf("err = %v, want a plain context.Canceled", err)
	}
}

func TestDockInternalErrors(t *testing.T) {
	requireTools(t)
	classes := []error{ErrInvalidInput, ErrTimeout, ErrCancelled}
	for _, tc := range []struct {
		name     string
		runner   *Runner
		rec, lig inputSpec
	}{
		{"vina missing", &Runner{VinaPath: "/nonexistent/vina", CPUs: 1}, recPDBQT, ligPDBQT},
		{"obabel missing", &Runner{ObabelPath: "/nonexistent/obabel", CPUs: 1}, recPDB, ligPDBQT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scratch, rec, lig := scratchWith(t, tc.rec, tc.lig)
			_, err := tc.runner.Dock(context.Background(), Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: quickParams()})
			if err == nil {
				t.Fatal("no error")
			}
			for _, c := range classes {
				if errors.Is(err, c) {
					t.Errorf("err %v is %v, want internal", err, c)
				}
			}
			t.Log(err)
		})
	}
	// Inputs outside the scratch dir are the caller's bug, not the user's.
	r := newTestRunner(t)
	scratch := t.TempDir()
	outside := filepath.Join(testdata1iep, "1iep_receptor.pdbqt")
	_, err := r.Dock(context.Background(), Request{ScratchDir: scratch,
		Receptor: Input{Path: outside, Format: domain.FormatPDBQT}, Ligand: Input{Path: outside, Format: domain.FormatPDBQT}, Params: quickParams()})
	if err == nil || errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "not inside the scratch dir") {
		t.Errorf("input outside scratch: err = %v", err)
	}
	// So is a symlink that points out of it.
	link := filepath.Join(scratch, "input-receptor")
	abs, _ := filepath.Abs(outside)
	if err := os.Symlink(abs, link); err != nil {
		t.Fatal(err)
	}
	_, err = r.Dock(context.Background(), Request{ScratchDir: scratch,
		Receptor: Input{Path: link, Format: domain.FormatPDBQT}, Ligand: Input{Path: link, Format: domain.FormatPDBQT}, Params: quickParams()})
	if err == nil || errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlinked input: err = %v", err)
	}
}

// BenchmarkDock1iep docks the 1iep PDBQT pair with the quick settings and
// reports how much of Dock's wall time is vina itself.
func BenchmarkDock1iep(b *testing.B) {
	requireTools(b)
	r := &Runner{CPUs: 1}
	var vina, prepare, total time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		scratch, rec, lig := scratchWith(b, recPDBQT, ligPDBQT)
		b.StartTimer()
		start := time.Now()
		res, err := r.Dock(context.Background(), Request{ScratchDir: scratch, Receptor: rec, Ligand: lig, Params: quickParams()})
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		vina += res.VinaWall
		prepare += res.PrepareWall
		n++
	}
	b.ReportMetric(vina.Seconds()/float64(n), "vina-s/op")
	b.ReportMetric(total.Seconds()/float64(n), "dock-s/op")
	b.ReportMetric(float64((total-vina).Milliseconds())/float64(n), "overhead-ms/op")
	b.ReportMetric(float64(prepare.Microseconds())/1000/float64(n), "prepare-ms/op")
}
