package molformat

import (
	"strings"
)

// mol2Tag starts every Tripos MOL2 section header ("@<TRIPOS>ATOM").
const mol2Tag = "@<TRIPOS>"

// mol2Mol is what is known of the molecule being read.
type mol2Mol struct {
	line       int // line of its @<TRIPOS>MOLECULE
	atoms      int // declared on the counts line
	bonds      int // declared on the counts line, -1 when not given
	countsLine int
	atomLine   int // line of its @<TRIPOS>ATOM, 0 until seen
	bondLine   int // line of its @<TRIPOS>BOND, 0 until seen
	ids        map[int]struct{}
}

// mol2 validates Tripos MOL2: one or more molecules, each a
// @<TRIPOS>MOLECULE section (name line, then a counts line "num_atoms
// [num_bonds [num_subst ...]]"), an @<TRIPOS>ATOM section with exactly
// num_atoms lines and an optional @<TRIPOS>BOND section whose bonds join
// atoms that exist. Other sections (SUBSTRUCTURE, UNITY_ATOM_ATTR, ...)
// are accepted unread. Blank lines and '#' comments are allowed anywhere
// except between the MOLECULE header, the name and the counts line, whose
// meaning is positional.
func (v *validator) mol2() *ValidationError {
	var m *mol2Mol
	for {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		n := v.r.num
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if !strings.HasPrefix(t, mol2Tag) {
			if m == nil {
				return errf(n, "expected @<TRIPOS>MOLECULE, got %s", quote(line))
			}
			// Tail of the MOLECULE section or a section not checked.
			continue
		}
		section := t[len(mol2Tag):]
		switch section {
		case "MOLECULE":
			if err := m.finish(); err != nil {
				return err
			}
			if err := v.addMolecule(n); err != nil {
				return err
			}
			if m, err = v.mol2Molecule(n); err != nil {
				return err
			}
		case "ATOM":
			if m == nil {
				return errf(n, "@<TRIPOS>ATOM before any @<TRIPOS>MOLECULE")
			}
			if m.atomLine != 0 {
				return errf(n, "second @<TRIPOS>ATOM section in the molecule of line %d", m.line)
			}
			m.atomLine = n
			if err := v.mol2Atoms(m); err != nil {
				return err
			}
		case "BOND":
			if m == nil {
				return errf(n, "@<TRIPOS>BOND before any @<TRIPOS>MOLECULE")
			}
			if m.atomLine == 0 {
				return errf(n, "@<TRIPOS>BOND before the molecule's @<TRIPOS>ATOM section")
			}
			if m.bondLine != 0 {
				return errf(n, "second @<TRIPOS>BOND section in the molecule of line %d", m.line)
			}
			m.bondLine = n
			if err := v.mol2Bonds(m); err != nil {
				return err
			}
		default:
			if section == "" || !isSectionName(section) {
				return errf(n, "not a MOL2 section header: %s", quote(line))
			}
			if m == nil {
				return errf(n, "expected @<TRIPOS>MOLECULE, got %s", quote(line))
			}
		}
	}
	if m == nil {
		return errf(0, "no @<TRIPOS>MOLECULE section")
	}
	return m.finish()
}

func isSectionName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// mol2Molecule reads the name and counts lines after the MOLECULE header
// at line n.
func (v *validator) mol2Molecule(n int) (*mol2Mol, *ValidationError) {
	if _, ok, err := v.r.next(); err != nil || !ok { // the name: any text
		if err != nil {
			return nil, err
		}
		return nil, errf(n, "@<TRIPOS>MOLECULE section truncated: no name line")
	}
	line, ok, err := v.r.next()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errf(n, "@<TRIPOS>MOLECULE section truncated: no counts line")
	}
	m := &mol2Mol{line: n, bonds: -1, countsLine: v.r.num}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, errf(m.countsLine, "MOLECULE counts line (num_atoms [num_bonds ...]) is empty")
	}
	for i, s := range f {
		c, ok := parseUint(s)
		if !ok {
			return nil, errf(m.countsLine, "MOLECULE counts line: %s is not a number", quote(s))
		}
		switch i {
		case 0:
			m.atoms = c
		case 1:
			m.bonds = c
		}
	}
	if m.atoms == 0 {
		return nil, errf(m.countsLine, "MOLECULE counts line declares no atoms")
	}
	if err := v.addAtoms(m.countsLine, m.atoms); err != nil {
		return nil, err
	}
	return m, nil
}

