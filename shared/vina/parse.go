package vina

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var versionRE = regexp.MustCompile(`AutoDock Vina v?(\d+\.\d+(?:\.\d+)?[0-9A-Za-z.+-]*)`)

// parseVersion extracts "1.2.3" from `vina --version` output such as
// "AutoDock Vina v1.2.3" (1.2.x) or "AutoDock Vina 1.1.2 (May 11, 2011)".
func parseVersion(out []byte) (string, error) {
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("unrecognised vina --version output %q", firstLine(out, 100))
	}
	return string(m[1]), nil
}

var seedRE = regexp.MustCompile(`random seed: (-?\d+)`)

// parseSeed returns the seed vina reports in "Performing docking (random
// seed: N)". Vina picks one itself when --seed is absent (or 0), so this is
// what makes an unseeded run reproducible afterwards.
func parseSeed(stdout []byte) (int64, bool) {
	m := seedRE.FindSubmatch(stdout)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseInt(string(m[1]), 10, 64)
	return v, err == nil
}

// parseResultTable parses vina's stdout table:
//
//	mode |   affinity | dist from best mode
//	     | (kcal/mol) | rmsd l.b.| rmsd u.b.
//	-----+------------+----------+----------
//	   1       -13.36          0          0
//	   2        -11.4      1.295      1.738
//
// The numbers are printed with 4-5 significant digits only. It returns
// (nil, nil) when there is no table at all (for example truncated output).
func parseResultTable(stdout []byte) ([]Pose, error) {
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 0, 64*1024), maxCapturedOutput)
	state := 0 // 0: looking for header, 1: looking for the rule, 2: rows
	var poses []Pose
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch state {
		case 0:
			if strings.HasPrefix(strings.TrimSpace(line), "mode |") {
				state = 1
			}
		case 1:
			if strings.HasPrefix(line, "-----+") {
				state = 2
			}
		case 2:
			f := strings.Fields(line)
			if len(f) != 4 {
				return poses, nil
			}
			mode, err := strconv.Atoi(f[0])
			if err != nil {
				return poses, nil
			}
			var v [3]float64
			for i := range v {
				if v[i], err = parseFinite(f[i+1]); err != nil {
					return nil, fmt.Errorf("result table row %d: %w", mode, err)
				}
			}
			poses = append(poses, Pose{Mode: mode, Affinity: v[0], RMSDLB: v[1], RMSDUB: v[2]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("result table: %w", err)
	}
	if state == 1 {
		return nil, fmt.Errorf("result table: header without rule line")
	}
	return poses, nil
}

// parseRemarks reads the "REMARK VINA RESULT: affinity rmsd_lb rmsd_ub"
// line of every MODEL of vina's output PDBQT. These are the authoritative
// scores: they belong to exactly the poses written, printed with 3
// decimals. Poses are returned sorted by mode and must number 1..n.
func parseRemarks(pdbqt []byte) ([]Pose, error) {
	sc := bufio.NewScanner(bytes.NewReader(pdbqt))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	const tag = "REMARK VINA RESULT:"
	var poses []Pose
	model, seen := 0, map[int]bool{}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "MODEL"):
			f := strings.Fields(line)
			if len(f) != 2 {
				return nil, fmt.Errorf("malformed MODEL line %q", firstLine([]byte(line), 40))
			}
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 1 {
				return nil, fmt.Errorf("malformed MODEL line %q", firstLine([]byte(line), 40))
			}
			model = n
		case strings.HasPrefix(line, tag):
			f := strings.Fields(line[len(tag):])
			if len(f) != 3 {
				return nil, fmt.Errorf("malformed VINA RESULT line in model %d", model)
			}
			var v [3]float64
			for i := range v {
				var err error
				if v[i], err = parseFinite(f[i]); err != nil {
					return nil, fmt.Errorf("VINA RESULT of model %d: %w", model, err)
				}
			}
			mode := model
			if mode == 0 { // a single pose written without MODEL records
				mode = len(poses) + 1
			}
			if seen[mode] {
				return nil, fmt.Errorf("two VINA RESULT lines for model %d", mode)
			}
			seen[mode] = true
			poses = append(poses, Pose{Mode: mode, Affinity: v[0], RMSDLB: v[1], RMSDUB: v[2]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(poses) == 0 {
		return nil, fmt.Errorf("no REMARK VINA RESULT lines")
	}
	sort.Slice(poses, func(i, j int) bool { return poses[i].Mode < poses[j].Mode })
	for i, p := range poses {
		if p.Mode != i+1 {
			return nil, fmt.Errorf("models are not numbered 1..%d (found model %d at position %d)", len(poses), p.Mode, i+1)
		}
	}
	return poses, nil
}

// crossCheck compares the stdout table with the REMARK poses and returns
// the discrepancies (empty when they agree). Vina 1.2.3 prints the table
// before applying --energy_range, so rows past the written poses are
// expected as long as they lie outside best+energyRange.
func crossCheck(remarks, table []Pose, energyRange float64) []string {
	var problems []string
	if len(table) == 0 {
		return []string{"no result table in vina stdout"}
	}
	if len(table) < len(remarks) {
		problems = append(problems, fmt.Sprintf("table has %d rows, output has %d poses", len(table), len(remarks)))
	}
	for i, r := range remarks {
		if i >= len(table) {
			break
		}
		t := table[i]
		if t.Mode != r.Mode || !close4(t.Affinity, r.Affinity) || !close4(t.RMSDLB, r.RMSDLB) || !close4(t.RMSDUB, r.RMSDUB) {
			problems = append(problems, fmt.Sprintf("mode %d: table %g/%g/%g, output %g/%g/%g",
				r.Mode, t.Affinity, t.RMSDLB, t.RMSDUB, r.Affinity, r.RMSDLB, r.RMSDUB))
		}
	}
	if len(remarks) > 0 {
		limit := remarks[0].Affinity + energyRange
		for _, t := range table[min(len(remarks), len(table)):] {
			if t.Affinity <= limit-0.01 {
				problems = append(problems, fmt.Sprintf("table mode %d (%g) is within the energy range but not in the output", t.Mode, t.Affinity))
			}
		}
	}
	return problems
}

// close4 reports whether a (printed with 4 significant digits, like the
// table's "12.41") and b (3 decimals, like "12.406") are the same number.
func close4(a, b float64) bool {
	tol := 0.006
	if m := math.Abs(b) * 6e-4; m > tol {
		tol = m
	}
	return math.Abs(a-b) <= tol
}

func parseFinite(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a finite number: %q", firstLine([]byte(s), 20))
	}
	return v, nil
}

// vinaInputErrorMarkers are vina messages that mean the molecule files are
// unusable (as opposed to vina itself failing).
var vinaInputErrorMarkers = []string{
	"PDBQT parsing error",
	"Parse error on line",
	"ATOM syntax incorrect",
	"is not a valid AutoDock type",
	"No atoms in this ligand",
}

// vinaInputError returns the InputError for vina's stderr when it reports a
// molecule problem, or nil. The line of the file that vina quotes after
// " > " is dropped: it is the user's data and does not belong in logs.
// Input is "molecule" when the message does not say which file it is about
// (see attributeAtomType).
func vinaInputError(stderr []byte) *InputError {
	msg := ""
	for _, line := range strings.Split(string(stderr), "\n") {
		for _, m := range vinaInputErrorMarkers {
			if strings.Contains(line, m) {
				msg = line
				break
			}
		}
		if msg != "" {
			break
		}
	}
	if msg == "" {
		return nil
	}
	// Parse errors name the file: ours, fixed, but say which molecule.
	input := "molecule"
	switch {
	case strings.Contains(msg, "rigid receptor") || strings.Contains(msg, receptorPDBQT):
		input = "receptor"
	case strings.Contains(msg, "ligand") || strings.Contains(msg, ligandPDBQT):
		input = "ligand"
	}
	return &InputError{Input: input, Reason: "rejected by AutoDock Vina: " + sanitize(msg, 300)}
}

var atomTypeRE = regexp.MustCompile(`(?:Atom type (\S+)|"(\S+)") is not a valid AutoDock type`)

// attributeAtomType finds which input an unknown-atom-type error is about.
// Vina 1.2.3 says only "Atom type Xx is not a valid AutoDock type", so the
// PDBQT files are searched for the type in columns 78-79, receptor first
// (vina reads it first). It returns "" when the type is found in neither.
func attributeAtomType(msg string, files map[string]string) string {
	m := atomTypeRE.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	typ := m[1] + m[2]
	for _, input := range []string{"receptor", "ligand"} {
		if pdbqtHasType(files[input], typ) {
			return input
		}
	}
	return ""
}

var titleRE = regexp.MustCompile(`\s*\(title is [^)]*\)`)

// sanitize makes a tool message fit for an error reason: one line, no
// molecule title (Open Babel appends "(title is ...)" with the user's
// molecule name), printable ASCII only, at most n bytes.
func sanitize(s string, n int) string {
	s = titleRE.ReplaceAllString(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

func firstLine(b []byte, n int) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return sanitize(string(b), n)
}

func splitLines(b []byte) []string {
	s := strings.Split(string(b), "\n")
	for i := range s {
		s[i] = strings.TrimRight(s[i], "\r")
	}
	return s
}

// lastLines returns the last n non-blank lines of b joined by " | ".
func lastLines(b []byte, n int) string {
	var out []string
	lines := splitLines(b)
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			out = append([]string{strings.TrimSpace(lines[i])}, out...)
		}
	}
	return strings.Join(out, " | ")
}
