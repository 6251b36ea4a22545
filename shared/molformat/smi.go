package molformat

import (
	"strings"
	"unicode/utf8"
)

// smi validates a SMILES file: one SMILES per line, optionally followed by
// whitespace and a name (anything, including CXSMILES extensions); blank
// lines and '#' comment lines are skipped. A first line whose SMILES token
// is just "smiles" (any case) is taken as the column header that RDKit and
// pandas exports write.
//
// Each SMILES is checked with a small OpenSMILES grammar: the character
// set, bracket atom syntax, balanced branches, paired ring closures and
// bonds only between atoms. That is enough to refuse text that is not
// SMILES; whether the valences make sense is left to the toolkit that
// later prepares the ligand.
func (v *validator) smi() *ValidationError {
	first := true
	for {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		n := v.r.num
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		offset := len(line) - len(trimmed)
		tok := trimmed
		if end := strings.IndexAny(trimmed, " \t"); end >= 0 {
			tok = trimmed[:end]
		}
		if first && strings.EqualFold(tok, "smiles") {
			first = false
			continue
		}
		first = false
		if err := v.addMolecule(n); err != nil {
			return err
		}
		atoms, col, msg := checkSMILES(tok)
		if msg != "" {
			return errf(n, "SMILES %s at column %d", msg, offset+col)
		}
		if err := v.addAtoms(n, atoms); err != nil {
			return err
		}
	}
	if v.info.Molecules == 0 {
		return errf(0, "no SMILES lines")
	}
	return nil
}

// smiKind is the kind of the last token read, which decides what may come
// next (a bond needs an atom on both sides, a ring closure follows an atom).
type smiKind int

const (
	kStart smiKind = iota
	kAtom
	kRing
	kBond
	kOpen
	kClose
	kDot
)

// ringOpen remembers where a ring-closure number was opened.
type ringOpen struct {
	col  int // 1-based column in the token, 0 when not open
	atom int // index of the atom it belongs to
}

// checkSMILES returns the number of heavy atoms of s or, when s is not
// valid SMILES, a message and the 1-based column it concerns. Bracket
// hydrogens ([H], [2H]) are atoms but not heavy atoms; a SMILES needs at
// least one heavy atom (or '*') to be a ligand at all.
func checkSMILES(s string) (heavy, col int, msg string) {
	var (
		prev   = kStart
		atoms  int
		rings  [100]ringOpen
		nrings int
		opens  []int // columns of unclosed '('
	)
	afterAtom := func() bool { return prev == kAtom || prev == kRing || prev == kClose }
	for i := 0; i < len(s); {
		c := s[i]
		w := isOrganic(s, i)
		switch {
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return 0, i + 1, "has '[' without a closing ']'"
			}
			isH, bad := checkBracketAtom(s[i+1 : i+end])
			if bad != "" {
				return 0, i + 1, "bracket atom " + quote(s[i:i+end+1]) + ": " + bad
			}
			if !isH {
				heavy++
			}
			atoms++
			prev = kAtom
			i += end + 1
		case w > 0:
			heavy++
			atoms++
			prev = kAtom
			i += w
		case strings.IndexByte("-=#$:/\\", c) >= 0:
			if !(afterAtom() || prev == kOpen) {
				return 0, i + 1, "has bond " + quote(string(c)) + " not preceded by an atom"
			}
			prev = kBond
			i++
		case c >= '0' && c <= '9' || c == '%':
			num, width := int(c-'0'), 1
			if c == '%' {
				if i+2 >= len(s) || !isDigit(s[i+1]) || !isDigit(s[i+2]) {
					return 0, i + 1, "has '%' not followed by a two-digit ring-closure number"
				}
				num, width = int(s[i+1]-'0')*10+int(s[i+2]-'0'), 3
			}
			// A ring closure belongs to the atom before it, possibly with a
			// bond symbol in between ("C=1CCCCC1").
			if !(prev == kAtom || prev == kRing || prev == kBond && i > 0 && ringBondOK(s, i)) {
				return 0, i + 1, "has ring-closure " + quote(s[i:i+width]) + " not following an atom"
			}
			if r := &rings[num]; r.col == 0 {
				*r = ringOpen{col: i + 1, atom: atoms}
				nrings++
			} else {
				if r.atom == atoms {
					return 0, i + 1, "closes ring " + itoa(num) + " on the atom that opened it"
				}
				*r = ringOpen{}
				nrings--
			}
			prev = kRing
			i += width
		case c == '(':
			if !afterAtom() {
				return 0, i + 1, "has '(' not following an atom"
			}
			opens = append(opens, i+1)
			prev = kOpen
			i++
		case c == ')':
			if len(opens) == 0 {
				return 0, i + 1, "has unbalanced ')'"
			}
			if !afterAtom() {
				return 0, i + 1, "has an empty branch or a dangling bond before ')'"
			}
			opens = opens[:len(opens)-1]
			prev = kClose
			i++
		case c == '.':
			if !afterAtom() {
				return 0, i + 1, "has '.' not following an atom"
			}
			prev = kDot
			i++
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return 0, i + 1, "has invalid character " + quote(string(r))
		}
	}
	switch {
	case len(opens) > 0:
		return 0, opens[len(opens)-1], "has unbalanced '(' (never closed)"
	case nrings > 0:
		for num, r := range rings {
			if r.col != 0 {
				return 0, r.col, "has ring-closure " + itoa(num) + " that is never closed"
			}
		}
	case prev == kBond || prev == kDot:
		return 0, len(s), "ends with a bond"
	case heavy == 0:
		return 0, 1, "has no heavy atom"
	}
	return heavy, 0, ""
}

