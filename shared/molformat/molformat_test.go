package molformat

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/mad-bio/mad/shared/domain"
)

// Fixture paths, relative to the package directory.
const (
	receptorPDB   = "../testdata/1iep/1iep_receptorH.pdb"
	receptorPDBQT = "../testdata/1iep/1iep_receptor.pdbqt"
	ligandPDBQT   = "../testdata/1iep/1iep_ligand.pdbqt"
	vinaOutPDBQT  = "../testdata/1iep/1iep_ligand_vina_out.pdbqt"
	ligandSDF     = "../testdata/1iep/1iep_ligand.sdf"
	ligandV3000   = "testdata/imatinib_v3000.sdf"
	ligandMOL2    = "testdata/imatinib.mol2"
	ligandsSMI    = "testdata/ligands.smi"
)

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]string{}
)

// fixture returns the content of a test file, read once.
func fixture(t testing.TB, path string) string {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if s, ok := fixtures[path]; ok {
		return s
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fixtures[path] = string(b)
	return string(b)
}

// splitLines splits s into lines without terminators; a final newline
// does not make an extra empty line.
func splitLines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") + "\n" }

// replaceLine returns s with its 1-based line n replaced by with.
func replaceLine(s string, n int, with string) string {
	l := splitLines(s)
	l[n-1] = with
	return joinLines(l)
}

// deleteLines returns s without its 1-based lines from..to.
func deleteLines(s string, from, to int) string {
	l := splitLines(s)
	return joinLines(append(l[:from-1:from-1], l[to:]...))
}

// insertLine returns s with line inserted before its 1-based line n.
func insertLine(s string, n int, line string) string {
	l := splitLines(s)
	out := append(append(append([]string{}, l[:n-1]...), line), l[n-1:]...)
	return joinLines(out)
}

// headLines returns the first k lines of s.
func headLines(s string, k int) string { return joinLines(splitLines(s)[:k]) }

// line returns the 1-based line n of s.
func line(s string, n int) string { return splitLines(s)[n-1] }

// crlf converts LF line ends to CR LF, as a Windows editor would save.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// vCase is one Validate call and its expected outcome: an Info when msg
// is empty, otherwise a *ValidationError at line containing msg.
type vCase struct {
	name    string
	format  domain.MoleculeFormat
	content string
	lim     Limits
	atoms   int
	mols    int
	line    int
	msg     string
}

func runCases(t *testing.T, cases []vCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lim := c.lim
			if lim == (Limits{}) {
				lim = DefaultLimits()
			}
			info, err := Validate(c.format, []byte(c.content), lim)
			if c.msg == "" {
				if err != nil {
					t.Fatalf("Validate(%s) = %v, want success", c.format, err)
				}
				if info.Atoms != c.atoms || info.Molecules != c.mols {
					t.Fatalf("Validate(%s) = %+v, want {Atoms:%d Molecules:%d}", c.format, info, c.atoms, c.mols)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%s) = %+v, want error at line %d containing %q", c.format, info, c.line, c.msg)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is a %T, want *ValidationError", err, err)
			}
			if ve.Line != c.line || !strings.Contains(ve.Msg, c.msg) {
				t.Fatalf("error = %q (Line %d), want line %d containing %q", err, ve.Line, c.line, c.msg)
			}
			if info != (Info{}) {
				t.Errorf("info = %+v on error, want zero", info)
			}
		})
	}
}

