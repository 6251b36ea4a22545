package molformat

import (
	"strings"
)

// sdf validates an SD file: one or more MDL molfiles (V2000 or V3000), each
// optionally followed by "> <name>" data items, separated by "$$$$" lines.
// The last record may omit its "$$$$", as single-molecule .sdf/.mol files
// written by many tools do.
//
// The counts the molfile declares are checked against the blocks that
// follow, because a transfer cut short or a hand-edited file most often
// shows up exactly there, and a reader that trusts the counts would
// otherwise read bonds as atoms.
func (v *validator) sdf() *ValidationError {
	for {
		if err := v.addMolecule(v.r.num + 1); err != nil {
			return err
		}
		if err := v.sdfRecord(); err != nil {
			return err
		}
		// Blank lines after the last "$$$$" end the file; anything else
		// starts a record (whose name line may itself be blank).
		if v.r.restBlank() {
			return nil
		}
	}
}

// sdfRecord validates one record, up to and including its "$$$$" line or
// the end of the content.
func (v *validator) sdfRecord() *ValidationError {
	start := v.r.num + 1
	// Header block: name, program/timestamp, comment. Free text, but a
	// record that ends inside it is truncated.
	for i := 0; i < 3; i++ {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok {
			return errf(start, "molfile truncated: the header block needs 3 lines, found %d", i)
		}
		if isRecordEnd(line) {
			return errf(v.r.num, "$$$$ inside the 3-line molfile header block")
		}
	}
	line, ok, err := v.r.next()
	if err != nil {
		return err
	}
	if !ok {
		return errf(start, "molfile truncated: no counts line after the 3-line header block")
	}
	countsLine := v.r.num
	tag := strings.TrimRight(line, " \t")
	switch {
	case strings.HasSuffix(tag, "V3000"):
		if err := v.v3000(countsLine); err != nil {
			return err
		}
	case strings.HasSuffix(tag, "V2000"):
		if err := v.v2000(line, countsLine); err != nil {
			return err
		}
	default:
		return errf(countsLine, "not a molfile counts line (no V2000 or V3000 version tag): %s", quote(line))
	}
	return v.sdfData()
}

// isRecordEnd reports whether line is the "$$$$" record separator.
func isRecordEnd(line string) bool { return strings.TrimRight(line, " \t") == "$$$$" }

// isMEnd reports whether line is the "M  END" that closes a molfile.
func isMEnd(line string) bool { return strings.TrimRight(line, " \t") == "M  END" }

// v2000 validates a V2000 connection table after its counts line.
func (v *validator) v2000(counts string, countsLine int) *ValidationError {
	na, ok := parseUint(strings.TrimSpace(cols(counts, 1, 3)))
	if !ok {
		return errf(countsLine, "counts line: atom count (columns 1-3) is not a number: %s", quote(cols(counts, 1, 3)))
	}
	nb, ok := parseUint(strings.TrimSpace(cols(counts, 4, 6)))
	if !ok {
		return errf(countsLine, "counts line: bond count (columns 4-6) is not a number: %s", quote(cols(counts, 4, 6)))
	}
	if na == 0 {
		return errf(countsLine, "counts line declares no atoms")
	}
	if err := v.addAtoms(countsLine, na); err != nil {
		return err
	}

	atomStart := countsLine + 1
	for i := 0; i < na; i++ {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		short := func() *ValidationError {
			return errf(v.r.clamp(atomStart), "atom block expects %d atoms, found %d lines", na, i)
		}
		if !ok || isRecordEnd(line) || strings.HasPrefix(line, "M  ") {
			return short()
		}
		if msg := v2000Atom(line); msg != "" {
			if v2000Bond(line, 1<<30) == "" {
				// A bond line where an atom was due: the counts line
				// promised more atoms than the block has.
				return short()
			}
			return errf(v.r.num, "atom %d of %d: %s", i+1, na, msg)
		}
	}

	bondStart := atomStart + na
	for i := 0; i < nb; i++ {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok || isRecordEnd(line) || strings.HasPrefix(line, "M  ") {
			return errf(v.r.clamp(bondStart), "bond block expects %d bonds, found %d lines", nb, i)
		}
		if msg := v2000Bond(line, na); msg != "" {
			if v2000Atom(line) == "" {
				return errf(v.r.num, "atom line where bond %d of %d was expected: the counts line (line %d) declares %d atoms", i+1, nb, countsLine, na)
			}
			return errf(v.r.num, "bond %d of %d: %s", i+1, nb, msg)
		}
	}
	return v.v2000Properties(nb)
}