// sectionLines calls fn for each non-blank, non-comment line up to the
// next section header or the end of the content, with its 0-based index.
func (v *validator) sectionLines(fn func(line string, n, i int) *ValidationError) (count int, err *ValidationError) {
	for {
		line, ok, err := v.r.next()
		if err != nil {
			return count, err
		}
		if !ok {
			return count, nil
		}
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if strings.HasPrefix(t, mol2Tag) {
			v.r.back()
			return count, nil
		}
		if err := fn(line, v.r.num, count); err != nil {
			return count, err
		}
		count++
	}
}

// mol2Atoms reads the ATOM section: "atom_id atom_name x y z atom_type
// [subst_id [subst_name [charge [status_bit]]]]".
func (v *validator) mol2Atoms(m *mol2Mol) *ValidationError {
	m.ids = make(map[int]struct{}, m.atoms)
	count, err := v.sectionLines(func(line string, n, i int) *ValidationError {
		if i == m.atoms {
			return errf(n, "more atom lines than the %d on the counts line (line %d)", m.atoms, m.countsLine)
		}
		f := strings.Fields(line)
		if len(f) < 6 {
			return errf(n, "atom line needs atom_id atom_name x y z atom_type, got %s", quote(line))
		}
		id, ok := parseUint(f[0])
		if !ok || id == 0 {
			return errf(n, "atom_id is not a positive integer: %s", quote(f[0]))
		}
		if _, dup := m.ids[id]; dup {
			return errf(n, "atom_id %d is used twice", id)
		}
		m.ids[id] = struct{}{}
		for j, axis := range [3]string{"x", "y", "z"} {
			if _, ok := parseDecimal(f[2+j]); !ok {
				return errf(n, "atom %d: %s coordinate is not a finite number: %s", id, axis, quote(f[2+j]))
			}
		}
		if len(f) > 6 {
			if _, ok := parseInt(f[6]); !ok {
				return errf(n, "atom %d: subst_id is not an integer: %s", id, quote(f[6]))
			}
		}
		if len(f) > 8 {
			if _, ok := parseDecimal(f[8]); !ok {
				return errf(n, "atom %d: charge is not a finite number: %s", id, quote(f[8]))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if count < m.atoms {
		return errf(v.r.clamp(m.atomLine+1), "atom block expects %d atoms, found %d lines", m.atoms, count)
	}
	return nil
}

// mol2Bonds reads the BOND section: "bond_id origin_atom_id target_atom_id
// bond_type [status_bits]", both atoms existing in the ATOM section.
func (v *validator) mol2Bonds(m *mol2Mol) *ValidationError {
	count, err := v.sectionLines(func(line string, n, i int) *ValidationError {
		if m.bonds >= 0 && i == m.bonds {
			return errf(n, "more bond lines than the %d on the counts line (line %d)", m.bonds, m.countsLine)
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return errf(n, "bond line needs bond_id origin_atom_id target_atom_id bond_type, got %s", quote(line))
		}
		if _, ok := parseUint(f[0]); !ok {
			return errf(n, "bond_id is not a number: %s", quote(f[0]))
		}
		var ends [2]int
		for j, s := range f[1:3] {
			id, ok := parseUint(s)
			if !ok {
				return errf(n, "bond atom id is not a number: %s", quote(s))
			}
			if _, exists := m.ids[id]; !exists {
				return errf(n, "bond refers to atom %d, which is not in the ATOM section", id)
			}
			ends[j] = id
		}
		if ends[0] == ends[1] {
			return errf(n, "bond from atom %d to itself", ends[0])
		}
		if !isAlnum(f[3]) {
			return errf(n, "bond type is not a word or number: %s", quote(f[3]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if m.bonds >= 0 && count < m.bonds {
		return errf(v.r.clamp(m.bondLine+1), "bond block expects %d bonds, found %d lines", m.bonds, count)
	}
	return nil
}

// finish checks that the molecule got the sections its counts call for.
func (m *mol2Mol) finish() *ValidationError {
	if m == nil {
		return nil
	}
	if m.atomLine == 0 {
		return errf(m.line, "molecule has no @<TRIPOS>ATOM section for its %d atoms", m.atoms)
	}
	if m.bonds > 0 && m.bondLine == 0 {
		return errf(m.line, "molecule has no @<TRIPOS>BOND section for its %d bonds", m.bonds)
	}
	return nil
}
