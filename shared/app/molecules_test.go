package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// nothingWritten fails if org has any molecule, upload, molecule.created
// entry or object.
func nothingWritten(t *testing.T, env *apptest.Env, orgID string) {
	t.Helper()
	if n := count(t, env, orgID, `SELECT count(*) FROM molecules`); n != 0 {
		t.Errorf("%d molecule rows written", n)
	}
	if n := count(t, env, orgID, `SELECT count(*) FROM uploads`); n != 0 {
		t.Errorf("%d upload rows written", n)
	}
	if n := count(t, env, orgID, `SELECT count(*) FROM audit_log WHERE action = 'molecule.created'`); n != 0 {
		t.Errorf("%d molecule.created entries written", n)
	}
	for _, b := range []string{env.AWS.Buckets.Artifacts, env.AWS.Buckets.Uploads} {
		if keys := testenv.ObjectKeys(t, b, orgID+"/"); len(keys) != 0 {
			t.Errorf("objects written to %s: %v", b, keys)
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestCreateMoleculeInline(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	content := testdata(t, "1iep_ligand.pdbqt")

	mol, err := env.Molecules.CreateMolecule(ctx, u.Principal, app.NewMoleculeInput{Name: "imatinib (crystal pose)", Format: "pdbqt", Content: content})
	ok(t, err)
	if mol.OrgID != org.ID || mol.SizeBytes != int64(len(content)) || mol.SHA256 != sha(content) || mol.CreatedBy != u.UserID ||
		mol.Format != domain.FormatPDBQT || mol.URI() != "mad://org/"+org.ID+"/molecules/"+mol.ID+".pdbqt" {
		t.Fatalf("molecule %+v", mol)
	}
	stored, err := env.Molecules.GetMolecule(ctx, u.Principal, mol.ID)
	ok(t, err)
	if stored.SHA256 != mol.SHA256 || stored.SizeBytes != mol.SizeBytes || stored.Name != mol.Name {
		t.Fatalf("stored row %+v, want %+v", stored, mol)
	}
	h := requireKMS(t, env, env.AWS.Buckets.Artifacts, mol.Key())
	if *h.ContentLength != int64(len(content)) {
		t.Fatalf("object is %d bytes", *h.ContentLength)
	}
	got, err := env.AWS.Objects.GetObject(ctx, mol.Key(), 1<<20)
	ok(t, err)
	if !bytes.Equal(got, content) {
		t.Fatal("stored object differs from the upload")
	}
	if e := auditFor(t, env, org.ID, domain.AuditMoleculeCreated, mol.ID); len(e) != 1 || e[0].ActorID != u.UserID {
		t.Fatalf("molecule.created entries %+v", e)
	}

	t.Run("another org does not see it", func(t *testing.T) {
		_, other := env.NewOrg(t)
		_, err := env.Molecules.GetMolecule(ctx, other.Principal, mol.ID)
		wantCode(t, err, domain.CodeMoleculeNotFound)
		_, err = env.Molecules.DownloadMolecule(ctx, other.Principal, mol.ID)
		wantCode(t, err, domain.CodeMoleculeNotFound)
		wantCode(t, env.Molecules.DeleteMolecule(ctx, other.Principal, mol.ID), domain.CodeMoleculeNotFound)
		page, err := env.Molecules.ListMolecules(ctx, other.Principal, app.Page{})
		ok(t, err)
		if len(page.Items) != 0 {
			t.Fatalf("org B lists %d molecules", len(page.Items))
		}
	})
}

func TestCreateMoleculeRefusesAndWritesNothing(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	ligand := testdata(t, "1iep_ligand.pdbqt")

	cases := []struct {
		name        string
		in          app.NewMoleculeInput
		code        domain.Code
		field       string
		msgContains string
	}{
		{"content that is not the declared format", app.NewMoleculeInput{Name: "x", Format: "pdbqt", Content: []byte("hello, world\n")}, domain.CodeValidation, "content", "line"},
		{"pdbqt content declared as sdf", app.NewMoleculeInput{Name: "x", Format: "sdf", Content: ligand}, domain.CodeValidation, "content", ""},
		{"empty content", app.NewMoleculeInput{Name: "x", Format: "pdbqt"}, domain.CodeValidation, "content", ""},
		{"5 MiB + 1 byte", app.NewMoleculeInput{Name: "x", Format: "smi", Content: bytes.Repeat([]byte("C"), domain.MaxInlineMoleculeBytes+1)}, domain.CodePayloadTooLarge, "", ""},
		{"exactly 5 MiB is checked, not refused as too large", app.NewMoleculeInput{Name: "x", Format: "smi", Content: bytes.Repeat([]byte("C"), domain.MaxInlineMoleculeBytes)}, domain.CodeValidation, "content", ""},
		{"name with a path", app.NewMoleculeInput{Name: "../x", Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"name with a backslash", app.NewMoleculeInput{Name: `..\x`, Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"name with NUL", app.NewMoleculeInput{Name: "a\x00b", Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"name of 10,000 characters", app.NewMoleculeInput{Name: strings.Repeat("a", 10000), Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"name of 201 characters", app.NewMoleculeInput{Name: strings.Repeat("é", 201), Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"empty name", app.NewMoleculeInput{Name: "", Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"blank name", app.NewMoleculeInput{Name: "   ", Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"invalid UTF-8 name", app.NewMoleculeInput{Name: "\xff\xfe", Format: "pdbqt", Content: ligand}, domain.CodeValidation, "name", ""},
		{"unknown format", app.NewMoleculeInput{Name: "x", Format: "exe", Content: ligand}, domain.CodeValidation, "format", ""},
		{"format in capitals", app.NewMoleculeInput{Name: "x", Format: "PDBQT", Content: ligand}, domain.CodeValidation, "format", ""},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				_, err := env.Molecules.CreateMolecule(ctx, u.Principal, tc.in)
				de := wantCode(t, err, tc.code)
				if tc.field != "" {
					msg, ok := de.Fields[tc.field]
					if !ok {
						t.Fatalf("fields %v, want %q", de.Fields, tc.field)
					}
					if !strings.Contains(msg, tc.msgContains) {
						t.Fatalf("%s: %q does not mention %q", tc.field, msg, tc.msgContains)
					}
				}
			})
		}
	})
	nothingWritten(t, env, org.ID)
}

func TestStorageQuota(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	content := testdata(t, "1iep_ligand.pdbqt")
	size := int64(len(content))

	env.SetQuotas(t, org.ID, nil, ptr(size-1))
	_, err := env.Molecules.CreateMolecule(ctx, admin.Principal, app.NewMoleculeInput{Name: "x", Format: "pdbqt", Content: content})
	wantCode(t, err, domain.CodeQuotaExceeded)
	_, err = env.Molecules.CreateUpload(ctx, admin.Principal, app.NewUploadInput{Name: "x", Format: "pdbqt", SizeBytes: size})
	wantCode(t, err, domain.CodeQuotaExceeded)
	nothingWritten(t, env, org.ID)

	env.SetQuotas(t, org.ID, nil, ptr(size))
	molecule(t, env, admin, "fits exactly", domain.FormatPDBQT, content)
	_, err = env.Molecules.CreateMolecule(ctx, admin.Principal, app.NewMoleculeInput{Name: "x", Format: "smi", Content: []byte("C\n")})
	wantCode(t, err, domain.CodeQuotaExceeded)

	t.Run("a pending upload reserves its declared size", func(t *testing.T) {
		env.SetQuotas(t, org.ID, nil, ptr(size+100))
		_, err := env.Molecules.CreateUpload(ctx, admin.Principal, app.NewUploadInput{Name: "big", Format: "smi", SizeBytes: 100})
		ok(t, err)
		_, err = env.Molecules.CreateMolecule(ctx, admin.Principal, app.NewMoleculeInput{Name: "x", Format: "smi", Content: []byte("C\n")})
		wantCode(t, err, domain.CodeQuotaExceeded)
	})
}

func TestDeleteMolecule(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	owner := env.NewUser(t, admin, domain.RoleStandard)
	colleague := env.NewUser(t, admin, domain.RoleStandard)
	operator := env.NewUser(t, admin, domain.RoleOperator)
	content := testdata(t, "1iep_ligand.pdbqt")

	mol := molecule(t, env, owner, "mine", domain.FormatPDBQT, content)
	wantCode(t, env.Molecules.DeleteMolecule(ctx, colleague.Principal, mol.ID), domain.CodeForbidden)
	if _, err := env.AWS.Objects.GetObject(ctx, mol.Key(), 1<<20); err != nil {
		t.Fatalf("object gone after a refused delete: %v", err)
	}
	if _, err := env.Molecules.GetMolecule(ctx, owner.Principal, mol.ID); err != nil {
		t.Fatalf("row gone after a refused delete: %v", err)
	}

	ok(t, env.Molecules.DeleteMolecule(ctx, operator.Principal, mol.ID))
	_, err := env.Molecules.GetMolecule(ctx, owner.Principal, mol.ID)
	wantCode(t, err, domain.CodeMoleculeNotFound)
	_, err = env.AWS.Objects.GetObject(ctx, mol.Key(), 1<<20)
	wantCode(t, err, domain.CodeArtifactNotFound)
	if e := auditFor(t, env, org.ID, domain.AuditMoleculeDeleted, mol.ID); len(e) != 1 || e[0].ActorID != operator.UserID {
		t.Fatalf("molecule.deleted entries %+v", e)
	}
	wantCode(t, env.Molecules.DeleteMolecule(ctx, operator.Principal, mol.ID), domain.CodeMoleculeNotFound)

	t.Run("the uploader may delete their own", func(t *testing.T) {
		m := molecule(t, env, owner, "mine too", domain.FormatPDBQT, content)
		ok(t, env.Molecules.DeleteMolecule(ctx, owner.Principal, m.ID))
		if keys := testenv.ObjectKeys(t, env.AWS.Buckets.Artifacts, m.Key()); len(keys) != 0 {
			t.Fatalf("object left: %v", keys)
		}
	})
}

func TestDownloadMolecule(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	viewer := env.NewUser(t, admin, domain.RoleViewer)
	content := testdata(t, "1iep_ligand.pdbqt")
	mol := molecule(t, env, admin, "imatinib", domain.FormatPDBQT, content)

	before := time.Now()
	d, err := env.Molecules.DownloadMolecule(ctx, viewer.Principal, mol.ID)
	ok(t, err)
	if d.ExpiresAt.Before(before) || d.ExpiresAt.After(before.Add(15*time.Minute+time.Second)) {
		t.Fatalf("expires at %s, want within 15 minutes", d.ExpiresAt)
	}
	status, body := httpDo(t, http.MethodGet, d.URL, nil, nil)
	if status != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET presigned URL: %d, %d bytes; want 200 and the %d uploaded bytes", status, len(body), len(content))
	}
	e := auditFor(t, env, org.ID, domain.AuditArtifactAccessed, mol.ID)
	if len(e) != 1 || e[0].ActorID != viewer.UserID || e[0].Detail["uri"] != mol.URI() {
		t.Fatalf("artifact.accessed entries %+v", e)
	}
}

// upload runs the presigned upload flow as a client would: ask for the
// upload, PUT the bytes through the returned URL and headers.
func upload(t *testing.T, env *apptest.Env, m apptest.Member, name string, f domain.MoleculeFormat, content []byte, run *app.RunInput) (domain.Upload, string) {
	t.Helper()
	cu, err := env.Molecules.CreateUpload(ctx, m.Principal, app.NewUploadInput{Name: name, Format: string(f), SizeBytes: int64(len(content)), Run: run})
	ok(t, err)
	if cu.Upload.Status != domain.UploadPending || cu.Request.Method != http.MethodPut {
		t.Fatalf("upload %+v request %+v", cu.Upload, cu.Request)
	}
	status, body := httpDo(t, cu.Request.Method, cu.Request.URL, cu.Request.Headers, content)
	if status != http.StatusOK {
		t.Fatalf("PUT presigned upload: %d %s", status, body)
	}
	key := domain.UploadKey(m.OrgID, cu.Upload.ID)
	requireKMS(t, env, env.AWS.Buckets.Uploads, key)
	return cu.Upload, key
}

func TestPresignedUploadIngest(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	content := testdata(t, "1iep_ligand.sdf")
	up, key := upload(t, env, u, "imatinib sdf", domain.FormatSDF, content, nil)

	got, err := env.Molecules.Ingest(ctx, key, int64(len(content)))
	ok(t, err)
	if got.Status != domain.UploadCompleted || got.MoleculeID == "" || got.Error != "" || got.ID != up.ID {
		t.Fatalf("upload after ingest %+v", got)
	}
	mol, err := env.Molecules.GetMolecule(ctx, u.Principal, got.MoleculeID)
	ok(t, err)
	if mol.SHA256 != sha(content) || mol.SizeBytes != int64(len(content)) || mol.CreatedBy != u.UserID || mol.Name != "imatinib sdf" {
		t.Fatalf("molecule %+v", mol)
	}
	stored, err := env.AWS.Objects.GetObject(ctx, mol.Key(), 1<<20)
	ok(t, err)
	if !bytes.Equal(stored, content) {
		t.Fatal("registered object differs from the uploaded bytes")
	}
	requireKMS(t, env, env.AWS.Buckets.Artifacts, mol.Key())
	if keys := testenv.ObjectKeys(t, env.AWS.Buckets.Uploads, org.ID+"/"); len(keys) != 0 {
		t.Fatalf("upload object left behind: %v", keys)
	}
	status, err := env.Molecules.GetUpload(ctx, u.Principal, up.ID)
	ok(t, err)
	if status.Status != domain.UploadCompleted || status.MoleculeID != mol.ID {
		t.Fatalf("GetUpload %+v", status)
	}

	t.Run("a redelivered event changes nothing", func(t *testing.T) {
		again, err := env.Molecules.Ingest(ctx, key, int64(len(content)))
		ok(t, err)
		if again.Status != domain.UploadCompleted || again.MoleculeID != mol.ID {
			t.Fatalf("second ingest %+v", again)
		}
		if n := count(t, env, org.ID, `SELECT count(*) FROM molecules`); n != 1 {
			t.Fatalf("%d molecule rows after a redelivery, want 1", n)
		}
		if n := count(t, env, org.ID, `SELECT count(*) FROM audit_log WHERE action = 'molecule.created'`); n != 1 {
			t.Fatalf("%d molecule.created entries after a redelivery, want 1", n)
		}
	})
	t.Run("another org cannot read the upload", func(t *testing.T) {
		_, other := env.NewOrg(t)
		_, err := env.Molecules.GetUpload(ctx, other.Principal, up.ID)
		wantCode(t, err, domain.CodeUploadNotFound)
	})
}

func TestIngestRejectsJunk(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	junk := []byte("ATOM this is not a structure\nEND\n")
	up, key := upload(t, env, admin, "junk", domain.FormatPDBQT, junk, nil)

	got, err := env.Molecules.Ingest(ctx, key, int64(len(junk)))
	ok(t, err)
	if got.Status != domain.UploadRejected || got.MoleculeID != "" || !strings.Contains(got.Error, "line 1") {
		t.Fatalf("upload %+v, want rejected with a reason naming line 1", got)
	}
	status, err := env.Molecules.GetUpload(ctx, admin.Principal, up.ID)
	ok(t, err)
	if status.Status != domain.UploadRejected || status.Error != got.Error {
		t.Fatalf("GetUpload %+v", status)
	}
	if n := count(t, env, org.ID, `SELECT count(*) FROM molecules`); n != 0 {
		t.Fatalf("%d molecules registered from junk", n)
	}
	if keys := testenv.ObjectKeys(t, env.AWS.Buckets.Artifacts, org.ID+"/"); len(keys) != 0 {
		t.Fatalf("objects written: %v", keys)
	}
	if e := auditFor(t, env, org.ID, domain.AuditUploadRejected, up.ID); len(e) != 1 || e[0].Outcome != domain.OutcomeFailure {
		t.Fatalf("upload.rejected entries %+v", e)
	}

	t.Run("a size other than the declared one is rejected", func(t *testing.T) {
		content := testdata(t, "1iep_ligand.pdbqt")
		up, key := upload(t, env, admin, "short", domain.FormatPDBQT, content, nil)
		got, err := env.Molecules.Ingest(ctx, key, int64(len(content))+1)
		ok(t, err)
		if got.Status != domain.UploadRejected || got.ID != up.ID {
			t.Fatalf("upload %+v", got)
		}
	})
}

func TestIngestIgnoresKeysThatAreNotUploads(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, _ := env.NewOrg(t)
	for _, key := range []string{
		"",
		"x",
		org.ID + "/uploads/not-an-id",
		org.ID + "/uploads/" + strings.ToUpper(domain.NewID()),
		org.ID + "/molecules/" + domain.NewID() + ".pdb",
		org.ID + "/uploads/" + domain.NewID() + "/extra",
		"../" + org.ID + "/uploads/" + domain.NewID(),
		org.ID + "/uploads/" + domain.NewID(), // well-formed, but no such upload
		domain.NewID() + "/uploads/" + domain.NewID(),
	} {
		_, err := env.Molecules.Ingest(ctx, key, 10)
		if !errors.Is(err, app.ErrIgnoredObject) {
			t.Errorf("Ingest(%q) = %v, want ErrIgnoredObject", key, err)
		}
	}
}

func TestUploadWithRunCreatesOneJob(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	u := env.NewUser(t, admin, domain.RoleStandard)
	receptor := molecule(t, env, u, "receptor", domain.FormatPDBQT, testdata(t, "1iep_receptor.pdbqt"))
	content := testdata(t, "1iep_ligand.pdbqt")
	run := &app.RunInput{PipelineID: domain.BuiltinPipelineID, Receptor: receptor.URI(), Params: dockParams()}
	_, key := upload(t, env, u, "ligand", domain.FormatPDBQT, content, run)

	got, err := env.Molecules.Ingest(ctx, key, int64(len(content)))
	ok(t, err)
	if got.Status != domain.UploadCompleted || got.JobID == "" || got.Error != "" {
		t.Fatalf("upload %+v", got)
	}
	job, err := env.Jobs.GetJob(ctx, u.Principal, got.JobID)
	ok(t, err)
	if job.Inputs.Ligand != got.MoleculeID || job.Inputs.Receptor != receptor.ID || job.CreatedBy != u.UserID || job.Status != domain.JobQueued {
		t.Fatalf("job %+v", job)
	}
	again, err := env.Molecules.Ingest(ctx, key, int64(len(content)))
	ok(t, err)
	if again.JobID != got.JobID {
		t.Fatalf("redelivery pointed the upload at job %s, want %s", again.JobID, got.JobID)
	}
	if n := count(t, env, org.ID, `SELECT count(*) FROM jobs`); n != 1 {
		t.Fatalf("%d jobs after a redelivered ingest, want 1", n)
	}

	t.Run("a bad run is refused before the upload", func(t *testing.T) {
		cases := []struct {
			name  string
			run   app.RunInput
			field string
		}{
			{"unknown pipeline", app.RunInput{PipelineID: domain.NewID(), Receptor: receptor.ID, Params: dockParams()}, "run.pipeline_id"},
			{"unknown receptor", app.RunInput{PipelineID: domain.BuiltinPipelineID, Receptor: domain.NewID(), Params: dockParams()}, "run.receptor"},
			{"box out of range", app.RunInput{PipelineID: domain.BuiltinPipelineID, Receptor: receptor.ID,
				Params: domain.VinaParamsPatch{Center: &[3]float64{0, 0, 0}, Size: &[3]float64{20, 200, 20}}}, "run.params.size[1]"},
		}
		for _, tc := range cases {
			_, err := env.Molecules.CreateUpload(ctx, u.Principal, app.NewUploadInput{Name: "l", Format: "pdbqt", SizeBytes: 10, Run: &tc.run})
			wantField(t, err, tc.field)
		}
	})
}

// When the run's job cannot be created (here: the org reached
// max_active_jobs between the upload and its ingest), Ingest should keep
// the molecule and record why no job was made. startRun reads
// res.Job.ID from the zero CreateJobResult instead, a nil dereference.
func TestIngestRecordsARunThatCannotStart(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	receptor := molecule(t, env, admin, "receptor", domain.FormatPDBQT, testdata(t, "1iep_receptor.pdbqt"))
	content := testdata(t, "1iep_ligand.pdbqt")
	run := &app.RunInput{PipelineID: domain.BuiltinPipelineID, Receptor: receptor.ID, Params: dockParams()}
	up, key := upload(t, env, admin, "ligand", domain.FormatPDBQT, content, run)
	env.SetQuotas(t, org.ID, ptr(0), nil)

	var got domain.Upload
	var err error
	noPanic(t, "Ingest of an upload whose run hits QUOTA_EXCEEDED", func() {
		got, err = env.Molecules.Ingest(ctx, key, int64(len(content)))
	})
	if t.Failed() {
		return
	}
	ok(t, err)
	if got.Status != domain.UploadCompleted || got.MoleculeID == "" || got.JobID != "" || !strings.Contains(got.Error, string(domain.CodeQuotaExceeded)) {
		t.Fatalf("upload %+v, want completed with its molecule, no job and an error naming the quota", got)
	}
	status, err := env.Molecules.GetUpload(ctx, admin.Principal, up.ID)
	ok(t, err)
	if status.Error != got.Error {
		t.Fatalf("stored upload %+v", status)
	}
}

func TestCreateUploadLimits(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	cases := []struct {
		name  string
		in    app.NewUploadInput
		code  domain.Code
		field string
	}{
		{"over 100 MiB", app.NewUploadInput{Name: "x", Format: "sdf", SizeBytes: domain.MaxUploadMoleculeBytes + 1}, domain.CodePayloadTooLarge, ""},
		{"zero bytes", app.NewUploadInput{Name: "x", Format: "sdf", SizeBytes: 0}, domain.CodeValidation, "size_bytes"},
		{"negative size", app.NewUploadInput{Name: "x", Format: "sdf", SizeBytes: -1}, domain.CodeValidation, "size_bytes"},
		{"path as name", app.NewUploadInput{Name: "a/../../b", Format: "sdf", SizeBytes: 10}, domain.CodeValidation, "name"},
		{"pdb ligand with run", app.NewUploadInput{Name: "x", Format: "pdb", SizeBytes: 10,
			Run: &app.RunInput{PipelineID: domain.BuiltinPipelineID, Receptor: domain.NewID(), Params: dockParams()}}, domain.CodeValidation, "format"},
	}
	for _, tc := range cases {
		_, err := env.Molecules.CreateUpload(ctx, admin.Principal, tc.in)
		if tc.field != "" {
			wantField(t, err, tc.field)
		} else {
			wantCode(t, err, tc.code)
		}
	}
	nothingWritten(t, env, org.ID)
	cu, err := env.Molecules.CreateUpload(ctx, admin.Principal, app.NewUploadInput{Name: "x", Format: "sdf", SizeBytes: domain.MaxUploadMoleculeBytes})
	ok(t, err)
	if !strings.HasSuffix(strings.SplitN(cu.Request.URL, "?", 2)[0], domain.UploadKey(org.ID, cu.Upload.ID)) {
		t.Fatalf("presigned URL %s does not name the upload key", cu.Request.URL)
	}
}

func TestConcurrentIngestRegistersOneMolecule(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	receptor := molecule(t, env, admin, "receptor", domain.FormatPDBQT, testdata(t, "1iep_receptor.pdbqt"))
	content := testdata(t, "1iep_ligand.pdbqt")
	run := &app.RunInput{PipelineID: domain.BuiltinPipelineID, Receptor: receptor.ID, Params: dockParams()}
	_, key := upload(t, env, admin, "ligand", domain.FormatPDBQT, content, run)

	ups := make([]domain.Upload, 4)
	errs := parallel(4, func(i int) error {
		var err error
		ups[i], err = env.Molecules.Ingest(ctx, key, int64(len(content)))
		return err
	})
	for i, err := range errs {
		ok(t, err)
		if ups[i].MoleculeID != ups[0].MoleculeID || ups[i].Status != domain.UploadCompleted {
			t.Fatalf("delivery %d: %+v, delivery 0: %+v", i, ups[i], ups[0])
		}
	}
	if n := count(t, env, org.ID, `SELECT count(*) FROM molecules WHERE id <> $1`, receptor.ID); n != 1 {
		t.Fatalf("%d ligand molecules from 4 concurrent deliveries", n)
	}
	if n := count(t, env, org.ID, `SELECT count(*) FROM jobs`); n != 1 {
		t.Fatalf("%d jobs from 4 concurrent deliveries", n)
	}
}

func TestStorageQuotaUnderConcurrentUploads(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	content := testdata(t, "1iep_ligand.pdbqt")
	env.SetQuotas(t, org.ID, nil, ptr(3*int64(len(content))))
	errs := parallel(10, func(i int) error {
		_, err := env.Molecules.CreateMolecule(ctx, admin.Principal, app.NewMoleculeInput{Name: "copy", Format: "pdbqt", Content: content})
		return err
	})
	stored := 0
	for _, err := range errs {
		if domain.ErrorCode(err) == domain.CodeQuotaExceeded {
			continue
		}
		ok(t, err)
		stored++
	}
	if stored != 3 {
		t.Fatalf("%d of 10 concurrent uploads stored under a quota of 3", stored)
	}
	if n := count(t, env, org.ID, `SELECT count(*) FROM molecules`); n != 3 {
		t.Fatalf("%d molecule rows", n)
	}
	if keys := testenv.ObjectKeys(t, env.AWS.Buckets.Artifacts, org.ID+"/"); len(keys) != 3 {
		t.Fatalf("%d objects stored: %v", len(keys), keys)
	}
}