// v2000Atom returns what is wrong with a V2000 atom line, or "". The
// layout is fixed-column: x, y, z in columns 1-10, 11-20, 21-30 and the
// element symbol in 32-34.
func v2000Atom(line string) string {
	if len(line) < 32 {
		return "line too short for an atom line (needs coordinates in columns 1-30 and a symbol in 32-34): " + quote(line)
	}
	for i, axis := range [3]string{"x", "y", "z"} {
		f := cols(line, 1+10*i, 10+10*i)
		if _, ok := parseDecimal(strings.TrimSpace(f)); !ok {
			return axis + " coordinate (columns " + itoa(1+10*i) + "-" + itoa(10+10*i) + ") is not a finite number: " + quote(f)
		}
	}
	sym := strings.TrimSpace(cols(line, 32, 34))
	if !isAtomSymbol(sym) {
		return "no element symbol in columns 32-34: " + quote(cols(line, 31, 34))
	}
	return ""
}

// isAtomSymbol accepts an element symbol or one of the molfile query
// symbols (*, A, Q, L, R#), which are letters plus '*' and '#'.
func isAtomSymbol(sym string) bool {
	if sym == "" || len(sym) > 3 {
		return false
	}
	for i := 0; i < len(sym); i++ {
		c := sym[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '*' || c == '#') {
			return false
		}
	}
	return sym[0] != '#'
}

// v2000Bond returns what is wrong with a V2000 bond line, or "": atom
// indices in columns 1-3 and 4-6 within 1..na, bond type 1-8 in 7-9.
func v2000Bond(line string, na int) string {
	if len(line) < 9 {
		return "line too short for a bond line (needs columns 1-9): " + quote(line)
	}
	a, ok1 := parseUint(strings.TrimSpace(cols(line, 1, 3)))
	b, ok2 := parseUint(strings.TrimSpace(cols(line, 4, 6)))
	if !ok1 || !ok2 {
		return "atom indices (columns 1-3 and 4-6) are not numbers: " + quote(line)
	}
	for _, x := range [2]int{a, b} {
		if x < 1 || x > na {
			return "atom index " + itoa(x) + " out of range 1.." + itoa(na)
		}
	}
	if a == b {
		return "bond from atom " + itoa(a) + " to itself"
	}
	t, ok := parseUint(strings.TrimSpace(cols(line, 7, 9)))
	if !ok || t < 1 || t > 8 {
		return "bond type (columns 7-9) is not 1-8: " + quote(cols(line, 7, 9))
	}
	return ""
}

// v2000Properties reads the properties block up to "M  END". Its lines are
// "M  xxx" properties plus the legacy A (alias), V (value), G (group) and
// S  SKP lines; anything else means the blocks above were longer than the
// counts line said, or that "M  END" is missing.
func (v *validator) v2000Properties(nb int) *ValidationError {
	for {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok {
			return errf(v.r.num, "molfile ends after this line without an M  END line")
		}
		n := v.r.num
		switch {
		case isMEnd(line):
			return nil
		case isRecordEnd(line):
			return errf(n, "$$$$ before the molfile's M  END line")
		case strings.HasPrefix(line, "M  "), strings.HasPrefix(line, "V  "):
		case strings.HasPrefix(line, "A  "), strings.HasPrefix(line, "G  "):
			// The alias or group text is on the next line.
			if _, ok, err := v.r.next(); err != nil || !ok {
				if err != nil {
					return err
				}
				return errf(n, "molfile truncated after this line: no M  END line")
			}
		case strings.HasPrefix(line, "S  SKP"):
			skip, ok := parseUint(strings.TrimSpace(cols(line, 7, 9)))
			if !ok {
				return errf(n, "S  SKP count is not a number: %s", quote(line))
			}
			for i := 0; i < skip; i++ {
				if _, ok, err := v.r.next(); err != nil || !ok {
					if err != nil {
						return err
					}
					return errf(n, "molfile truncated inside the lines S  SKP skips")
				}
			}
		case v2000Bond(line, 1<<30) == "":
			return errf(n, "bond block has more lines than the %d bonds on the counts line", nb)
		default:
			return errf(n, "expected a property line (M  ...) or M  END, got %s", quote(line))
		}
	}
}

