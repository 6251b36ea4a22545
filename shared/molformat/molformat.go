// Package molformat checks that uploaded molecule files are structurally
// what their declared format says they are.
//
// The API edge and the upload-ingest function run every upload through
// Validate before it is stored, so that junk (binary files, truncated
// transfers, the wrong format under the right extension) is refused with a
// message the user can act on, instead of surfacing minutes later as an
// obscure failure of the docking engine. The checks are structural, not
// chemical: a file that passes may still be a chemically absurd molecule,
// but it has the records, columns and counts the format promises, so the
// converters and Vina downstream can read it.
//
// Validation is a single forward pass over the content with no per-atom
// allocation beyond an index bitmap, so that the 100 MiB presigned uploads
// can be checked inside the ingest function's memory budget.
package molformat

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mad-bio/mad/shared/domain"
)

// Info summarises a file that passed validation.
type Info struct {
	Atoms     int // atoms (HETATM/ATOM records, atom block lines, or SMILES heavy atoms)
	Molecules int // models / molecules / SMILES lines (>= 1)
}

// Limits bounds what Validate accepts. They exist so that a syntactically
// valid but absurd file (a million models, a one-line 100 MiB "SMILES")
// cannot make the engine or the converters spend unbounded time and memory.
// A zero or negative field means the default from DefaultLimits.
type Limits struct {
	MaxAtoms      int // default 200000 (a receptor is ~5k atoms; 1iep receptor PDB ~ 4.8k)
	MaxLineLength int // default 1024 bytes
	MaxMolecules  int // default 10000
}

// Defaults of Limits. A protein receptor is a few thousand atoms and even
// a large complex stays well under 200k; real molecule files never need
// lines of more than a few hundred bytes (V3000 continues long lines).
const (
	defaultMaxAtoms      = 200000
	defaultMaxLineLength = 1024
	defaultMaxMolecules  = 10000
)

// DefaultLimits returns the limits the service applies to uploads.
func DefaultLimits() Limits {
	return Limits{
		MaxAtoms:      defaultMaxAtoms,
		MaxLineLength: defaultMaxLineLength,
		MaxMolecules:  defaultMaxMolecules,
	}
}

// withDefaults fills unset fields, so that callers (and tests) can pass
// Limits{MaxAtoms: 10} without restating the other limits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxAtoms <= 0 {
		l.MaxAtoms = d.MaxAtoms
	}
	if l.MaxLineLength <= 0 {
		l.MaxLineLength = d.MaxLineLength
	}
	if l.MaxMolecules <= 0 {
		l.MaxMolecules = d.MaxMolecules
	}
	return l
}

// ValidationError says why content was refused. Line is the 1-based line
// the problem was found on, or 0 when it concerns the file as a whole. Msg
// never quotes more than a short, escaped excerpt of the input, so it is
// safe to return to the client and to write to logs.
type ValidationError struct {
	Line int
	Msg  string
}

