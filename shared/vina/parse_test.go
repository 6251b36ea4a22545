package vina

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testdata1iep is the shared sample set (see its README).
const testdata1iep = "../testdata/1iep"

func readTestdata(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: "AutoDock Vina v1.2.3\n", want: "1.2.3"},
		{in: "AutoDock Vina v1.2.5\n", want: "1.2.5"},
		{in: "AutoDock Vina 1.1.2 (May 11, 2011)\n", want: "1.1.2"},
		{in: "AutoDock Vina v1.2.7-dev\n", want: "1.2.7-dev"},
		{in: "vina: command not found\n", err: true},
		{in: "", err: true},
	} {
		got, err := parseVersion([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseVersion(%q) = %q, %v; want %q, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseResultTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []Pose
		err  bool
	}{
		{
			// Captured from vina 1.2.3, exhaustiveness 8, num_modes 9, seed
			// 42: nine rows although only five poses fall within the energy
			// range and are written (see TestCrossCheck).
			name: "exhaustiveness 8",
			in:   readTestdata(t, "testdata/vina_stdout_ex8.txt"),
			want: []Pose{
				{1, -13.36, 0, 0}, {2, -11.4, 1.295, 1.738}, {3, -11.4, 3.049, 12.41},
				{4, -11.13, 3.913, 12.29}, {5, -10.79, 1.421, 2.089}, {6, -9.663, 1.886, 13.62},
				{7, -9.044, 3.907, 12.64}, {8, -8.885, 3.604, 12.16}, {9, -8.487, 4.092, 6.591},
			},
		},
		{
			// exhaustiveness 1, num_modes 3, seed 42: a single mode.
			name: "exhaustiveness 1",
			in:   readTestdata(t, "testdata/vina_stdout_ex1.txt"),
			want: []Pose{{1, -13.29, 0, 0}},
		},
		{name: "no table", in: []byte("AutoDock Vina v1.2.3\nComputing Vina grid ... done.\n"), want: nil},
		{name: "CRLF", in: []byte("mode |   affinity | dist from best mode\r\n     | (kcal/mol) | rmsd l.b.| rmsd u.b.\r\n-----+------------+----------+----------\r\n   1       -7.5          0          0\r\n"), want: []Pose{{1, -7.5, 0, 0}}},
		{name: "header without rule", in: []byte("mode |   affinity | dist from best mode\n"), err: true},
		{name: "bad number", in: []byte("mode |\n-----+---\n   1       nan          0          0\n"), err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseResultTable(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want err=%v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestParseRemarks(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []Pose
		err  string
	}{
		{
			name: "reference output",
			in:   readTestdata(t, filepath.Join(testdata1iep, "1iep_ligand_vina_out.pdbqt")),
			want: []Pose{{1, -13.234, 0, 0}, {2, -11.293, 0.986, 1.681}, {3, -11.281, 3.044, 12.414}, {4, -11.146, 3.813, 12.238}},
		},
		{
			name: "captured exhaustiveness 8",
			in:   readTestdata(t, "testdata/vina_out_ex8.pdbqt"),
			want: []Pose{{1, -13.357, 0, 0}, {2, -11.4, 1.295, 1.738}, {3, -11.399, 3.049, 12.406}, {4, -11.127, 3.913, 12.29}, {5, -10.789, 1.421, 2.089}},
		},
		{
			name: "models out of order are sorted",
			in:   []byte("MODEL 2\nREMARK VINA RESULT:    -6.0   1.0   2.0\nENDMDL\nMODEL 1\nREMARK VINA RESULT:    -7.0   0.0   0.0\nENDMDL\n"),
			want: []Pose{{1, -7, 0, 0}, {2, -6, 1, 2}},
		},
		{name: "single pose without MODEL", in: []byte("REMARK VINA RESULT:    -7.0   0.0   0.0\nATOM ...\n"), want: []Pose{{1, -7, 0, 0}}},
		{name: "no remarks", in: []byte("MODEL 1\nATOM\nENDMDL\n"), err: "no REMARK"},
		{name: "gap in models", in: []byte("MODEL 1\nREMARK VINA RESULT: -7 0 0\nMODEL 3\nREMARK VINA RESULT: -6 1 1\n"), err: "not numbered"},
		{name: "duplicate", in: []byte("MODEL 1\nREMARK VINA RESULT: -7 0 0\nREMARK VINA RESULT: -7 0 0\n"), err: "two VINA RESULT"},
		{name: "short line", in: []byte("MODEL 1\nREMARK VINA RESULT: -7 0\n"), err: "malformed"},
		{name: "not a number", in: []byte("MODEL 1\nREMARK VINA RESULT: -7 0 x\n"), err: "finite"},
		{name: "bad MODEL", in: []byte("MODEL x\nREMARK VINA RESULT: -7 0 0\n"), err: "MODEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRemarks(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestCrossCheck(t *testing.T) {
	remarks, err := parseRemarks(readTestdata(t, "testdata/vina_out_ex8.pdbqt"))
	if err != nil {
		t.Fatal(err)
	}
	table, err := parseResultTable(readTestdata(t, "testdata/vina_stdout_ex8.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		remarks     []Pose
		table       []Pose
		energyRange float64
		problems    int
	}{
		// The run used energy_range 3: rows 6-9 lie beyond -13.357+3.
		{"same run", remarks, table, 3, 0},
		// Had the range been 10, rows 6-9 should have been written.
		{"rows missing within range", remarks, table, 10, 4},
		{"no table", remarks, nil, 3, 1},
		{"table shorter", remarks, table[:2], 3, 1},
		{"affinity differs", remarks, append([]Pose{{1, -12.9, 0, 0}}, table[1:]...), 3, 1},
		{"rounding of 4 significant digits", []Pose{{1, -9.6634, 0, 0}}, []Pose{{1, -9.663, 0, 0}}, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := crossCheck(tc.remarks, tc.table, tc.energyRange)
			if len(got) != tc.problems {
				t.Errorf("problems = %q, want %d", got, tc.problems)
			}
		})
	}
}

func TestParseSeed(t *testing.T) {
	for in, want := range map[string]int64{
		"Performing docking (random seed: 42) ... \n":           42,
		"Performing docking (random seed: -519353603) ... \n":   -519353603,
		string(readTestdata(t, "testdata/vina_stdout_ex8.txt")): 42,
	} {
		got, ok := parseSeed([]byte(in))
		if !ok || got != want {
			t.Errorf("parseSeed(%.40q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	if _, ok := parseSeed([]byte("no seed here")); ok {
		t.Error("parseSeed found a seed in text without one")
	}
}

func TestVinaInputError(t *testing.T) {
	for _, tc := range []struct {
		stderr, input string
	}{
		{string(readTestdata(t, "testdata/vina_stderr_parse_error.txt")), "ligand"},
		{"\n\nPDBQT parsing error: Unknown or inappropriate tag found in rigid receptor.\n > ROOT\n", "receptor"},
		{"\n\nPDBQT parsing error: No atoms in this ligand.\n", "ligand"},
		{"\n\nParse error on line 3 in file \"ligand.pdbqt\": ATOM syntax incorrect: \"Xx\" is not a valid AutoDock type. Note that AutoDock atom types are case-sensitive.\n", "ligand"},
		{"\n\nParse error on line 3 in file \"receptor.pdbqt\": ATOM syntax incorrect\n", "receptor"},
		// 1.2.3 does not say which file; Dock attributes it (below).
		{"\n\nPDBQT parsing error: Atom type Xx is not a valid AutoDock type (atom types are case-sensitive).\n", "molecule"},
	} {
		ie := vinaInputError([]byte(tc.stderr))
		if ie == nil || !errors.Is(error(ie), ErrInvalidInput) || ie.Input != tc.input {
			t.Errorf("vinaInputError(%q) = %v, want invalid %s", tc.stderr, ie, tc.input)
			continue
		}
		// The quoted file line ("> junk junk", "> ROOT") must not leak.
		if strings.Contains(ie.Reason, ">") || strings.Contains(ie.Reason, "junk") {
			t.Errorf("reason echoes the file: %q", ie.Reason)
		}
	}
	for _, s := range []string{"", "\n\nError: insufficient memory!\n", "\n\nAn internal error occurred in foo.cpp(12).\n"} {
		if err := vinaInputError([]byte(s)); err != nil {
			t.Errorf("vinaInputError(%q) = %v, want nil (not an input problem)", s, err)
		}
	}
}

func TestObabelError(t *testing.T) {
	for in, want := range map[string]string{
		"==============================\n*** Open Babel Error  in ReadMolecule\n  ERROR: not a valid PDB file\n\n0 molecules converted\n":                                          "ERROR: not a valid PDB file",
		"==============================\n*** Open Babel Warning  in ParseSmiles\n  Invalid SMILES string: 1 unmatched ring bonds.\n0 molecules converted\n":                        "Invalid SMILES string: 1 unmatched ring bonds.",
		"==============================\n*** Open Babel Warning  in PerceiveBondOrders\n  Failed to kekulize aromatic bonds in OBMol::PerceiveBondOrders (title is secret-name)\n": "Failed to kekulize aromatic bonds in OBMol::PerceiveBondOrders",
		"1 molecule converted\n": "",
	} {
		if got := obabelError([]byte(in)); got != want {
			t.Errorf("obabelError(%.50q) = %q, want %q", in, got, want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	tb := newTailBuffer(10)
	for i := 0; i < 100; i++ {
		tb.Write([]byte("ab"))
	}
	tb.Write([]byte("0123456789XYZ"))
	tb.Write([]byte("!"))
	if got := string(tb.Bytes()); got != "456789XYZ!" {
		t.Errorf("tail = %q", got)
	}
	if tb.Truncated() != 200+13+1-10 {
		t.Errorf("truncated = %d", tb.Truncated())
	}
	if got := string(withTruncationNote(tb)); !strings.HasPrefix(got, "[... 204 bytes") {
		t.Errorf("note = %q", got)
	}
}

func TestAttributeAtomType(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "receptor.pdbqt")
	lig := filepath.Join(dir, "ligand.pdbqt")
	os.WriteFile(rec, []byte("ATOM      1  N   MET A 225      19.353  41.547  -3.887  0.00  0.00    +0.000 N \nATOM      2 ZN   ZN  A 226      19.353  41.547  -3.887  0.00  0.00    +0.000 Zn\n"), 0o600)
	os.WriteFile(lig, []byte("ROOT\nATOM      1  B   UNL     1      15.822  54.641  12.322  0.00  0.00    +0.038 B \nATOM      2  C   UNL     1      15.822  54.641  12.322  0.00  0.00    +0.038 C \nATOM      3  N   UNL     1      15.822  54.641  12.322  0.00  0.00    +0.038 N \nENDROOT\n"), 0o600)
	files := map[string]string{"receptor": rec, "ligand": lig}
	for msg, want := range map[string]string{
		"PDBQT parsing error: Atom type B is not a valid AutoDock type (atom types are case-sensitive).": "ligand",
		"PDBQT parsing error: Atom type Zn is not a valid AutoDock type":                                 "receptor",
		"ATOM syntax incorrect: \"N\" is not a valid AutoDock type.":                                     "receptor", // in both: vina reads the receptor first
		"ATOM syntax incorrect: \"C\" is not a valid AutoDock type.":                                     "ligand",
		"PDBQT parsing error: Atom type Qq is not a valid AutoDock type":                                 "",
		"PDBQT parsing error: No atoms in this ligand.":                                                  "",
	} {
		if got := attributeAtomType(msg, files); got != want {
			t.Errorf("attributeAtomType(%q) = %q, want %q", msg, got, want)
		}
	}
}