// v3000 validates a V3000 connection table after its counts line (whose
// counts V3000 leaves unused). Lines are "M  V30 " lines, continued onto
// the next when they end with '-'.
func (v *validator) v3000(countsLine int) *ValidationError {
	text, n, err := v.v30(countsLine)
	if err != nil {
		return err
	}
	if text != "BEGIN CTAB" {
		return errf(n, "expected M  V30 BEGIN CTAB, got %s", quote(text))
	}
	text, n, err = v.v30(n)
	if err != nil {
		return err
	}
	f := strings.Fields(text)
	if len(f) < 3 || f[0] != "COUNTS" {
		return errf(n, "expected M  V30 COUNTS na nb ..., got %s", quote(text))
	}
	na, ok1 := parseUint(f[1])
	nb, ok2 := parseUint(f[2])
	if !ok1 || !ok2 {
		return errf(n, "COUNTS: atom and bond counts are not numbers: %s", quote(text))
	}
	if na == 0 {
		return errf(n, "COUNTS declares no atoms")
	}
	if err := v.addAtoms(n, na); err != nil {
		return err
	}
	countsAt := n

	if text, n, err = v.v30(n); err != nil {
		return err
	}
	if text != "BEGIN ATOM" {
		return errf(n, "expected M  V30 BEGIN ATOM, got %s", quote(text))
	}
	// seen marks declared atom indices, bounded by na <= MaxAtoms.
	seen := make([]bool, na+1)
	if n, err = v.v30Block(n, "atom", na, countsAt, func(text string) string { return v3000Atom(text, na, seen) }); err != nil {
		return err
	}

	if text, n, err = v.v30(n); err != nil {
		return err
	}
	if text == "BEGIN BOND" {
		if n, err = v.v30Block(n, "bond", nb, countsAt, func(text string) string { return v3000Bond(text, na, seen) }); err != nil {
			return err
		}
		if text, n, err = v.v30(n); err != nil {
			return err
		}
	} else if nb > 0 {
		return errf(n, "expected M  V30 BEGIN BOND for the %d bonds on the COUNTS line, got %s", nb, quote(text))
	}

	// Optional blocks (SGROUP, COLLECTION, OBJ3D, ...) until END CTAB; their
	// content is not checked, only that BEGIN/END nest.
	var open []string
	for ; ; text, n, err = v.v30(n) {
		if err != nil {
			return err
		}
		f := strings.Fields(text)
		switch {
		case len(open) == 0 && text == "END CTAB":
			return v.v3000Tail()
		case len(open) == 0 && (text == "BEGIN ATOM" || text == "BEGIN BOND"):
			return errf(n, "a second %s block", f[1])
		case len(f) == 2 && f[0] == "BEGIN":
			if len(open) >= 8 {
				return errf(n, "blocks nested too deeply")
			}
			open = append(open, f[1])
		case len(f) == 2 && f[0] == "END":
			if len(open) == 0 || open[len(open)-1] != f[1] {
				return errf(n, "M  V30 END %s without a matching BEGIN", quote(f[1]))
			}
			open = open[:len(open)-1]
		}
	}
}

// v3000Tail reads from after "M  V30 END CTAB" to "M  END"; only further
// V30 lines (RGROUP and TEMPLATE blocks) may come between.
func (v *validator) v3000Tail() *ValidationError {
	for {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok {
			return errf(v.r.num, "molfile ends after this line without an M  END line")
		}
		if isMEnd(line) {
			return nil
		}
		if !strings.HasPrefix(line, "M  V30 ") {
			return errf(v.r.num, "expected M  END after M  V30 END CTAB, got %s", quote(line))
		}
	}
}

// maxV30Line bounds a V3000 logical line made of continued physical lines.
const maxV30Line = 64 << 10

// v30 reads the next V3000 logical line: the text after "M  V30 ", with
// continuation lines (a trailing '-') joined. n is the line number of its
// first physical line; prev is the line before it, for errors at the end
// of the content.
func (v *validator) v30(prev int) (text string, n int, err *ValidationError) {
	text, n, ended, err := v.v30Line(prev)
	if ended {
		return "", 0, errf(n, "molfile truncated: V3000 connection table ends without M  V30 END CTAB")
	}
	return text, n, err
}