func TestValidateGeneral(t *testing.T) {
	pdb := fixture(t, receptorPDB)
	runCases(t, []vCase{
		{name: "empty content is rejected", format: domain.FormatPDB, content: "", line: 0, msg: "content is empty"},
		{name: "whitespace-only content is rejected", format: domain.FormatSMI, content: " \n\t\r\n\n", line: 0, msg: "content is empty"},
		{name: "unsupported format is rejected", format: "xyz", content: pdb, line: 0, msg: `unsupported format "xyz"`},
		{name: "NUL byte is rejected with its position", format: domain.FormatPDB,
			content: replaceLine(pdb, 3, "ATOM   \x00"+line(pdb, 3)[8:]), line: 3, msg: "NUL byte at column 8"},
		{name: "PNG image is rejected as binary", format: domain.FormatPDB,
			content: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", line: 1, msg: "invalid UTF-8 (byte 0x89) at column 1"},
		{name: "gzip stream is rejected as binary", format: domain.FormatSDF,
			content: "\x1f\x8b\x08\x00\x00\x00\x00\x00", line: 1, msg: "control character 0x1f at column 1"},
		{name: "control character late in the file is rejected", format: domain.FormatPDB,
			content: replaceLine(pdb, 4000, line(pdb, 4000)+"\x1b[0m"), line: 4000, msg: "control character 0x1b"},
		{name: "C1 control character is rejected", format: domain.FormatSMI, content: "CCO \u0085name\n", line: 1, msg: "control character U+0085"},
		{name: "bare carriage return is rejected", format: domain.FormatSMI, content: "CCO\rCCN\n", line: 1, msg: "carriage return at column 4"},
		{name: "line over MaxLineLength is rejected", format: domain.FormatPDB,
			content: "REMARK " + strings.Repeat("x", 2000) + "\n" + pdb, line: 1, msg: "line is 2007 bytes long, more than the limit of 1024"},
		{name: "custom MaxLineLength applies", format: domain.FormatPDB, content: pdb,
			lim: Limits{MaxLineLength: 40}, line: 1, msg: "more than the limit of 40"},
		{name: "CRLF line ends are accepted", format: domain.FormatPDB, content: crlf(pdb), atoms: 4412, mols: 1},
		{name: "UTF-8 byte order mark is ignored", format: domain.FormatPDB, content: "\ufeff" + pdb, atoms: 4412, mols: 1},
		{name: "UTF-8 text in free-text records is accepted", format: domain.FormatPDB,
			content: "REMARK   1 prepared by Jürgen Ångström\n" + pdb, atoms: 4412, mols: 1},
		{name: "zero Limits mean the defaults", format: domain.FormatPDB, content: pdb, lim: Limits{MaxMolecules: -1}, atoms: 4412, mols: 1},
	})
}

func TestValidateErrorEchoIsBounded(t *testing.T) {
	junk := "JUNK" + strings.Repeat("é", 500)
	_, err := Validate(domain.FormatMOL2, []byte(junk+"\n"), Limits{MaxLineLength: 4096})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	if len(ve.Msg) > 120 || !strings.Contains(ve.Msg, `"...`) {
		t.Fatalf("message %q (%d bytes) should quote at most %d bytes of input and mark the cut", ve.Msg, len(ve.Msg), maxQuote)
	}
	if got, want := ve.Error(), "line 1: "+ve.Msg; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := (&ValidationError{Msg: "content is empty"}).Error(); got != "content is empty" {
		t.Fatalf("Error() without a line = %q", got)
	}
}

func TestValidateRejectsOversizedContent(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100 MiB")
	}
	big := make([]byte, domain.MaxUploadMoleculeBytes+1)
	_, err := Validate(domain.FormatSMI, big, DefaultLimits())
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Line != 0 || !strings.Contains(ve.Msg, "more than the limit") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

func TestValidatePDB(t *testing.T) {
	pdb := fixture(t, receptorPDB)
	vina := fixture(t, vinaOutPDBQT)
	atom := line(pdb, 2)
	runCases(t, []vCase{
		{name: "1iep receptor with hydrogens", format: domain.FormatPDB, content: pdb, atoms: 4412, mols: 1},
		{name: "multi-model file counts models", format: domain.FormatPDB, content: vina, atoms: 160, mols: 4},
		{name: "PDBQT receptor is acceptable as PDB", format: domain.FormatPDB, content: fixture(t, receptorPDBQT), atoms: 2702, mols: 1},
		{name: "HETATM records count as atoms", format: domain.FormatPDB,
			content: "HEADER    LIGAND\nHETATM    1  C1  LIG A   1       1.000  -2.000   3.500  1.00  0.00           C\nEND\n", atoms: 1, mols: 1},
		{name: "blank lines are tolerated", format: domain.FormatPDB, content: "\n" + pdb + "\n\n", atoms: 4412, mols: 1},

		{name: "SDF declared as PDB is rejected", format: domain.FormatPDB, content: fixture(t, ligandSDF), line: 2, msg: "not a PDB record"},
		{name: "MOL2 declared as PDB is rejected", format: domain.FormatPDB, content: fixture(t, ligandMOL2), line: 1, msg: `not a PDB record (columns 1-6 must be an uppercase record name such as ATOM or HETATM): "@<TRIPOS>MOLECULE"`},
		{name: "SMILES declared as PDB is rejected", format: domain.FormatPDB, content: "CCO ethanol\n", line: 1, msg: "not a PDB record"},
		{name: "lowercase record name is rejected", format: domain.FormatPDB, content: replaceLine(pdb, 5, "atom  "+line(pdb, 5)[6:]), line: 5, msg: "not a PDB record"},
		{name: "non-numeric coordinate is rejected", format: domain.FormatPDB,
			content: replaceLine(pdb, 2, atom[:38]+"  12.x45"+atom[46:]), line: 2, msg: `y coordinate (columns 39-46) is not a finite number: "  12.x45"`},
		{name: "NaN coordinate is rejected", format: domain.FormatPDB,
			content: replaceLine(pdb, 2, atom[:30]+"     NaN"+atom[38:]), line: 2, msg: "x coordinate (columns 31-38) is not a finite number"},
		{name: "atom record without coordinates is rejected", format: domain.FormatPDB,
			content: replaceLine(pdb, 2, atom[:40]), line: 2, msg: "too short for coordinates"},
		{name: "file without atoms is rejected", format: domain.FormatPDB, content: "HEADER    EMPTY\nREMARK   1 nothing\nEND\n", line: 0, msg: "no ATOM or HETATM records"},
		{name: "MODEL without ENDMDL is rejected", format: domain.FormatPDB, content: deleteLines(vina, 280, 280), line: 211, msg: "MODEL is never closed by ENDMDL"},
		{name: "nested MODEL is rejected", format: domain.FormatPDB, content: deleteLines(vina, 70, 70), line: 70, msg: "MODEL inside the MODEL opened at line 1"},
		{name: "ENDMDL without MODEL is rejected", format: domain.FormatPDB, content: deleteLines(vina, 1, 1), line: 69, msg: "ENDMDL without a MODEL"},
		{name: "too many atoms is rejected at the first atom over the limit", format: domain.FormatPDB, content: pdb,
			lim: Limits{MaxAtoms: 100}, line: 102, msg: "more than 100 atoms"},
		{name: "too many models is rejected", format: domain.FormatPDB, content: vina, lim: Limits{MaxMolecules: 3}, line: 211, msg: "more than 3 molecules"},
	})
}

// flexResidue is a flexible side chain as Vina writes it in flex PDBQT
// files: its own torsion tree inside BEGIN_RES/END_RES.
const flexResidue = `BEGIN_RES LYS A 271
REMARK  2 active torsions:
ROOT
ATOM      1  CA  LYS A 271      13.127  48.370  20.018  1.00  0.00     0.176 C 
ENDROOT
BRANCH   1   2
ATOM      2  CB  LYS A 271      13.903  49.669  19.740  1.00  0.00     0.035 C 
BRANCH   2   3
ATOM      3  CG  LYS A 271      14.868  50.034  20.874  1.00  0.00     0.004 C 
ENDBRANCH   2   3
ENDBRANCH   1   2
END_RES LYS A 271
`

func TestValidatePDBQT(t *testing.T) {
	rec := fixture(t, receptorPDBQT)
	lig := fixture(t, ligandPDBQT)
	vina := fixture(t, vinaOutPDBQT)
	atom := line(lig, 8) // ATOM 1 of the ligand, inside ROOT
	runCases(t, []vCase{
		{name: "1iep receptor without torsion tree", format: domain.FormatPDBQT, content: rec, atoms: 2702, mols: 1},
		{name: "1iep ligand with nested branches", format: domain.FormatPDBQT, content: lig, atoms: 40, mols: 1},
		{name: "Vina output with four models", format: domain.FormatPDBQT, content: vina, atoms: 160, mols: 4},
		{name: "flexible residue tree", format: domain.FormatPDBQT, content: flexResidue + flexResidue, atoms: 6, mols: 1},
		{name: "CRLF ligand", format: domain.FormatPDBQT, content: crlf(lig), atoms: 40, mols: 1},
		{name: "signed charge and three-character Meeko type", format: domain.FormatPDBQT,
			content: replaceLine(lig, 8, atom[:70]+"+0.000 CG0"), atoms: 40, mols: 1},

		{name: "PDB declared as PDBQT is rejected for its missing charge", format: domain.FormatPDBQT,
			content: fixture(t, receptorPDB), line: 2, msg: "no partial charge (columns 71-76)"},
		{name: "SDF declared as PDBQT is rejected", format: domain.FormatPDBQT, content: fixture(t, ligandSDF), line: 2, msg: "not a PDB record"},
		{name: "atom without AutoDock type is rejected", format: domain.FormatPDBQT,
			content: replaceLine(lig, 8, atom[:76]), line: 8, msg: "no AutoDock atom type (columns 78-79)"},
		{name: "non-numeric charge is rejected", format: domain.FormatPDBQT,
			content: replaceLine(lig, 8, atom[:70]+"-0.3z2"+atom[76:]), line: 8, msg: `partial charge (columns 71-76) is not a number: "-0.3z2"`},
		{name: "atom type with punctuation is rejected", format: domain.FormatPDBQT,
			content: replaceLine(lig, 8, atom[:77]+"N!"), line: 8, msg: `"N!" is not an AutoDock atom type`},
		{name: "ENDBRANCH closing the wrong BRANCH is rejected", format: domain.FormatPDBQT,
			content: deleteLines(lig, 39, 39), line: 39, msg: "ENDBRANCH 6 12 does not match the open BRANCH 12 14 at line 24"},
		{name: "BRANCH never closed is rejected at TORSDOF", format: domain.FormatPDBQT,
			content: deleteLines(lig, 62, 62), line: 42, msg: "BRANCH 2 26 is never closed by ENDBRANCH"},
		{name: "BRANCH still open at end of file is rejected", format: domain.FormatPDBQT,
			content: deleteLines(lig, 62, 63), line: 42, msg: "BRANCH 2 26 is never closed by ENDBRANCH"},
		{name: "ENDBRANCH without BRANCH is rejected", format: domain.FormatPDBQT,
			content: insertLine(lig, 42, "ENDBRANCH   1   5"), line: 42, msg: "ENDBRANCH 1 5 without an open BRANCH"},
		{name: "BRANCH without atom numbers is rejected", format: domain.FormatPDBQT,
			content: replaceLine(lig, 13, "BRANCH"), line: 13, msg: "BRANCH needs two atom serial numbers"},
		{name: "ROOT without ENDROOT is rejected", format: domain.FormatPDBQT,
			content: deleteLines(lig, 12, 12), line: 12, msg: "BRANCH inside the ROOT opened at line 7"},
		{name: "ROOT never closed at end of file is rejected", format: domain.FormatPDBQT,
			content: "ROOT\n" + atom + "\n", line: 1, msg: "ROOT is never closed by ENDROOT"},
		{name: "BRANCH before ROOT is rejected", format: domain.FormatPDBQT,
			content: "BRANCH   1   2\n" + atom + "\nENDBRANCH   1   2\n", line: 1, msg: "BRANCH before any ROOT/ENDROOT"},
		{name: "atom outside the torsion tree is rejected", format: domain.FormatPDBQT,
			content: insertLine(lig, 42, atom), line: 42, msg: "atom record after ENDROOT outside any BRANCH"},
		{name: "TORSDOF without a number is rejected", format: domain.FormatPDBQT,
			content: replaceLine(lig, 63, "TORSDOF x"), line: 63, msg: `TORSDOF value is not a non-negative integer: "x"`},
		{name: "unclosed BRANCH inside a model is rejected at ENDMDL", format: domain.FormatPDBQT,
			content: deleteLines(vina, 68, 69), line: 48, msg: "BRANCH 2 26 is never closed by ENDBRANCH"},
		{name: "END_RES without BEGIN_RES is rejected", format: domain.FormatPDBQT,
			content: deleteLines(flexResidue, 1, 1), line: 11, msg: "END_RES without a BEGIN_RES"},
		{name: "too many atoms is rejected", format: domain.FormatPDBQT, content: lig, lim: Limits{MaxAtoms: 10}, line: 20, msg: "more than 10 atoms"},
	})
}

// sdfCounts builds a V2000 counts line for na atoms and nb bonds.
func sdfCounts(na, nb int) string {
	return fmt.Sprintf("%3d%3d  0  0  0  0  0  0  0  0999 V2000", na, nb)
}

func TestValidateSDF(t *testing.T) {
	sdf := fixture(t, ligandSDF)
	v3 := fixture(t, ligandV3000)
	// 1iep_ligand.sdf: header 1-3, counts 4, atoms 5-73, bonds 74-146,
	// M  CHG 147, M  END 148, data items, $$$$ 191.
	// imatinib_v3000.sdf: counts 4, BEGIN CTAB 5, COUNTS 6, BEGIN ATOM 7,
	// atoms 8-76, END ATOM 77, BEGIN BOND 78, bonds 79-151, END BOND 152.
	runCases(t, []vCase{
		{name: "1iep ligand V2000 with data items", format: domain.FormatSDF, content: sdf, atoms: 69, mols: 1},
		{name: "V3000 molfile", format: domain.FormatSDF, content: v3, atoms: 69, mols: 1},
		{name: "several records", format: domain.FormatSDF, content: sdf + sdf + v3, atoms: 207, mols: 3},
		{name: "last record without $$$$", format: domain.FormatSDF, content: deleteLines(sdf, 191, 191), atoms: 69, mols: 1},
		{name: "bare molfile ending at M  END", format: domain.FormatSDF, content: headLines(sdf, 148), atoms: 69, mols: 1},
		{name: "blank lines after the last $$$$", format: domain.FormatSDF, content: sdf + "\n\n", atoms: 69, mols: 1},
		{name: "record with a blank name line", format: domain.FormatSDF, content: sdf + replaceLine(sdf, 1, ""), atoms: 138, mols: 2},
		{name: "CRLF", format: domain.FormatSDF, content: crlf(sdf + v3), atoms: 138, mols: 2},
		{name: "V3000 continuation lines", format: domain.FormatSDF,
			content: replaceLine(v3, 8, "M  V30 1 C 11.879 62.272 -\nM  V30 12.57 0"), atoms: 69, mols: 1},

		{name: "PDB declared as SDF is rejected", format: domain.FormatSDF, content: fixture(t, receptorPDB), line: 4, msg: "not a molfile counts line (no V2000 or V3000 version tag)"},
		{name: "MOL2 declared as SDF is rejected", format: domain.FormatSDF, content: fixture(t, ligandMOL2), line: 4, msg: `not a molfile counts line (no V2000 or V3000 version tag): "SMALL"`},
		{name: "file cut in the atom block is rejected", format: domain.FormatSDF, content: headLines(sdf, 16), line: 5, msg: "atom block expects 69 atoms, found 12 lines"},
		{name: "file cut inside an atom line is rejected", format: domain.FormatSDF,
			content: headLines(sdf, 16) + line(sdf, 17)[:15], line: 17, msg: "atom 13 of 69: line too short for an atom line"},
		{name: "file cut in the bond block is rejected", format: domain.FormatSDF, content: headLines(sdf, 83), line: 74, msg: "bond block expects 73 bonds, found 10 lines"},
		{name: "file cut before M  END is rejected", format: domain.FormatSDF, content: headLines(sdf, 147), line: 147, msg: "without an M  END line"},
		{name: "file cut in the header is rejected", format: domain.FormatSDF, content: sdf + "next\n", line: 192, msg: "header block needs 3 lines, found 1"},
		{name: "more atoms declared than present is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 4, sdfCounts(70, 73)), line: 5, msg: "atom block expects 70 atoms, found 69 lines"},
		{name: "fewer atoms declared than present is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 4, sdfCounts(68, 73)), line: 73, msg: "atom line where bond 1 of 73 was expected: the counts line (line 4) declares 68 atoms"},
		{name: "more bonds declared than present is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 4, sdfCounts(69, 74)), line: 74, msg: "bond block expects 74 bonds, found 73 lines"},
		{name: "fewer bonds declared than present is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 4, sdfCounts(69, 72)), line: 146, msg: "bond block has more lines than the 72 bonds"},
		{name: "no atoms declared is rejected", format: domain.FormatSDF, content: replaceLine(sdf, 4, sdfCounts(0, 0)), line: 4, msg: "counts line declares no atoms"},
		{name: "bond to an atom out of range is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 74, "  1 99  2  0"), line: 74, msg: "bond 1 of 73: atom index 99 out of range 1..69"},
		{name: "bad bond type is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 74, "  1  2  0  0"), line: 74, msg: "bond type (columns 7-9) is not 1-8"},
		{name: "non-numeric coordinate is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 5, "   11.87x0"+line(sdf, 5)[10:]), line: 5, msg: `atom 1 of 69: x coordinate (columns 1-10) is not a finite number: "   11.87x0"`},
		{name: "atom without element symbol is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 5, line(sdf, 5)[:31]+"   "+line(sdf, 5)[34:]), line: 5, msg: "no element symbol in columns 32-34"},
		{name: "text after M  END that is not a data item is rejected", format: domain.FormatSDF,
			content: insertLine(sdf, 149, "garbage"), line: 149, msg: `expected a data header (> <name>) or $$$$ after M  END, got "garbage"`},
		{name: "$$$$ before M  END is rejected", format: domain.FormatSDF,
			content: replaceLine(sdf, 148, "$$$$"), line: 148, msg: "$$$$ before the molfile's M  END line"},
		{name: "V3000 file cut in the atom block is rejected", format: domain.FormatSDF, content: headLines(v3, 20), line: 8, msg: "atom block expects 69 atoms, found 13 lines"},
		{name: "V3000 COUNTS larger than the atom block is rejected", format: domain.FormatSDF,
			content: replaceLine(v3, 6, "M  V30 COUNTS 70 73 0 0 0"), line: 8, msg: "atom block expects 70 atoms, found 69 lines"},
		{name: "V3000 COUNTS smaller than the bond block is rejected", format: domain.FormatSDF,
			content: replaceLine(v3, 6, "M  V30 COUNTS 69 72 0 0 0"), line: 151, msg: "bond block has more bonds than the 72"},
		{name: "V3000 bond to an atom out of range is rejected", format: domain.FormatSDF,
			content: replaceLine(v3, 79, "M  V30 1 2 1 99"), line: 79, msg: "bond 1 of 73: atom index 99 out of range 1..69"},
		{name: "V3000 duplicate atom index is rejected", format: domain.FormatSDF,
			content: replaceLine(v3, 9, strings.Replace(line(v3, 9), "M  V30 2 ", "M  V30 1 ", 1)), line: 9, msg: "atom index 1 is used twice"},
		{name: "V3000 without END CTAB is rejected", format: domain.FormatSDF,
			content: deleteLines(v3, 153, 153), line: 153, msg: "V3000 connection table ends without M  V30 END CTAB"},
		{name: "too many atoms is rejected at the counts line", format: domain.FormatSDF, content: sdf, lim: Limits{MaxAtoms: 50}, line: 4, msg: "more than 50 atoms"},
		{name: "too many records is rejected", format: domain.FormatSDF, content: sdf + sdf + sdf, lim: Limits{MaxMolecules: 2}, line: 383, msg: "more than 2 molecules"},
	})
}

func TestValidateMOL2(t *testing.T) {
	mol2 := fixture(t, ligandMOL2)
	// imatinib.mol2: MOLECULE 1, name 2, counts 3, ATOM 7, atoms 8-76,
	// UNITY_ATOM_ATTR 77, BOND 80, bonds 81-153.
	runCases(t, []vCase{
		{name: "imatinib from Open Babel", format: domain.FormatMOL2, content: mol2, atoms: 69, mols: 1},
		{name: "several molecules", format: domain.FormatMOL2, content: mol2 + "\n" + mol2, atoms: 138, mols: 2},
		{name: "comments and CRLF", format: domain.FormatMOL2, content: crlf("# written by hand\n\n" + mol2), atoms: 69, mols: 1},
		{name: "atom lines with only the six required fields", format: domain.FormatMOL2,
			content: "@<TRIPOS>MOLECULE\nwater\n3 2\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n1 O 0 0 0 O.3\n2 H1 0.96 0 0 H\n3 H2 -0.24 0.93 0 H\n@<TRIPOS>BOND\n1 1 2 1\n2 1 3 1\n", atoms: 3, mols: 1},

		{name: "SDF declared as MOL2 is rejected", format: domain.FormatMOL2, content: fixture(t, ligandSDF), line: 1, msg: `expected @<TRIPOS>MOLECULE, got "STI"`},
		{name: "PDB declared as MOL2 is rejected", format: domain.FormatMOL2, content: fixture(t, receptorPDB), line: 1, msg: "expected @<TRIPOS>MOLECULE"},
		{name: "missing atom lines are rejected", format: domain.FormatMOL2, content: deleteLines(mol2, 60, 68), line: 8, msg: "atom block expects 69 atoms, found 60 lines"},
		{name: "file cut in the atom block is rejected", format: domain.FormatMOL2, content: headLines(mol2, 30), line: 8, msg: "atom block expects 69 atoms, found 23 lines"},
		{name: "file cut before the ATOM section is rejected", format: domain.FormatMOL2, content: headLines(mol2, 5), line: 1, msg: "molecule has no @<TRIPOS>ATOM section for its 69 atoms"},
		{name: "file cut before the BOND section is rejected", format: domain.FormatMOL2, content: headLines(mol2, 79), line: 1, msg: "molecule has no @<TRIPOS>BOND section for its 73 bonds"},
		{name: "file cut in the bond block is rejected", format: domain.FormatMOL2, content: headLines(mol2, 100), line: 81, msg: "bond block expects 73 bonds, found 20 lines"},
		{name: "fewer atoms declared than present is rejected", format: domain.FormatMOL2,
			content: replaceLine(mol2, 3, " 68 73 0 0 0"), line: 76, msg: "more atom lines than the 68 on the counts line (line 3)"},
		{name: "bond to a missing atom is rejected", format: domain.FormatMOL2,
			content: replaceLine(mol2, 81, "     1     1    99   ar"), line: 81, msg: "bond refers to atom 99, which is not in the ATOM section"},
		{name: "non-numeric coordinate is rejected", format: domain.FormatMOL2,
			content: replaceLine(mol2, 8, "      1 C          11.8790   6a.2720   12.5700 C.ar    1  UNL1       -0.0430"), line: 8, msg: `atom 1: y coordinate is not a finite number: "6a.2720"`},
		{name: "bad charge is rejected", format: domain.FormatMOL2,
			content: replaceLine(mol2, 8, "      1 C          11.8790   62.2720   12.5700 C.ar    1  UNL1       inf"), line: 8, msg: "atom 1: charge is not a finite number"},
		{name: "duplicate atom id is rejected", format: domain.FormatMOL2,
			content: replaceLine(mol2, 9, "      1 C          13.0020   61.4290   12.9100 C.ar    1  UNL1       -0.0497"), line: 9, msg: "atom_id 1 is used twice"},
		{name: "counts line with words is rejected", format: domain.FormatMOL2, content: replaceLine(mol2, 3, "sixty-nine"), line: 3, msg: "MOLECULE counts line"},
		{name: "atom section before MOLECULE is rejected", format: domain.FormatMOL2, content: "@<TRIPOS>ATOM\n" + mol2, line: 1, msg: "@<TRIPOS>ATOM before any @<TRIPOS>MOLECULE"},
		{name: "too many atoms is rejected at the counts line", format: domain.FormatMOL2, content: mol2, lim: Limits{MaxAtoms: 68}, line: 3, msg: "more than 68 atoms"},
	})
}

func TestValidateSMI(t *testing.T) {
	smi := fixture(t, ligandsSMI)
	runCases(t, []vCase{
		// 37 + 37 + 6 + 13 + 2 + 6 + 13 + 2 heavy atoms; [2H] does not count.
		{name: "sample file with names, comments and a blank line", format: domain.FormatSMI, content: smi, atoms: 116, mols: 8},
		{name: "single SMILES without name or newline", format: domain.FormatSMI, content: "CCO", atoms: 3, mols: 1},
		{name: "header line is skipped", format: domain.FormatSMI, content: "smiles\tname\nCCO ethanol\n", atoms: 3, mols: 1},
		{name: "CRLF", format: domain.FormatSMI, content: crlf(smi), atoms: 116, mols: 8},
		{name: "CXSMILES extension after the SMILES", format: domain.FormatSMI, content: "C[C@H](O)F |&1:1| name\n", atoms: 4, mols: 1},
		{name: "ring bond symbol before the closure digit", format: domain.FormatSMI, content: "C=1CCCCC1\n", atoms: 6, mols: 1},
		{name: "extended chirality and atom class", format: domain.FormatSMI, content: "F[Po@SP1](Cl)(Br)I [13CH3:7]O\n", atoms: 5, mols: 1},

		{name: "PDB declared as SMI is rejected", format: domain.FormatSMI, content: fixture(t, receptorPDB), line: 1, msg: `SMILES has invalid character "R" at column 1`},
		{name: "SDF declared as SMI is rejected", format: domain.FormatSMI, content: fixture(t, ligandSDF), line: 1, msg: `invalid character "T"`},
		{name: "unclosed parenthesis is rejected", format: domain.FormatSMI, content: "CCO ok\nCC(C(=O)O\n", line: 2, msg: "SMILES has unbalanced '(' (never closed) at column 3"},
		{name: "extra closing parenthesis is rejected", format: domain.FormatSMI, content: "CC)C\n", line: 1, msg: "SMILES has unbalanced ')' at column 3"},
		{name: "empty branch is rejected", format: domain.FormatSMI, content: "CC()C\n", line: 1, msg: "empty branch"},
		{name: "unpaired ring closure is rejected", format: domain.FormatSMI, content: "c1ccccc\n", line: 1, msg: "ring-closure 1 that is never closed at column 2"},
		{name: "ring reopened and not closed is rejected", format: domain.FormatSMI, content: "C1CC1C%12CC\n", line: 1, msg: "ring-closure 12 that is never closed at column 7"},
		{name: "ring closure on its own atom is rejected", format: domain.FormatSMI, content: "C11\n", line: 1, msg: "closes ring 1 on the atom that opened it"},
		{name: "ring closure at the start is rejected", format: domain.FormatSMI, content: "1CC1\n", line: 1, msg: `ring-closure "1" not following an atom`},
		{name: "unclosed bracket is rejected", format: domain.FormatSMI, content: "C[NH4+\n", line: 1, msg: "'[' without a closing ']' at column 2"},
		{name: "unknown element in brackets is rejected", format: domain.FormatSMI, content: "C[Xx]C\n", line: 1, msg: `bracket atom "[Xx]": no element symbol at column 2`},
		{name: "junk inside brackets is rejected", format: domain.FormatSMI, content: "C[N+H]C\n", line: 1, msg: `unexpected "H" after the symbol "N"`},
		{name: "dangling bond is rejected", format: domain.FormatSMI, content: "CC=\n", line: 1, msg: "ends with a bond"},
		{name: "double bond symbol is rejected", format: domain.FormatSMI, content: "C==C\n", line: 1, msg: `bond "=" not preceded by an atom at column 3`},
		{name: "prose is rejected", format: domain.FormatSMI, content: "hello world\n", line: 1, msg: `invalid character "h"`},
		{name: "hydrogen-only SMILES is rejected", format: domain.FormatSMI, content: "[H][H]\n", line: 1, msg: "has no heavy atom"},
		{name: "comment-only file is rejected", format: domain.FormatSMI, content: "# nothing here\n", line: 0, msg: "no SMILES lines"},
		{name: "too many atoms is rejected", format: domain.FormatSMI, content: smi, lim: Limits{MaxAtoms: 40}, line: 4, msg: "more than 40 atoms"},
		{name: "too many lines is rejected", format: domain.FormatSMI, content: smi, lim: Limits{MaxMolecules: 2}, line: 5, msg: "more than 2 molecules"},
	})
}

func ExampleValidate() {
	_, err := Validate(domain.FormatSMI, []byte("CCO ethanol\nCC(C(=O)O acid\n"), DefaultLimits())
	fmt.Println(err)
	info, err := Validate(domain.FormatSMI, []byte("CCO ethanol\n"), DefaultLimits())
	fmt.Println(info, err)
	// Output:
	// line 2: SMILES has unbalanced '(' (never closed) at column 3
	// {3 1} <nil>
}