// Error returns "line N: msg", or just msg when the error has no line.
func (e *ValidationError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

func errf(line int, format string, args ...any) *ValidationError {
	return &ValidationError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks content against the declared format. The error, when not nil,
// is a *ValidationError whose message names the line number (1-based) and what is wrong,
// e.g. `line 5: atom block expects 69 atoms, found 12 lines`.
//
// Besides the format's own structure, every format must be UTF-8 text
// without control characters other than tab and CR LF line ends, have no
// line longer than lim.MaxLineLength and stay within lim.MaxAtoms and
// lim.MaxMolecules. A leading UTF-8 byte order mark is ignored.
func Validate(format domain.MoleculeFormat, content []byte, lim Limits) (Info, error) {
	lim = lim.withDefaults()
	if len(content) > domain.MaxUploadMoleculeBytes {
		return Info{}, errf(0, "content is %d bytes, more than the limit of %d", len(content), domain.MaxUploadMoleculeBytes)
	}
	// One copy up front lets every parser work on strings (and strconv)
	// without converting each field.
	s := strings.TrimPrefix(string(content), "\ufeff")
	if strings.TrimSpace(s) == "" {
		return Info{}, errf(0, "content is empty")
	}
	v := &validator{r: lineReader{s: s, maxLen: lim.MaxLineLength}, lim: lim}
	var err *ValidationError
	switch format {
	case domain.FormatPDB:
		err = v.pdb(false)
	case domain.FormatPDBQT:
		err = v.pdb(true)
	case domain.FormatSDF:
		err = v.sdf()
	case domain.FormatMOL2:
		err = v.mol2()
	case domain.FormatSMI:
		err = v.smi()
	default:
		return Info{}, errf(0, "unsupported format %s", quote(string(format)))
	}
	if err != nil {
		return Info{}, err
	}
	return v.info, nil
}

// validator holds the state shared by the format parsers.
type validator struct {
	r    lineReader
	lim  Limits
	info Info
}

// addAtoms counts n more atoms found at line, refusing to pass MaxAtoms.
func (v *validator) addAtoms(line, n int) *ValidationError {
	if n > v.lim.MaxAtoms-v.info.Atoms {
		return errf(line, "more than %d atoms (the limit)", v.lim.MaxAtoms)
	}
	v.info.Atoms += n
	return nil
}

// addMolecule counts one more model/molecule found at line.
func (v *validator) addMolecule(line int) *ValidationError {
	if v.info.Molecules >= v.lim.MaxMolecules {
		return errf(line, "more than %d molecules (the limit)", v.lim.MaxMolecules)
	}
	v.info.Molecules++
	return nil
}

// lineReader yields the lines of the content one at a time and applies the
// checks every format shares (length, encoding, control characters) to each
// line as it is read, so no format parser can forget them.
type lineReader struct {
	s      string
	pos    int // offset of the next line
	num    int // 1-based number of the line last returned
	maxLen int

	prevPos, prevNum int // state before the last next, for back
}

// next returns the next line without its LF or CR LF terminator. ok is
// false at the end of the content.
func (r *lineReader) next() (line string, ok bool, err *ValidationError) {
	if r.pos >= len(r.s) {
		return "", false, nil
	}
	r.prevPos, r.prevNum = r.pos, r.num
	rest := r.s[r.pos:]
	end := strings.IndexByte(rest, '\n')
	if end < 0 {
		line, r.pos = rest, len(r.s)
	} else {
		line, r.pos = rest[:end], r.pos+end+1
	}
	line = strings.TrimSuffix(line, "\r")
	r.num++
	if len(line) > r.maxLen {
		return "", false, errf(r.num, "line is %d bytes long, more than the limit of %d", len(line), r.maxLen)
	}
	if err := checkText(line); err != "" {
		return "", false, errf(r.num, "%s", err)
	}
	return line, true, nil
}

// back un-reads the line last returned by next, for parsers that read one
// line too far to find where a section ends.
func (r *lineReader) back() { r.pos, r.num = r.prevPos, r.prevNum }

// clamp returns line n, or the content's last line when n is past the
// end: a block that should have started after the last line is reported
// on a line that exists.
func (r *lineReader) clamp(n int) int {
	last := strings.Count(r.s, "\n")
	if !strings.HasSuffix(r.s, "\n") {
		last++
	}
	return min(n, last)
}

// restBlank reports whether only whitespace is left to read. It scans
// forward and stops at the first other byte: strings.TrimSpace would also
// scan back from the end, once per SD record, which a file of many tiny
// records followed by megabytes of blank lines could turn into quadratic
// work.
func (r *lineReader) restBlank() bool {
	for i := r.pos; i < len(r.s); i++ {
		switch r.s[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}

// checkText returns what is wrong with a line that is not clean text, or "".
// The message names the column and byte value but never echoes the bytes,
// so binary junk cannot reach a log.
func checkText(line string) string {
	for i := 0; i < len(line); {
		c := line[i]
		if c < utf8.RuneSelf {
			switch {
			case c == 0:
				return fmt.Sprintf("NUL byte at column %d: not a text file", i+1)
			case c == '\r':
				return fmt.Sprintf("carriage return at column %d inside a line (only LF or CR LF line ends are accepted)", i+1)
			case (c < 0x20 && c != '\t') || c == 0x7f:
				return fmt.Sprintf("control character 0x%02x at column %d: not a text file", c, i+1)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(line[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Sprintf("invalid UTF-8 (byte 0x%02x) at column %d: not a text file", c, i+1)
		}
		if unicode.IsControl(r) {
			return fmt.Sprintf("control character %U at column %d: not a text file", r, i+1)
		}
		i += size
	}
	return ""
}

// maxQuote is how many bytes of input a message may quote.
const maxQuote = 40

// quote returns s as a Go-quoted string cut to maxQuote bytes (on a rune
// boundary), so messages stay short and escape anything odd.
func quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	cut := maxQuote
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// cols returns the 1-based, inclusive columns from..to of line, clipped to
// the line's length; fixed-column formats (PDB, V2000) are read with it.
func cols(line string, from, to int) string {
	if from > len(line) {
		return ""
	}
	if to > len(line) {
		to = len(line)
	}
	return line[from-1 : to]
}

// parseUint parses a non-negative decimal integer of at most 9 digits; the
// bound keeps every count far from overflow.
func parseUint(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// parseInt parses an optionally signed decimal integer of at most 9 digits.
func parseInt(s string) (int, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n, ok := parseUint(s)
	if neg {
		n = -n
	}
	return n, ok
}

// parseDecimal parses a finite decimal number such as "-12.5", "+0.000",
// ".5" or "1e-3". strconv.ParseFloat alone would also take "NaN", "Inf",
// hex floats and underscores, none of which a molecule file writer emits
// and all of which would poison coordinates downstream.
func parseDecimal(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// isBlank reports whether a line holds only spaces and tabs.
func isBlank(line string) bool { return strings.TrimSpace(line) == "" }

func itoa(n int) string { return strconv.Itoa(n) }
