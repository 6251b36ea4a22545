package vina

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// molInfo is what a cheap scan of a molecule file tells before any tool
// runs on it. The scan exists because Open Babel is slow on large inputs
// (reading a 10,000-atom SDF takes about 25 s, adding hydrogens and writing
// PDBQT over a minute), so the ligand size limit must be enforced without it.
type molInfo struct {
	Molecules   int  // records in the file
	Atoms       int  // atoms of the first record, hydrogens included
	HeavyAtoms  int  // non-hydrogen atoms of the first record
	Hydrogens   int  // explicit hydrogens of the first record
	Has3D       bool // some atom of the first record has z != 0
	HasCoords   bool // the format carries coordinates at all (not SMILES)
	MultiModels bool // PDB/PDBQT with MODEL records (several structures)
}

// maxLineBytes bounds one line of a molecule file; real files stay far
// below, so a longer line means the file is not what its format says.
const maxLineBytes = 1 << 20

func newLineScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	return sc
}

func scanErr(err error) error {
	if errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("a line is longer than %d bytes", maxLineBytes)
	}
	return err
}

// isHydrogen reports whether an element symbol (any case, possibly with a
// charge or isotope suffix stripped by the caller) is hydrogen or one of its
// isotopes as molecule formats write them.
func isHydrogen(el string) bool {
	switch strings.ToUpper(el) {
	case "H", "D", "T":
		return true
	}
	return false
}

// inspectPDB scans PDB or PDBQT ATOM/HETATM records: every one must carry
// x, y, z in columns 31-54, which also rejects mmCIF or SDF content sent as
// PDB. pdbqt selects how hydrogens are recognised: by the AutoDock type in
// columns 78-79 (H, HD, HS) instead of the element in columns 77-78.
func inspectPDB(r io.Reader, pdbqt bool) (molInfo, error) {
	var info molInfo
	info.HasCoords = true
	sc := newLineScanner(r)
	lineNo := 0
	models := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.HasPrefix(line, "MODEL") {
			models++
			continue
		}
		if !strings.HasPrefix(line, "ATOM  ") && !strings.HasPrefix(line, "HETATM") {
			continue
		}
		if len(line) < 54 {
			return info, fmt.Errorf("line %d: ATOM/HETATM record too short for coordinates (columns 31-54)", lineNo)
		}
		var xyz [3]float64
		for i := range xyz {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[30+8*i:38+8*i]), 64)
			if err != nil {
				return info, fmt.Errorf("line %d: no coordinate in columns %d-%d", lineNo, 31+8*i, 38+8*i)
			}
			xyz[i] = v
		}
		info.Atoms++
		if xyz[2] != 0 {
			info.Has3D = true
		}
		h := false
		if pdbqt {
			h = pdbqtIsHydrogen(line)
		} else {
			h = pdbIsHydrogen(line)
		}
		if h {
			info.Hydrogens++
		} else {
			info.HeavyAtoms++
		}
	}
	if err := sc.Err(); err != nil {
		return info, scanErr(err)
	}
	if info.Atoms > 0 {
		info.Molecules = 1
	}
	info.MultiModels = models > 1
	return info, nil
}

func pdbqtIsHydrogen(line string) bool {
	if len(line) < 78 {
		return false
	}
	switch strings.TrimSpace(line[77:min(len(line), 79)]) {
	case "H", "HD", "HS":
		return true
	}
	return false
}

// pdbIsHydrogen uses the element columns 77-78 when present, otherwise the
// atom name convention (columns 13-16: hydrogens are "H..." with column 13
// blank or a digit, e.g. " HA ", "1HB ", "HG12"; "HG  " in column 13 would
// be mercury, which the element column normally disambiguates).
func pdbIsHydrogen(line string) bool {
	if len(line) >= 78 {
		if el := strings.TrimSpace(line[76:78]); el != "" {
			return isHydrogen(el)
		}
	}
	if len(line) < 16 {
		return false
	}
	name := line[12:16]
	c0, c1 := name[0], name[1]
	if c0 == ' ' || (c0 >= '0' && c0 <= '9') {
		return c1 == 'H' || c1 == 'D'
	}
	// Four-character hydrogen names start in column 13 ("HG12", "HD21").
	return c0 == 'H' && strings.TrimSpace(name) != "" && len(strings.TrimSpace(name)) == 4
}

