package molformat

import (
	"strings"
)

// pdb validates PDB content, or PDBQT content when qt is set.
//
// PDB is a fixed-column format identified by the record name in columns
// 1-6. Only the records the docking pipeline depends on are checked in
// depth: ATOM/HETATM coordinates (and, for PDBQT, the partial charge and
// AutoDock atom type Vina reads) and the MODEL/ENDMDL nesting that splits
// multi-pose files. Any other record is accepted as long as its name looks
// like a record name, because real files carry dozens of record types the
// engine ignores, while a first column that is not an uppercase letter is
// the quickest tell of a file that is not PDB at all.
func (v *validator) pdb(qt bool) *ValidationError {
	var (
		modelLine int // line of the open MODEL, 0 when none is open
		models    int
		tree      torsionTree
	)
	for {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		n := v.r.num
		if isBlank(line) {
			continue
		}
		if qt {
			if handled, err := tree.record(line, n); handled || err != nil {
				if err != nil {
					return err
				}
				continue
			}
		}
		rec := cols(line, 1, 6)
		if !isRecordName(rec) {
			return errf(n, "not a PDB record (columns 1-6 must be an uppercase record name such as ATOM or HETATM): %s", quote(line))
		}
		switch name := strings.TrimRight(rec, " "); {
		case strings.HasPrefix(line, "ATOM") || strings.HasPrefix(line, "HETATM"):
			if err := checkAtomRecord(line, n, qt); err != nil {
				return err
			}
			if qt {
				if err := tree.atom(n); err != nil {
					return err
				}
			}
			if err := v.addAtoms(n, 1); err != nil {
				return err
			}
		case name == "MODEL":
			if modelLine != 0 {
				return errf(n, "MODEL inside the MODEL opened at line %d (missing ENDMDL)", modelLine)
			}
			if err := v.addMolecule(n); err != nil {
				return err
			}
			modelLine = n
			models++
		case name == "ENDMDL":
			if modelLine == 0 {
				return errf(n, "ENDMDL without a MODEL")
			}
			if err := tree.closed(); err != nil {
				return err
			}
			modelLine = 0
		}
	}
	if modelLine != 0 {
		return errf(modelLine, "MODEL is never closed by ENDMDL")
	}
	if err := tree.closed(); err != nil {
		return err
	}
	if v.info.Atoms == 0 {
		return errf(0, "no ATOM or HETATM records")
	}
	if models == 0 {
		v.info.Molecules = 1
	}
	return nil
}

// isRecordName reports whether the first (up to) six columns of a line
// look like a PDB record name: an uppercase letter, then uppercase letters,
// digits or spaces.
func isRecordName(rec string) bool {
	if rec == "" || rec[0] < 'A' || rec[0] > 'Z' {
		return false
	}
	for i := 1; i < len(rec); i++ {
		c := rec[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ') {
			return false
		}
	}
	return true
}

