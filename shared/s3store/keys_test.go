package s3store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mad-bio/mad/shared/domain"
)

const (
	orgA = "0190c8a2-7b3e-7cc1-9d2a-4f5e6a7b8c9d"
	orgB = "0190c8a2-7b3e-7cc1-9d2a-000000000000"
	idX  = "0190c8a2-7b40-7d11-8e2f-1a2b3c4d5e6f"
)

func TestCheckKey(t *testing.T) {
	t.Parallel()
	valid := []struct {
		key  string
		kind keyKind
	}{
		{domain.MoleculeKey(orgA, idX, domain.FormatPDB), kindMolecule},
		{domain.MoleculeKey(orgA, idX, domain.FormatPDBQT), kindMolecule},
		{domain.MoleculeKey(orgA, idX, domain.FormatSDF), kindMolecule},
		{domain.MoleculeKey(orgA, idX, domain.FormatMOL2), kindMolecule},
		{domain.MoleculeKey(orgA, idX, domain.FormatSMI), kindMolecule},
		{domain.JobArtifactKey(orgA, idX, "poses.pdbqt"), kindJob},
		{domain.JobArtifactKey(orgA, idX, "poses.sdf"), kindJob},
		{domain.JobArtifactKey(orgA, idX, "vina.log"), kindJob},
		{domain.JobArtifactKey(orgA, idX, "result.json"), kindJob},
		{domain.UploadKey(orgA, idX), kindUpload},
		{domain.UploadKey(orgB, idX), kindUpload}, // another org's key is well-formed; CheckOrgKey pins the org
	}
	for _, tc := range valid {
		t.Run("ok/"+tc.key, func(t *testing.T) {
			kind, err := checkKey(tc.key)
			if err != nil || kind != tc.kind {
				t.Fatalf("checkKey(%q) = %v, %v; want kind %v", tc.key, kind, err, tc.kind)
			}
		})
	}

	upper := strings.ToUpper(orgA)
	invalid := []struct{ name, key string }{
		{"empty", ""},
		{"org only", orgA},
		{"org slash", orgA + "/"},
		{"leading slash", "/" + domain.UploadKey(orgA, idX)},
		{"trailing slash", domain.UploadKey(orgA, idX) + "/"},
		{"double slash", orgA + "//uploads/" + idX},
		{"dot dot segment", orgA + "/uploads/../" + idX},
		{"escape org prefix", orgA + "/jobs/" + idX + "/../../" + orgB + "/uploads/" + idX},
		{"dot dot as id", orgA + "/uploads/.."},
		{"dot as id", orgA + "/uploads/."},
		{"percent-encoded dot dot", orgA + "/uploads/%2e%2e"},
		{"percent-encoded slash", orgA + "/uploads%2F" + idX},
		{"percent-encoded id", orgA + "/uploads/" + strings.ReplaceAll(idX, "-", "%2D")},
		{"backslash", orgA + `\uploads\` + idX},
		{"backslash traversal", orgA + `/uploads/..\..\` + idX},
		{"absolute path", "/etc/passwd"},
		{"absolute org path", "/" + orgA + "/molecules/" + idX + ".pdb"},
		{"uppercase org", upper + "/uploads/" + idX},
		{"uppercase id", orgA + "/uploads/" + strings.ToUpper(idX)},
		{"braced id", orgA + "/uploads/{" + idX + "}"},
		{"urn id", orgA + "/uploads/urn:uuid:" + idX},
		{"unhyphenated id", orgA + "/uploads/" + strings.ReplaceAll(idX, "-", "")},
		{"cyrillic a in id", orgA + "/uploads/" + strings.Replace(idX, "a", "\u0430", 1)},
		{"fullwidth digit in org", strings.Replace(orgA, "0", "\uff10", 1) + "/uploads/" + idX},
		{"unicode name", orgA + "/molecules/l\u00e9gende.pdb"},
		{"NUL byte", orgA + "/uploads/" + idX + "\x00"},
		{"newline", orgA + "/uploads/" + idX + "\n"},
		{"leading space", " " + domain.UploadKey(orgA, idX)},
		{"unknown prefix", orgA + "/secrets/" + idX},
		{"molecule without format", orgA + "/molecules/" + idX},
		{"molecule uppercase format", orgA + "/molecules/" + idX + ".PDB"},
		{"molecule double extension", orgA + "/molecules/" + idX + ".pdb.exe"},
		{"molecule unknown format", orgA + "/molecules/" + idX + ".exe"},
		{"molecule extra segment", orgA + "/molecules/" + idX + "/" + idX + ".pdb"},
		{"job without artifact", orgA + "/jobs/" + idX},
		{"job unknown artifact", orgA + "/jobs/" + idX + "/secret.txt"},
		{"job artifact traversal", orgA + "/jobs/" + idX + "/../vina.log"},
		{"job extra segment", orgA + "/jobs/" + idX + "/vina.log/x"},
		{"upload extra segment", orgA + "/uploads/" + idX + "/x"},
		{"upload with extension", orgA + "/uploads/" + idX + ".pdb"},
		{"user file name as key", orgA + "/uploads/ligand.pdb"},
	}
	for _, tc := range invalid {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			if _, err := checkKey(tc.key); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("checkKey(%q) = %v, want ErrInvalidKey", tc.key, err)
			}
			if got := OrgOf(tc.key); got != "" {
				t.Fatalf("OrgOf(%q) = %q, want empty", tc.key, got)
			}
		})
	}
}

func TestOrgOf(t *testing.T) {
	t.Parallel()
	for _, key := range []string{
		domain.MoleculeKey(orgA, idX, domain.FormatSDF),
		domain.JobArtifactKey(orgA, idX, "vina.log"),
		domain.UploadKey(orgA, idX),
	} {
		if got := OrgOf(key); got != orgA {
			t.Errorf("OrgOf(%q) = %q, want %q", key, got, orgA)
		}
	}
}

func TestCheckOrgKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		org     string
		key     string
		wantErr error
	}{
		{"own molecule", orgA, domain.MoleculeKey(orgA, idX, domain.FormatPDB), nil},
		{"own job artifact", orgA, domain.JobArtifactKey(orgA, idX, "poses.sdf"), nil},
		{"own upload", orgA, domain.UploadKey(orgA, idX), nil},
		{"another org's molecule", orgA, domain.MoleculeKey(orgB, idX, domain.FormatPDB), ErrOtherOrg},
		{"another org's upload", orgB, domain.UploadKey(orgA, idX), ErrOtherOrg},
		{"uppercase caller org", strings.ToUpper(orgA), domain.UploadKey(orgA, idX), ErrOtherOrg},
		{"empty caller org", "", domain.UploadKey(orgA, idX), ErrOtherOrg},
		{"traversal into another org", orgA, orgA + "/uploads/../../" + orgB + "/uploads/" + idX, ErrInvalidKey},
		{"encoded traversal", orgA, orgA + "/uploads/%2e%2e%2f" + idX, ErrInvalidKey},
		{"absolute path", orgA, "/" + domain.UploadKey(orgA, idX), ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOrgKey(tc.org, tc.key)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckOrgKey(%q, %q) = %v, want %v", tc.org, tc.key, err, tc.wantErr)
			}
		})
	}
}

func TestSanitizeFilename(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 150) + ".pdbqt"
	tests := []struct{ name, in, fallback, want string }{
		{"plain", "ligand.pdb", "x.pdb", "ligand.pdb"},
		{"spaces and parens", "ligand (1).pdb", "x.pdb", "ligand_1_.pdb"},
		{"quotes cannot break the header", `a".pdb"; filename="evil.html`, "x.pdb", "a_.pdb_filename_evil.html"},
		{"CRLF injection", "a.pdb\r\nSet-Cookie: x=1", "x.pdb", "a.pdb_Set-Cookie_x_1"},
		{"path separators", "../../etc/passwd", "x.pdb", "_.._etc_passwd"},
		{"windows path", `C:\Users\me\lig.sdf`, "x.pdb", "C_Users_me_lig.sdf"},
		{"leading dots", "...hidden", "x.pdb", "hidden"},
		{"only dots", "..", idX + ".pdb", idX + ".pdb"},
		{"unicode", "café.pdb", "x.pdb", "caf_.pdb"},
		{"all unicode", "分子", idX + ".sdf", idX + ".sdf"},
		{"empty", "", "vina.log", "vina.log"},
		{"long keeps extension", long, "x.pdb", strings.Repeat("a", 100-len(".pdbqt")) + ".pdbqt"},
		{"nothing usable at all", "", "", "download"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SanitizeFilename(tc.in, tc.fallback)
			if got != tc.want {
				t.Fatalf("SanitizeFilename(%q, %q) = %q, want %q", tc.in, tc.fallback, got, tc.want)
			}
			if len(got) > 100 {
				t.Fatalf("len = %d > 100", len(got))
			}
		})
	}
}

