// Command fakevina stands in for AutoDock Vina 1.2.3 where a test or a
// benchmark needs the whole job path except the docking math: it answers
// `--version` like vina, accepts exactly the options the engine passes
// (shared/vina's argument list), checks them the way vina does, sleeps
// FAKEVINA_SLEEP, writes a canned multi-model out.pdbqt (the 1iep reference
// output, trimmed to --num_modes) to --out and prints vina's banner, the
// random seed line and the results table on stdout. Exit codes follow
// vina: 0 on success, 1 on a command line or input error.
//
// Build it and point the local stack's engine at it:
//
//	go build -o /tmp/fakevina ./scripts/fakevina
//	MAD_LOCAL_VINA=/tmp/fakevina make dev
//
// Environment (devstack passes FAKEVINA_* through to the engine when
// MAD_LOCAL_VINA is set):
//
//	FAKEVINA_SLEEP       how long a "docking" takes: a Go duration or
//	                     milliseconds (default 50ms)
//	FAKEVINA_FAIL        make runs fail: "invalid" prints vina's PDBQT
//	                     parsing error (the engine fails the job at once),
//	                     "crash" exits 134 like an abort (the engine treats
//	                     it as transient and SQS retries), "hang" sleeps
//	                     until killed, "version" fails `--version` (the
//	                     engine cannot start: every delivery fails)
//	FAKEVINA_FAIL_SEEDS  comma-separated seeds: only runs with one of these
//	                     --seed values fail (default: every run fails)
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// canned is shared/testdata/1iep/1iep_ligand_vina_out.pdbqt (4 models).
//
//go:embed out.pdbqt
var canned []byte

const version = "AutoDock Vina v1.2.3"