// inspectSDF scans an SDF (MDL molfile V2000 or V3000) file: number of
// records and atoms of the first one.
func inspectSDF(r io.Reader) (molInfo, error) {
	info := molInfo{HasCoords: true}
	sc := newLineScanner(r)
	var lines []string // the first record only
	records, content, first := 0, false, true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, "$$$$") {
			if content {
				records++
			}
			content, first = false, false
			continue
		}
		if strings.TrimSpace(line) != "" {
			content = true
		}
		if first {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return info, scanErr(err)
	}
	if content {
		records++
	}
	info.Molecules = records
	if records == 0 {
		return info, nil
	}
	if len(lines) < 4 {
		return info, fmt.Errorf("not a molfile: header and counts line missing")
	}
	counts := lines[3]
	if strings.Contains(counts, "V3000") {
		return info, sdfV3000Atoms(lines, &info)
	}
	if len(counts) < 6 {
		return info, fmt.Errorf("not a molfile: malformed counts line")
	}
	// Fixed columns: "aaabbb..." may have no space between the counts.
	n, err := strconv.Atoi(strings.TrimSpace(counts[0:3]))
	if err != nil || n < 0 {
		return info, fmt.Errorf("not a molfile: malformed atom count")
	}
	if 4+n > len(lines) {
		return info, fmt.Errorf("molfile declares %d atoms but has only %d atom lines", n, max(0, len(lines)-4))
	}
	for i := 0; i < n; i++ {
		f := strings.Fields(lines[4+i])
		if len(f) < 4 {
			return info, fmt.Errorf("atom line %d is malformed", i+1)
		}
		if err := addAtom(&info, f[3], f[2], i+1); err != nil {
			return info, err
		}
		if _, err := parseFinite(f[0]); err != nil {
			return info, fmt.Errorf("atom line %d: bad x coordinate", i+1)
		}
		if _, err := parseFinite(f[1]); err != nil {
			return info, fmt.Errorf("atom line %d: bad y coordinate", i+1)
		}
	}
	return info, nil
}

// sdfV3000Atoms reads the "M  V30 BEGIN ATOM" block of a V3000 molfile.
func sdfV3000Atoms(lines []string, info *molInfo) error {
	in := false
	pending := ""
	for _, line := range lines {
		if !strings.HasPrefix(line, "M  V30 ") {
			continue
		}
		body := pending + strings.TrimPrefix(line, "M  V30 ")
		// A trailing "-" continues the entry on the next line.
		if strings.HasSuffix(body, "-") {
			pending = strings.TrimSuffix(body, "-")
			continue
		}
		pending = ""
		switch strings.TrimSpace(body) {
		case "BEGIN ATOM":
			in = true
			continue
		case "END ATOM":
			return nil
		}
		if !in {
			continue
		}
		f := strings.Fields(body) // index type x y z aamap ...
		if len(f) < 5 {
			return fmt.Errorf("V3000 atom entry %d is malformed", info.Atoms+1)
		}
		if _, err := parseFinite(f[2]); err != nil {
			return fmt.Errorf("V3000 atom entry %d: bad x coordinate", info.Atoms+1)
		}
		if _, err := parseFinite(f[3]); err != nil {
			return fmt.Errorf("V3000 atom entry %d: bad y coordinate", info.Atoms+1)
		}
		if err := addAtom(info, f[1], f[4], info.Atoms+1); err != nil {
			return err
		}
	}
	if in {
		return fmt.Errorf("V3000 atom block not terminated")
	}
	return nil // no atom block: no atoms
}

func addAtom(info *molInfo, element, z string, n int) error {
	zv, err := parseFinite(z)
	if err != nil {
		return fmt.Errorf("atom %d: bad z coordinate", n)
	}
	if zv != 0 {
		info.Has3D = true
	}
	info.Atoms++
	if isHydrogen(element) {
		info.Hydrogens++
	} else {
		info.HeavyAtoms++
	}
	return nil
}