// v30Line is v30 but reports with ended (and n the line it happened on)
// that the connection table stopped early: at the end of the content, at
// M  END or at $$$$. Callers counting a block use that to say how many of
// the declared lines were found.
func (v *validator) v30Line(prev int) (text string, n int, ended bool, err *ValidationError) {
	line, ok, err := v.r.next()
	if err != nil {
		return "", 0, false, err
	}
	if !ok {
		return "", prev, true, nil
	}
	n = v.r.num
	if !strings.HasPrefix(line, "M  V30 ") {
		if isMEnd(line) || isRecordEnd(line) {
			return "", n, true, nil
		}
		return "", 0, false, errf(n, "expected an M  V30 line in the V3000 connection table, got %s", quote(line))
	}
	text = strings.TrimRight(line[len("M  V30 "):], " \t")
	if !strings.HasSuffix(text, "-") {
		return strings.TrimSpace(text), n, false, nil
	}
	var b strings.Builder
	for strings.HasSuffix(text, "-") {
		b.WriteString(text[:len(text)-1])
		if b.Len() > maxV30Line {
			return "", 0, false, errf(n, "V3000 continued line longer than %d bytes", maxV30Line)
		}
		line, ok, err = v.r.next()
		if err != nil {
			return "", 0, false, err
		}
		if !ok || !strings.HasPrefix(line, "M  V30 ") {
			return "", 0, false, errf(n, "V3000 line ends with '-' but is not continued by an M  V30 line")
		}
		text = strings.TrimRight(line[len("M  V30 "):], " \t")
	}
	b.WriteString(text)
	return strings.TrimSpace(b.String()), n, false, nil
}

// v3000Atom checks "index type x y z aamap [props]", marking the index.
func v3000Atom(text string, na int, seen []bool) string {
	f := strings.Fields(text)
	if len(f) > 1 && f[1] == "NOT" {
		// "NOT [N,O]" query lists take two fields.
		f = append(f[:1], f[2:]...)
	}
	if len(f) < 5 {
		return "expected index type x y z aamap, got " + quote(text)
	}
	idx, ok := parseUint(f[0])
	if !ok || idx < 1 || idx > na {
		return "atom index " + quote(f[0]) + " is not in 1.." + itoa(na)
	}
	if seen[idx] {
		return "atom index " + itoa(idx) + " is used twice"
	}
	seen[idx] = true
	if f[1] == "" {
		return "no atom type"
	}
	for i, axis := range [3]string{"x", "y", "z"} {
		if _, ok := parseDecimal(f[2+i]); !ok {
			return axis + " coordinate is not a finite number: " + quote(f[2+i])
		}
	}
	return ""
}

// v3000Bond checks "index type atom1 atom2 [props]" against declared atoms.
func v3000Bond(text string, na int, seen []bool) string {
	f := strings.Fields(text)
	if len(f) < 4 {
		return "expected index type atom1 atom2, got " + quote(text)
	}
	if _, ok := parseUint(f[0]); !ok {
		return "bond index is not a number: " + quote(f[0])
	}
	if t, ok := parseUint(f[1]); !ok || t < 1 || t > 10 {
		return "bond type is not 1-10: " + quote(f[1])
	}
	a, ok1 := parseUint(f[2])
	b, ok2 := parseUint(f[3])
	if !ok1 || !ok2 {
		return "atom indices are not numbers: " + quote(text)
	}
	for _, x := range [2]int{a, b} {
		if x < 1 || x > na || !seen[x] {
			return "atom index " + itoa(x) + " out of range 1.." + itoa(na)
		}
	}
	if a == b {
		return "bond from atom " + itoa(a) + " to itself"
	}
	return ""
}

// sdfData reads the data items after "M  END" up to "$$$$" or the end of
// the content: each a header line starting with '>' ("> <name>"), value
// lines, and a blank line.
func (v *validator) sdfData() *ValidationError {
	inItem := false
	for {
		line, ok, err := v.r.next()
		if err != nil {
			return err
		}
		if !ok || isRecordEnd(line) {
			return nil
		}
		switch {
		case isBlank(line):
			inItem = false
		case inItem:
			// A value line; any text.
		case strings.HasPrefix(line, ">"):
			inItem = true
		default:
			return errf(v.r.num, "expected a data header (> <name>) or $$$$ after M  END, got %s", quote(line))
		}
	}
}

// v30Block reads the lines of a V3000 ATOM or BOND block after its BEGIN
// line n: exactly want entries, each accepted by check (which returns a
// problem or ""), then END <KIND>. It returns the END line's number.
func (v *validator) v30Block(n int, kind string, want, countsAt int, check func(text string) string) (int, *ValidationError) {
	start := n + 1
	end := "END " + strings.ToUpper(kind)
	for i := 0; ; i++ {
		text, next, ended, verr := v.v30Line(n)
		if verr != nil {
			return next, verr
		}
		n = next
		if ended || (text == end && i < want) {
			return n, errf(v.r.clamp(start), "%s block expects %d %ss, found %d lines", kind, want, kind, i)
		}
		if text == end {
			return n, nil
		}
		if i == want {
			return n, errf(n, "%s block has more %ss than the %d on the COUNTS line (line %d), or no M  V30 %s", kind, kind, want, countsAt, end)
		}
		if msg := check(text); msg != "" {
			return n, errf(n, "%s %d of %d: %s", kind, i+1, want, msg)
		}
	}
}
