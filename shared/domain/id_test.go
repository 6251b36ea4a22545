package domain

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewIDIsCanonicalVersion7AndSortsByTime(t *testing.T) {
	var g idGen
	a := g.next(time.UnixMilli(1000))
	b := g.next(time.UnixMilli(2000))
	if _, err := ParseID(a); err != nil {
		t.Fatal(err)
	}
	if a[14] != '7' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Fatalf("%s is not a v7 UUID", a)
	}
	if a >= b {
		t.Fatalf("ids do not sort by time: %s >= %s", a, b)
	}
}

func TestIDsSortInTheOrderTheyWereMade(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	cases := []struct {
		name  string
		times []time.Time
	}{
		{"same instant", []time.Time{at, at, at, at}},
		{"same millisecond, later fraction", []time.Time{at.Add(900 * time.Microsecond), at.Add(100 * time.Microsecond), at.Add(950 * time.Microsecond)}},
		{"clock stepped back", []time.Time{at, at.Add(-time.Second), at.Add(-time.Minute)}},
		{"more ids in one millisecond than the fraction holds", slices.Repeat([]time.Time{at}, 5000)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var g idGen
			prev := ""
			for i, tm := range c.times {
				id := g.next(tm)
				if id <= prev {
					t.Fatalf("id %d %s does not sort after %s", i, id, prev)
				}
				if id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
					t.Fatalf("%s is not a v7 UUID", id)
				}
				prev = id
			}
		})
	}
	// Far apart in time, the embedded millisecond is the clock's.
	var g idGen
	if id := g.next(at); !strings.HasPrefix(strings.ReplaceAll(id, "-", ""), fmt.Sprintf("%012x", at.UnixMilli())) {
		t.Fatalf("%s does not start with the clock's milliseconds %012x", id, at.UnixMilli())
	}
}

func TestParseIDRefusesEverythingButTheCanonicalForm(t *testing.T) {
	for _, s := range []string{"", "not-a-uuid", "{01234567-89ab-cdef-0123-456789abcdef}",
		"urn:uuid:01234567-89ab-cdef-0123-456789abcdef", "01234567-89ab-cdef-0123-456789abcdeg",
		"0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123-456789abcdef/../x"} {
		if _, err := ParseID(s); err == nil {
			t.Errorf("ParseID(%q) accepted", s)
		}
	}
	id, err := ParseID("01234567-89AB-CDEF-0123-456789ABCDEF")
	if err != nil || id != "01234567-89ab-cdef-0123-456789abcdef" {
		t.Fatalf("uppercase UUID: %q %v", id, err)
	}
}

func TestObjectURIsCannotEscapeTheOrgPrefix(t *testing.T) {
	org, mol, job := NewID(), NewID(), NewID()
	good := []string{
		"mad://org/" + org + "/molecules/" + mol + ".pdbqt",
		"mad://org/" + org + "/jobs/" + job + "/poses.sdf",
	}
	for _, u := range good {
		r, err := ParseObjectURI(u)
		if err != nil || !strings.HasPrefix(r.Key(), org+"/") {
			t.Errorf("ParseObjectURI(%q) = %+v, %v", u, r, err)
		}
	}
	bad := []string{
		"mad://org/" + org + "/molecules/../" + mol + ".pdbqt",
		"mad://org/" + org + "/jobs/" + job + "/../../other/secret",
		"mad://org/" + org + "/jobs/" + job + "/passwd",
		"mad://org/../" + org + "/molecules/" + mol + ".pdb",
		"mad://org/" + org + "/molecules/" + mol + ".exe",
		"mad://org/" + org + "/uploads/" + mol,
		"s3://bucket/" + org + "/molecules/" + mol + ".pdb",
		"mad://org/" + org + "//molecules/" + mol + ".pdb",
	}
	for _, u := range bad {
		if r, err := ParseObjectURI(u); err == nil {
			t.Errorf("ParseObjectURI(%q) accepted: key %s", u, r.Key())
		}
	}
}

func TestMoleculeRefToAnotherOrgIsRefused(t *testing.T) {
	mine, other, mol := NewID(), NewID(), NewID()
	if id, err := ParseMoleculeRef("mad://org/"+mine+"/molecules/"+mol+".pdb", mine); err != nil || id != mol {
		t.Fatalf("own URI: %q %v", id, err)
	}
	if _, err := ParseMoleculeRef("mad://org/"+other+"/molecules/"+mol+".pdb", mine); err == nil {
		t.Fatal("a URI of another org was accepted")
	}
}

func TestValidateNameRefusesPathsControlCharsAndHugeNames(t *testing.T) {
	for name, in := range map[string]string{
		"empty": "", "blank": "   ", "slash": "../../etc/passwd", "backslash": `a\b`, "NUL": "a\x00b",
		"newline": "a\nb", "10k": strings.Repeat("x", 10000), "bad utf8": "a\xffb",
	} {
		if err := ValidateName(in); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if err := ValidateName("Imatinib (STI-571) pose #1 — Abl"); err != nil {
		t.Errorf("a normal name was refused: %v", err)
	}
}