const banner = `#################################################################
# If you used AutoDock Vina in your work, please cite:          #
#                                                               #
# J. Eberhardt, D. Santos-Martins, A. F. Tillack, and S. Forli  #
# AutoDock Vina 1.2.0: New Docking Methods, Expanded Force      #
# Field, and Python Bindings, J. Chem. Inf. Model. (2021)       #
# DOI 10.1021/acs.jcim.1c00203                                  #
#                                                               #
# O. Trott, A. J. Olson,                                        #
# AutoDock Vina: improving the speed and accuracy of docking    #
# with a new scoring function, efficient optimization and       #
# multithreading, J. Comp. Chem. (2010)                         #
# DOI 10.1002/jcc.21334                                         #
#                                                               #
# Please see https://github.com/ccsb-scripps/AutoDock-Vina for  #
# more information.                                             #
#################################################################
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// options are the ones shared/vina passes; the values are kept as given.
type options struct {
	receptor, ligand, out string
	center, size          [3]float64
	exhaustiveness        int
	numModes              int
	energyRange           float64
	cpu                   int
	seed                  int64
	seedSet               bool
}

// numeric options and where they go.
var floatOpts = map[string]func(*options) *float64{
	"center_x": func(o *options) *float64 { return &o.center[0] },
	"center_y": func(o *options) *float64 { return &o.center[1] },
	"center_z": func(o *options) *float64 { return &o.center[2] },
	"size_x":   func(o *options) *float64 { return &o.size[0] },
	"size_y":   func(o *options) *float64 { return &o.size[1] },
	"size_z":   func(o *options) *float64 { return &o.size[2] },
	"energy_range": func(o *options) *float64 {
		return &o.energyRange
	},
}

func usageError(stdout, stderr io.Writer, msg string) int {
	fmt.Fprintln(stdout, version)
	fmt.Fprintf(stderr, "Command line parse error: %s\n\nCorrect usage:\n\nInput:\n  --receptor arg             rigid part of the receptor (PDBQT)\n  --ligand arg               ligand (PDBQT)\n", msg)
	return 1
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	o := options{exhaustiveness: 8, numModes: 9, energyRange: 3}
	if len(args) == 1 && args[0] == "--version" {
		if getenv("FAKEVINA_FAIL") == "version" {
			// A broken install: the engine refuses to start (cold start fails).
			fmt.Fprintln(stderr, "fakevina: error while loading shared libraries: libboost_thread.so: cannot open shared object file")
			return 127
		}
		fmt.Fprintln(stdout, version)
		return 0
	}
	if len(args) == 0 {
		return usageError(stdout, stderr, "no options")
	}
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return usageError(stdout, stderr, fmt.Sprintf("too many positional options have been specified on the command line (%q)", a))
		}
		name := strings.TrimPrefix(a, "--")
		if i+1 >= len(args) {
			return usageError(stdout, stderr, fmt.Sprintf("the required argument for option '--%s' is missing", name))
		}
		val := args[i+1]
		i++
		if seen[name] {
			return usageError(stdout, stderr, fmt.Sprintf("option '--%s' cannot be specified more than once", name))
		}
		seen[name] = true
		var err error
		switch name {
		case "receptor":
			o.receptor = val
		case "ligand":
			o.ligand = val
		case "out":
			o.out = val
		case "exhaustiveness", "num_modes", "cpu":
			var n int
			n, err = strconv.Atoi(val)
			switch name {
			case "exhaustiveness":
				o.exhaustiveness = n
			case "num_modes":
				o.numModes = n
			default:
				o.cpu = n
			}
		case "seed":
			o.seed, err = strconv.ParseInt(val, 10, 32)
			o.seedSet = true
		default:
			f, ok := floatOpts[name]
			if !ok {
				return usageError(stdout, stderr, fmt.Sprintf("unrecognised option '--%s'", name))
			}
			var v float64
			v, err = strconv.ParseFloat(val, 64)
			if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				err = fmt.Errorf("not finite")
			}
			*f(&o) = v
		}
		if err != nil {
			return usageError(stdout, stderr, fmt.Sprintf("the argument ('%s') for option '--%s' is invalid", val, name))
		}
	}
	for _, req := range []string{"receptor", "ligand", "out", "center_x", "center_y", "center_z", "size_x", "size_y", "size_z"} {
		if !seen[req] {
			return usageError(stdout, stderr, fmt.Sprintf("the option '--%s' is required but missing", req))
		}
	}

	fmt.Fprintln(stdout, version)
	fmt.Fprint(stdout, banner)
	fmt.Fprintf(stdout, "\nScoring function : vina\nRigid receptor: %s\nLigand: %s\n", o.receptor, o.ligand)
	fmt.Fprintf(stdout, "Grid center: X %s Y %s Z %s\nGrid size  : X %s Y %s Z %s\nGrid space : 0.375\n",
		g(o.center[0]), g(o.center[1]), g(o.center[2]), g(o.size[0]), g(o.size[1]), g(o.size[2]))
	fmt.Fprintf(stdout, "Exhaustiveness: %d\nCPU: %d\nVerbosity: 1\n\n", o.exhaustiveness, o.cpu)
	for _, f := range []string{o.receptor, o.ligand} {
		if _, err := os.Stat(f); err != nil {
			fmt.Fprintf(stderr, "\n\nError: could not open \"%s\" for reading.\n", f)
			return 1
		}
	}
	if o.exhaustiveness < 1 || o.numModes < 1 || o.energyRange <= 0 {
		fmt.Fprintln(stderr, "\n\nError: exhaustiveness, num_modes and energy_range must be positive.")
		return 1
	}

	failing := getenv("FAKEVINA_FAIL")
	if failing != "" && !seedSelected(getenv("FAKEVINA_FAIL_SEEDS"), o) {
		failing = ""
	}
	switch failing {
	case "", "version":
	case "invalid":
		fmt.Fprint(stderr, "\n\nPDBQT parsing error: Unknown or inappropriate tag found in flex residue or ligand.\n > fakevina\n")
		return 1
	case "hang":
		fmt.Fprint(stdout, "Computing Vina grid ... done.\n")
		for {
			time.Sleep(time.Hour)
		}
	case "crash":
		fmt.Fprint(stdout, "Computing Vina grid ... done.\n")
		fmt.Fprint(stderr, "terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\n")
		return 134
	default:
		fmt.Fprintf(stderr, "fakevina: unknown FAKEVINA_FAIL=%q (invalid, crash, hang, version)\n", failing)
		return 2
	}

	seed := o.seed
	if !o.seedSet || seed == 0 {
		seed = time.Now().UnixNano() % math.MaxInt32
	}
	fmt.Fprint(stdout, "Computing Vina grid ... done.\n")
	fmt.Fprintf(stdout, "Performing docking (random seed: %d) ... \n", seed)
	fmt.Fprint(stdout, "0%   10   20   30   40   50   60   70   80   90   100%\n|----|----|----|----|----|----|----|----|----|----|\n")
	time.Sleep(sleep(getenv("FAKEVINA_SLEEP")))
	fmt.Fprint(stdout, "***************************************************\n\n")

	models, results := trim(canned, o.numModes)
	fmt.Fprint(stdout, "mode |   affinity | dist from best mode\n     | (kcal/mol) | rmsd l.b.| rmsd u.b.\n-----+------------+----------+----------\n")
	for i, r := range results {
		fmt.Fprintf(stdout, "%4d %12s %10s %10s\n", i+1, g4(r[0]), g4(r[1]), g4(r[2]))
	}
	if err := os.WriteFile(o.out, models, 0o644); err != nil {
		fmt.Fprintf(stderr, "\n\nError: could not open \"%s\" for writing.\n", filepath.Base(o.out))
		return 1
	}
	return 0
}

// seedSelected reports whether the run's seed is in the list (an empty
// list selects every run).
func seedSelected(list string, o options) bool {
	if strings.TrimSpace(list) == "" {
		return true
	}
	if !o.seedSet {
		return false
	}
	for _, s := range strings.Split(list, ",") {
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && n == o.seed {
			return true
		}
	}
	return false
}

// sleep reads FAKEVINA_SLEEP: a Go duration ("2s") or milliseconds ("50").
func sleep(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 50 * time.Millisecond
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Millisecond
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d
	}
	return 50 * time.Millisecond
}

// trim keeps the first n models of a multi-model PDBQT and returns them
// with each model's VINA RESULT numbers.
func trim(pdbqt []byte, n int) ([]byte, [][3]float64) {
	var out bytes.Buffer
	var results [][3]float64
	models := 0
	sc := bufio.NewScanner(bytes.NewReader(pdbqt))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "MODEL") {
			models++
		}
		if models > n {
			break
		}
		if rest, ok := strings.CutPrefix(line, "REMARK VINA RESULT:"); ok {
			var r [3]float64
			for i, f := range strings.Fields(rest) {
				if i < 3 {
					r[i], _ = strconv.ParseFloat(f, 64)
				}
			}
			results = append(results, r)
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes(), results
}

// g prints a number like vina's iostream output (%g).
func g(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// g4 prints a table number with vina's 4 significant digits.
func g4(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
