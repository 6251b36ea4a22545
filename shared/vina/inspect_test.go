package vina

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/domain"
)

// bigV3000 returns a V3000 molfile with n carbons in a chain: the
// "ligand with 10,000 atoms" case (V2000 stops at 999 atoms).
func bigV3000(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "big\n  test          3D\n\n  0  0  0     0  0            999 V3000\nM  V30 BEGIN CTAB\nM  V30 COUNTS %d %d 0 0 0\nM  V30 BEGIN ATOM\n", n, n-1)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "M  V30 %d C %.4f %.4f %.4f 0\n", i+1, float64(i)*1.5, float64(i%2)*0.9, float64(i%3)*0.3)
	}
	b.WriteString("M  V30 END ATOM\nM  V30 BEGIN BOND\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "M  V30 %d 1 %d %d\n", i, i, i+1)
	}
	b.WriteString("M  V30 END BOND\nM  V30 END CTAB\nM  END\n$$$$\n")
	return b.String()
}

// flatten sets every z of a V2000 molfile's atom block to 0 (a 2D depiction).
func flatten(t testing.TB, sdf string) string {
	lines := strings.Split(sdf, "\n")
	var n int
	if _, err := fmt.Sscanf(lines[3][:3], "%d", &n); err != nil {
		t.Fatal(err)
	}
	for i := 4; i < 4+n; i++ {
		lines[i] = lines[i][:20] + "    0.0000" + lines[i][30:]
	}
	return strings.Join(lines, "\n")
}

const tinyMOL2 = `@<TRIPOS>MOLECULE
ethanol
 9 8 0 0 0
SMALL
NO_CHARGES

@<TRIPOS>ATOM
      1 C1          0.0000    0.0000    0.1000 C.3     1  UNL1        0.0000
      2 C2          1.5000    0.0000   -0.1000 C.3     1  UNL1        0.0000
      3 O1          2.0000    1.4000    0.3000 O.3     1  UNL1        0.0000
      4 H1         -0.3600    1.0200    0.1000 H       1  UNL1        0.0000
      5 H2         -0.3600   -0.5100   -0.8800 H       1  UNL1        0.0000
      6 H3         -0.3600   -0.5100    0.8800 H       1  UNL1        0.0000
      7 H4          1.8600   -0.5100    0.8800 H       1  UNL1        0.0000
      8 H5          1.8600   -0.5100   -0.8800 H       1  UNL1        0.0000
      9 H6          2.9700    1.4000    0.2000 H       1  UNL1        0.0000
@<TRIPOS>BOND
     1     1     2    1
     2     2     3    1
     3     1     4    1
     4     1     5    1
     5     1     6    1
     6     2     7    1
     7     2     8    1
     8     3     9    1
`