// checkAtomRecord checks the columns of an ATOM/HETATM line: x, y, z in
// columns 31-38, 39-46, 47-54 and, for PDBQT, the partial charge ending in
// column 76 and the AutoDock atom type from column 78, which is what Vina
// actually reads.
func checkAtomRecord(line string, n int, qt bool) *ValidationError {
	if len(line) < 54 {
		return errf(n, "atom record is %d columns long, too short for coordinates (columns 31-54): %s", len(line), quote(line))
	}
	for i, axis := range [3]string{"x", "y", "z"} {
		from := 31 + 8*i
		field := cols(line, from, from+7)
		if _, ok := parseDecimal(strings.TrimSpace(field)); !ok {
			return errf(n, "atom record: %s coordinate (columns %d-%d) is not a finite number: %s", axis, from, from+7, quote(field))
		}
	}
	if !qt {
		return nil
	}
	// The charge is written right-aligned to column 76 (%6.3f); reading
	// from column 67 accepts charges that overflow six characters, as the
	// columns before are blank in every PDBQT writer's output.
	charge := strings.TrimSpace(cols(line, 67, 76))
	if charge == "" {
		return errf(n, "PDBQT atom record has no partial charge (columns 71-76): %s", quote(line))
	}
	if _, ok := parseDecimal(charge); !ok {
		return errf(n, "PDBQT atom record: partial charge (columns 71-76) is not a number: %s", quote(charge))
	}
	// AutoDock types are one or two characters in columns 78-79; Meeko's
	// macrocycle types (e.g. CG0) spill into column 80, so read to the end.
	typ := strings.TrimSpace(cols(line, 78, len(line)))
	if typ == "" {
		return errf(n, "PDBQT atom record has no AutoDock atom type (columns 78-79): %s", quote(line))
	}
	if len(typ) > 3 || !isAlnum(typ) {
		return errf(n, "PDBQT atom record: %s is not an AutoDock atom type (columns 78-79)", quote(typ))
	}
	return nil
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// torsionTree tracks the PDBQT torsion tree of one model: a ROOT block,
// then nested BRANCH/ENDBRANCH blocks, then TORSDOF; flexible receptor
// residues wrap their own tree in BEGIN_RES/END_RES. Vina refuses files
// whose tree is broken, so they are refused here, at upload, instead.
// Receptors have no tree at all, which is fine.
type torsionTree struct {
	rootLine int  // line of the open ROOT, 0 when none is open
	rooted   bool // ENDROOT seen: from here on, atoms must be in a BRANCH
	branches []branch
	resLine  int // line of the open BEGIN_RES, 0 when none is open
}

type branch struct{ line, from, to int }

// record handles the tree keywords, reporting whether line was one.
func (t *torsionTree) record(line string, n int) (bool, *ValidationError) {
	keyword := line
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		keyword = line[:i]
	}
	switch keyword {
	case "ROOT", "ENDROOT", "BRANCH", "ENDBRANCH", "TORSDOF", "BEGIN_RES", "END_RES":
	default:
		// Not a tree keyword: checked as a PDB record, without the cost
		// of splitting every atom line into fields.
		return false, nil
	}
	f := strings.Fields(line)
	switch f[0] {
	case "ROOT":
		if t.rootLine != 0 {
			return true, errf(n, "ROOT inside the ROOT opened at line %d (missing ENDROOT)", t.rootLine)
		}
		if len(t.branches) > 0 {
			return true, errf(n, "ROOT inside the BRANCH opened at line %d", t.branches[len(t.branches)-1].line)
		}
		t.rootLine, t.rooted = n, false
	case "ENDROOT":
		if t.rootLine == 0 {
			return true, errf(n, "ENDROOT without a ROOT")
		}
		t.rootLine, t.rooted = 0, true
	case "BRANCH", "ENDBRANCH":
		if len(f) < 3 {
			return true, errf(n, "%s needs two atom serial numbers: %s", f[0], quote(line))
		}
		from, ok1 := parseUint(f[1])
		to, ok2 := parseUint(f[2])
		if !ok1 || !ok2 {
			return true, errf(n, "%s atom serial numbers are not numbers: %s", f[0], quote(line))
		}
		if f[0] == "BRANCH" {
			if t.rootLine != 0 {
				return true, errf(n, "BRANCH inside the ROOT opened at line %d (missing ENDROOT)", t.rootLine)
			}
			if !t.rooted {
				return true, errf(n, "BRANCH before any ROOT/ENDROOT")
			}
			t.branches = append(t.branches, branch{n, from, to})
			return true, nil
		}
		if len(t.branches) == 0 {
			return true, errf(n, "ENDBRANCH %d %d without an open BRANCH", from, to)
		}
		top := t.branches[len(t.branches)-1]
		if top.from != from || top.to != to {
			return true, errf(n, "ENDBRANCH %d %d does not match the open BRANCH %d %d at line %d", from, to, top.from, top.to, top.line)
		}
		t.branches = t.branches[:len(t.branches)-1]
	case "TORSDOF":
		if len(f) < 2 {
			return true, errf(n, "TORSDOF needs a number")
		}
		if _, ok := parseUint(f[1]); !ok {
			return true, errf(n, "TORSDOF value is not a non-negative integer: %s", quote(f[1]))
		}
		// TORSDOF ends the ligand's tree, so whatever is still open was
		// never closed; name the ROOT or BRANCH rather than the TORSDOF.
		if err := t.closedTree(); err != nil {
			return true, err
		}
	case "BEGIN_RES":
		if t.resLine != 0 {
			return true, errf(n, "BEGIN_RES inside the residue opened at line %d (missing END_RES)", t.resLine)
		}
		if err := t.closed(); err != nil {
			return true, err
		}
		t.resLine = n
	case "END_RES":
		if t.resLine == 0 {
			return true, errf(n, "END_RES without a BEGIN_RES")
		}
		if err := t.closedTree(); err != nil {
			return true, err
		}
		*t = torsionTree{branches: t.branches[:0]}
	default:
		return false, nil
	}
	return true, nil
}

// atom checks that an atom at line n sits where the tree allows one.
func (t *torsionTree) atom(n int) *ValidationError {
	if t.rooted && t.rootLine == 0 && len(t.branches) == 0 {
		return errf(n, "atom record after ENDROOT outside any BRANCH")
	}
	return nil
}

// closedTree checks that no ROOT or BRANCH is left open.
func (t *torsionTree) closedTree() *ValidationError {
	if t.rootLine != 0 {
		return errf(t.rootLine, "ROOT is never closed by ENDROOT")
	}
	if len(t.branches) > 0 {
		b := t.branches[len(t.branches)-1]
		return errf(b.line, "BRANCH %d %d is never closed by ENDBRANCH", b.from, b.to)
	}
	return nil
}

// closed checks that the tree is complete at the end of a model or file
// and resets it for the next model.
func (t *torsionTree) closed() *ValidationError {
	if err := t.closedTree(); err != nil {
		return err
	}
	if t.resLine != 0 {
		return errf(t.resLine, "BEGIN_RES is never closed by END_RES")
	}
	*t = torsionTree{branches: t.branches[:0]}
	return nil
}