// TestStoreChecksKeysFirst runs without S3: the Store has no client, so
// any call that got past the key check would panic.
func TestStoreChecksKeysFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(nil, nil, Config{ArtifactsBucket: "a", UploadsBucket: "u", KMSKeyID: "k"})
	traversal := orgA + "/uploads/../../" + orgB + "/uploads/" + idX
	molecule := domain.MoleculeKey(orgA, idX, domain.FormatPDB)
	upload := domain.UploadKey(orgA, idX)
	calls := map[string]func() error{
		"PutObject traversal":         func() error { return s.PutObject(ctx, traversal, []byte("x"), "") },
		"PutObject upload key":        func() error { return s.PutObject(ctx, upload, []byte("x"), "") },
		"GetObject upload key":        func() error { _, err := s.GetObject(ctx, upload, 10); return err },
		"DeleteObject traversal":      func() error { return s.DeleteObject(ctx, traversal) },
		"PresignGet upload key":       func() error { _, _, err := s.PresignGet(ctx, upload, time.Minute, "x"); return err },
		"PresignGet absolute":         func() error { _, _, err := s.PresignGet(ctx, "/"+molecule, time.Minute, "x"); return err },
		"PresignUpload molecule key":  func() error { _, err := s.PresignUpload(ctx, molecule, 10, time.Minute); return err },
		"PresignUpload encoded":       func() error { _, err := s.PresignUpload(ctx, orgA+"/uploads/%2e%2e", 10, time.Minute); return err },
		"GetUpload molecule key":      func() error { _, err := s.GetUpload(ctx, molecule, 10); return err },
		"DeleteUpload job key":        func() error { return s.DeleteUpload(ctx, domain.JobArtifactKey(orgA, idX, "vina.log")) },
		"DeleteUpload unicode":        func() error { return s.DeleteUpload(ctx, orgA+"/uploads/é") },
		"GetObject other bucket kind": func() error { _, err := s.GetObject(ctx, orgA+"/uploads/"+idX, 1); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("got %v, want ErrInvalidKey", err)
			}
		})
	}

	t.Run("incomplete config refuses to write", func(t *testing.T) {
		s := New(nil, nil, Config{ArtifactsBucket: "a", UploadsBucket: "u"})
		if err := s.PutObject(ctx, molecule, []byte("x"), ""); err == nil || !strings.Contains(err.Error(), "KMS key") {
			t.Fatalf("got %v, want missing KMS key error", err)
		}
	})
}