func TestInspect(t *testing.T) {
	ligSDF := string(readTestdata(t, filepath.Join(testdata1iep, "1iep_ligand.sdf")))
	recPDB := string(readTestdata(t, filepath.Join(testdata1iep, "1iep_receptorH.pdb")))
	var noH []string
	for _, l := range strings.Split(recPDB, "\n") {
		if (strings.HasPrefix(l, "ATOM") || strings.HasPrefix(l, "HETATM")) && len(l) >= 78 && strings.TrimSpace(l[76:78]) == "H" {
			continue
		}
		noH = append(noH, l)
	}
	for _, tc := range []struct {
		name    string
		format  domain.MoleculeFormat
		content string
		want    molInfo
		err     string
	}{
		{name: "1iep ligand SDF", format: domain.FormatSDF, content: ligSDF,
			want: molInfo{Molecules: 1, Atoms: 69, HeavyAtoms: 37, Hydrogens: 32, Has3D: true, HasCoords: true}},
		{name: "2D SDF", format: domain.FormatSDF, content: flatten(t, ligSDF),
			want: molInfo{Molecules: 1, Atoms: 69, HeavyAtoms: 37, Hydrogens: 32, Has3D: false, HasCoords: true}},
		{name: "two records", format: domain.FormatSDF, content: ligSDF + ligSDF,
			want: molInfo{Molecules: 2, Atoms: 69, HeavyAtoms: 37, Hydrogens: 32, Has3D: true, HasCoords: true}},
		{name: "record without $$$$", format: domain.FormatSDF, content: strings.TrimSuffix(strings.TrimSpace(ligSDF), "$$$$"),
			want: molInfo{Molecules: 1, Atoms: 69, HeavyAtoms: 37, Hydrogens: 32, Has3D: true, HasCoords: true}},
		{name: "V3000 10000 atoms", format: domain.FormatSDF, content: bigV3000(10000),
			want: molInfo{Molecules: 1, Atoms: 10000, HeavyAtoms: 10000, Has3D: true, HasCoords: true}},
		{name: "no atoms", format: domain.FormatSDF, content: "empty\n  x\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n$$$$\n",
			want: molInfo{Molecules: 1, HasCoords: true}},
		{name: "empty file", format: domain.FormatSDF, content: "", want: molInfo{HasCoords: true}},
		{name: "junk SDF", format: domain.FormatSDF, content: "junk junk\n", err: "not a molfile"},
		{name: "truncated atom block", format: domain.FormatSDF, content: "t\n\n\n  5  0  0  0  0  0  0  0  0  0999 V2000\n    0.0 0.0 0.0 C 0\n", err: "declares 5 atoms"},
		{name: "MOL2", format: domain.FormatMOL2, content: tinyMOL2,
			want: molInfo{Molecules: 1, Atoms: 9, HeavyAtoms: 3, Hydrogens: 6, Has3D: true, HasCoords: true}},
		{name: "SMILES", format: domain.FormatSMI, content: "Cc1ccc(NC(=O)c2ccc(CN3CC[NH+](C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1 imatinib\n",
			want: molInfo{Molecules: 1, Atoms: 37, HeavyAtoms: 37}},
		{name: "SMILES brackets", format: domain.FormatSMI, content: "[2H]OC(Cl)(Br)[C@@H]([Hg])[H] x\n\n",
			want: molInfo{Molecules: 1, Atoms: 8, HeavyAtoms: 6, Hydrogens: 2}},
		{name: "SMILES two lines", format: domain.FormatSMI, content: "CCO\nCCN\n",
			want: molInfo{Molecules: 2, Atoms: 3, HeavyAtoms: 3}},
		{name: "SMILES junk", format: domain.FormatSMI, content: "hello world\n", err: "unexpected character"},
		{name: "ligand PDBQT", format: domain.FormatPDBQT, content: string(readTestdata(t, filepath.Join(testdata1iep, "1iep_ligand.pdbqt"))),
			want: molInfo{Molecules: 1, Atoms: 40, HeavyAtoms: 37, Hydrogens: 3, Has3D: true, HasCoords: true}},
		{name: "vina output has models", format: domain.FormatPDBQT, content: string(readTestdata(t, "testdata/vina_out_ex8.pdbqt")),
			want: molInfo{Molecules: 1, Atoms: 200, HeavyAtoms: 185, Hydrogens: 15, Has3D: true, HasCoords: true, MultiModels: true}},
		{name: "receptor PDB with H", format: domain.FormatPDB, content: recPDB,
			want: molInfo{Molecules: 1, Atoms: 4412, HeavyAtoms: 2229, Hydrogens: 2183, Has3D: true, HasCoords: true}},
		{name: "receptor PDB without H", format: domain.FormatPDB, content: strings.Join(noH, "\n"),
			want: molInfo{Molecules: 1, Atoms: 2229, HeavyAtoms: 2229, Has3D: true, HasCoords: true}},
		{name: "SDF sent as PDB", format: domain.FormatPDB, content: ligSDF, want: molInfo{HasCoords: true}},
		{name: "mmCIF sent as PDB", format: domain.FormatPDB, content: "data_x\nATOM   1    N N   . MET A 1 1 ? 19.353 41.547 -3.887 1.00 72.26 ? 225 MET A N 1\n", err: "no coordinate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mol."+string(tc.format))
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := inspect(path, tc.format)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPDBHydrogenByName(t *testing.T) {
	// Without element columns the atom name decides.
	for line, want := range map[string]bool{
		"ATOM      2  HA  MET A 225      19.594  42.398  -3.380":                         true,
		"ATOM      2 1HB  MET A 225      19.594  42.398  -3.380":                         true,
		"ATOM      2 HG12 ILE A 225      19.594  42.398  -3.380":                         true,
		"ATOM      2  CA  MET A 225      19.594  42.398  -3.380":                         false,
		"HETATM    2 HG    HG A 225      19.594  42.398  -3.380":                         false, // mercury
		"ATOM      2  N   MET A 225      19.594  42.398  -3.380  1.00  0.00           H": true,
	} {
		if got := pdbIsHydrogen(line); got != want {
			t.Errorf("pdbIsHydrogen(%q) = %v, want %v", line, got, want)
		}
	}
}