// ringBondOK reports whether the bond symbol just before the ring closure
// at i itself follows an atom or ring closure, as in "C=1" or "C1=2".
func ringBondOK(s string, i int) bool {
	if i < 2 {
		return false
	}
	p := s[i-2]
	return p != '(' && p != ')' && p != '.' && strings.IndexByte("-=#$:/\\", p) < 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isOrganic returns the width of the organic-subset atom (or '*') at s[i],
// or 0 when there is none.
func isOrganic(s string, i int) int {
	switch s[i] {
	case 'B':
		if i+1 < len(s) && s[i+1] == 'r' {
			return 2
		}
		return 1
	case 'C':
		if i+1 < len(s) && s[i+1] == 'l' {
			return 2
		}
		return 1
	case 'N', 'O', 'P', 'S', 'F', 'I', 'b', 'c', 'n', 'o', 'p', 's', '*':
		return 1
	}
	return 0
}

// checkBracketAtom checks the inside of "[...]": isotope, symbol,
// chirality, hydrogen count, charge, atom class, in that order (OpenSMILES).
// It reports whether the atom is a hydrogen and what is wrong, if anything.
func checkBracketAtom(b string) (isH bool, bad string) {
	i := 0
	for i < len(b) && isDigit(b[i]) && i < 3 {
		i++
	}
	// Symbol: '*', an element, or an aromatic symbol.
	sym := ""
	switch {
	case i < len(b) && b[i] == '*':
		sym = "*"
	case i+1 < len(b) && isLower(b[i+1]) && (elements[b[i:i+2]] || aromaticBracket[b[i:i+2]]):
		sym = b[i : i+2]
	case i < len(b) && (elements[b[i:i+1]] || aromaticBracket[b[i:i+1]]):
		sym = b[i : i+1]
	default:
		return false, "no element symbol"
	}
	i += len(sym)
	// Chirality: @, @@, @TH1, @AL2, @SP3, @TB20, @OH30.
	if i < len(b) && b[i] == '@' {
		i++
		if i < len(b) && b[i] == '@' {
			i++
		} else if i+1 < len(b) && isUpper(b[i]) && isUpper(b[i+1]) {
			switch b[i : i+2] {
			case "TH", "AL", "SP", "TB", "OH":
			default:
				return false, "bad chirality"
			}
			i += 2
			d := 0
			for i < len(b) && isDigit(b[i]) && d < 2 {
				i++
				d++
			}
			if d == 0 {
				return false, "bad chirality"
			}
		}
	}
	// Hydrogen count.
	if i < len(b) && b[i] == 'H' {
		i++
		if i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	// Charge: +, -, ++, --, +2, -15.
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		sign := b[i]
		i++
		if i < len(b) && b[i] == sign {
			i++
		} else {
			for d := 0; i < len(b) && isDigit(b[i]) && d < 2; d++ {
				i++
			}
		}
	}
	// Atom class.
	if i < len(b) && b[i] == ':' {
		i++
		d := 0
		for i < len(b) && isDigit(b[i]) && d < 6 {
			i++
			d++
		}
		if d == 0 {
			return false, "atom class ':' without a number"
		}
	}
	if i != len(b) {
		r, _ := utf8.DecodeRuneInString(b[i:])
		return false, "unexpected " + quote(string(r)) + " after the symbol " + quote(sym)
	}
	return sym == "H", ""
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// aromaticBracket are the aromatic symbols allowed inside brackets.
var aromaticBracket = map[string]bool{
	"b": true, "c": true, "n": true, "o": true, "p": true, "s": true,
	"se": true, "as": true, "te": true,
}

// elements are the element symbols a bracket atom may name.
var elements = func() map[string]bool {
	m := map[string]bool{}
	for _, e := range strings.Fields(`H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar
		K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru
		Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb
		Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm
		Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og`) {
		m[e] = true
	}
	return m
}()