// inspectMOL2 scans a Tripos MOL2 file: records are @<TRIPOS>MOLECULE
// sections; atoms are the @<TRIPOS>ATOM lines of the first one
// ("id name x y z type ...", element = type up to the first '.').
func inspectMOL2(r io.Reader) (molInfo, error) {
	info := molInfo{HasCoords: true}
	sc := newLineScanner(r)
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "@<TRIPOS>") {
			section = strings.TrimPrefix(line, "@<TRIPOS>")
			if section == "MOLECULE" {
				info.Molecules++
			}
			continue
		}
		if section != "ATOM" || info.Molecules != 1 || line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 {
			return info, fmt.Errorf("ATOM line %d is malformed", info.Atoms+1)
		}
		if _, err := parseFinite(f[2]); err != nil {
			return info, fmt.Errorf("atom %d: bad x coordinate", info.Atoms+1)
		}
		if _, err := parseFinite(f[3]); err != nil {
			return info, fmt.Errorf("atom %d: bad y coordinate", info.Atoms+1)
		}
		el, _, _ := strings.Cut(f[5], ".")
		if err := addAtom(&info, el, f[4], info.Atoms+1); err != nil {
			return info, err
		}
	}
	if err := sc.Err(); err != nil {
		return info, scanErr(err)
	}
	return info, nil
}

// inspectSMI scans a SMILES file: one molecule per non-blank line, "SMILES
// [title]". Atoms are counted by a small tokenizer (bracket atoms and the
// organic subset); it rejects characters SMILES does not use so that
// binary or text junk fails here with a clear reason.
func inspectSMI(r io.Reader) (molInfo, error) {
	var info molInfo
	sc := newLineScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		info.Molecules++
		if info.Molecules > 1 {
			continue
		}
		heavy, h, err := countSMILESAtoms(f[0])
		if err != nil {
			return info, err
		}
		info.HeavyAtoms, info.Hydrogens, info.Atoms = heavy, h, heavy+h
	}
	if err := sc.Err(); err != nil {
		return info, scanErr(err)
	}
	return info, nil
}

// countSMILESAtoms counts atoms of a SMILES string; implicit hydrogens are
// not counted (they are not atoms of the string).
func countSMILESAtoms(s string) (heavy, hydrogens int, err error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return 0, 0, fmt.Errorf("SMILES: unclosed '[' at position %d", i+1)
			}
			// Skip the isotope, then the element symbol decides.
			k := i + 1
			for k < i+j && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			sym := s[k : i+j]
			if sym == "" {
				return 0, 0, fmt.Errorf("SMILES: empty bracket atom at position %d", i+1)
			}
			isH := (sym[0] == 'H' || sym[0] == 'D' || sym[0] == 'T') && (len(sym) == 1 || !isLower(sym[1]))
			if isH {
				hydrogens++
			} else {
				heavy++
			}
			i += j
		case c == 'C' && i+1 < len(s) && s[i+1] == 'l', c == 'B' && i+1 < len(s) && s[i+1] == 'r':
			heavy++
			i++
		case strings.IndexByte("BCNOPSFI*bcnops", c) >= 0:
			heavy++
		case strings.IndexByte("0123456789%()=#$:/\\.-+@", c) >= 0:
			// bonds, branches, ring closures, disconnections, stereo
		default:
			return 0, 0, fmt.Errorf("SMILES: unexpected character %q at position %d", sanitize(string(c), 4), i+1)
		}
	}
	return heavy, hydrogens, nil
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// pdbqtHasType reports whether a PDBQT file has an atom of AutoDock type typ.
func pdbqtHasType(path, typ string) bool {
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	sc := newLineScanner(fh)
	for sc.Scan() {
		l := sc.Text()
		if (strings.HasPrefix(l, "ATOM  ") || strings.HasPrefix(l, "HETATM")) && len(l) > 77 &&
			strings.TrimSpace(l[77:min(len(l), 79)]) == typ {
			return true
		}
	}
	return false
}
