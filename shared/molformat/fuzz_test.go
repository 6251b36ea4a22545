package molformat

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mad-bio/mad/shared/domain"
)

// The fuzz targets feed arbitrary bytes to Validate. Uploads are untrusted,
// so beyond "no panic" they check the promises callers rely on: a success
// reports a sane Info within the limits, a failure is a *ValidationError
// with a short, printable message and a line that exists, and the result
// does not depend on LF versus CR LF line ends.

// fuzzLimits keeps the limits small enough that the fuzzer reaches them,
// yet large enough for every seed file to pass.
var fuzzLimits = Limits{MaxAtoms: 300, MaxLineLength: 256, MaxMolecules: 20}

// maxFuzzInput bounds the inputs the targets run. Large inputs add no
// structure the small ones lack, but each one slows the fuzzer (and its
// minimizer) by orders of magnitude; the full-size files are covered by
// the unit tests.
const maxFuzzInput = 8 << 10

// seed adds a file, some truncations of it and a CR LF copy as seeds.
// Files over maxFuzzInput (the receptors, the Vina output) are seeded
// with their head.
func seed(f *testing.F, content string) {
	if len(content) > maxFuzzInput {
		content = joinLines(splitLines(content)[:70])
	}
	f.Add([]byte(content))
	f.Add([]byte(crlf(content)))
	for _, frac := range []int{2, 3, 5} {
		f.Add([]byte(content[:len(content)/frac]))
	}
	if l := splitLines(content); len(l) > 30 {
		f.Add([]byte(joinLines(l[:30])))
	}
}

func fuzzValidate(f *testing.F, format domain.MoleculeFormat, seeds ...string) {
	for _, path := range seeds {
		seed(f, fixture(f, path))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		info, err := Validate(format, data, fuzzLimits)
		checkResult(t, data, info, err)
		// The same content with CR LF line ends must give the same answer.
		if !bytes.Contains(data, []byte("\r")) {
			info2, err2 := Validate(format, bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")), fuzzLimits)
			if info2 != info || errString(err2) != errString(err) {
				t.Fatalf("LF gives %+v, %v; CR LF gives %+v, %v", info, err, info2, err2)
			}
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func checkResult(t *testing.T, data []byte, info Info, err error) {
	if err == nil {
		if info.Atoms < 1 || info.Atoms > fuzzLimits.MaxAtoms {
			t.Fatalf("success with %d atoms, want 1..%d", info.Atoms, fuzzLimits.MaxAtoms)
		}
		if info.Molecules < 1 || info.Molecules > fuzzLimits.MaxMolecules {
			t.Fatalf("success with %d molecules, want 1..%d", info.Molecules, fuzzLimits.MaxMolecules)
		}
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is a %T, want *ValidationError", err, err)
	}
	if info != (Info{}) {
		t.Fatalf("info %+v returned with error %v", info, err)
	}
	msg := err.Error()
	if len(msg) >= 300 {
		t.Fatalf("message is %d bytes, want < 300: %q", len(msg), msg)
	}
	if !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Fatalf("message is not clean printable text: %q", msg)
	}
	if lines := bytes.Count(data, []byte("\n")) + 1; ve.Line < 0 || ve.Line > lines {
		t.Fatalf("error names line %d of a %d-line input: %v", ve.Line, lines, err)
	}
}

func FuzzValidatePDB(f *testing.F) {
	f.Add([]byte("HETATM    1  C1  LIG A   1       1.000  -2.000   3.500  1.00  0.00           C\n"))
	fuzzValidate(f, domain.FormatPDB, receptorPDB, vinaOutPDBQT)
}

func FuzzValidatePDBQT(f *testing.F) {
	f.Add([]byte(flexResidue))
	fuzzValidate(f, domain.FormatPDBQT, ligandPDBQT, vinaOutPDBQT, receptorPDBQT)
}

func FuzzValidateSDF(f *testing.F) {
	fuzzValidate(f, domain.FormatSDF, ligandSDF, ligandV3000)
}

func FuzzValidateMOL2(f *testing.F) {
	fuzzValidate(f, domain.FormatMOL2, ligandMOL2)
}

func FuzzValidateSMI(f *testing.F) {
	f.Add([]byte("C[C@H](O)F |&1:1| name\nC=1CCCCC1\nF[Po@SP1](Cl)(Br)I [13CH3:7]O\n"))
	fuzzValidate(f, domain.FormatSMI, ligandsSMI)
}
