package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// Fixed ids of the sample events (events/README.md).
const (
	sampleOrg      = "0193d2a0-0000-7000-8000-000000000001"
	sampleLigand   = "0193d2a0-0000-7000-8000-000000000006"
	sampleReceptor = "0193d2a0-0000-7000-8000-000000000007"
	sampleUpload   = "0193d2a0-0000-7000-8000-000000000008"
)

type fixture struct {
	env      *apptest.Env
	mux      *apigw.Mux
	org      domain.Org
	admin    apptest.Member
	standard apptest.Member
	viewer   apptest.Member
	stranger apptest.Member // a standard user of another org
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := apptest.New(t, apptest.Options{})
	mux := apitest.RequireMux(t, newMux(handler{molecules: env.Molecules}, apigw.NewMux(routes.FnMolecules, apptest.Quiet)))
	org, admin := env.NewOrg(t)
	_, otherAdmin := env.NewOrg(t)
	return &fixture{env: env, mux: mux, org: org, admin: admin,
		standard: env.NewUser(t, admin, domain.RoleStandard), viewer: env.NewUser(t, admin, domain.RoleViewer),
		stranger: env.NewUser(t, otherAdmin, domain.RoleStandard)}
}

// molecule stores a molecule through the use case, for setup.
func (f *fixture) molecule(t *testing.T, m apptest.Member, name, format string, content []byte) domain.Molecule {
	t.Helper()
	mol, err := f.env.Molecules.CreateMolecule(context.Background(), m.Principal, app.NewMoleculeInput{Name: name, Format: format, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return mol
}

type moleculeOutJSON struct {
	MoleculeID string `json:"molecule_id"`
	Name       string `json:"name"`
	Format     string `json:"format"`
	SizeBytes  int64  `json:"size_bytes"`
	SHA256     string `json:"sha256"`
	URI        string `json:"uri"`
	CreatedBy  string `json:"created_by"`
	CreatedAt  string `json:"created_at"`
}

type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// requireMolecule checks a created molecule against its content and that
// its object is stored under the org's prefix.
func (f *fixture) requireMolecule(t *testing.T, m moleculeOutJSON, name, format string, content []byte, by string) {
	t.Helper()
	sum := sha256.Sum256(content)
	if !domain.IsID(m.MoleculeID) || m.Name != name || m.Format != format || m.SizeBytes != int64(len(content)) ||
		m.SHA256 != hex.EncodeToString(sum[:]) || m.CreatedBy != by ||
		m.URI != "mad://org/"+f.org.ID+"/molecules/"+m.MoleculeID+"."+format {
		t.Fatalf("molecule %+v", m)
	}
	if _, err := time.Parse(time.RFC3339, m.CreatedAt); err != nil {
		t.Fatalf("created_at %q", m.CreatedAt)
	}
	key := f.org.ID + "/molecules/" + m.MoleculeID + "." + format
	got, err := f.env.AWS.Objects.GetObject(context.Background(), key, 10<<20)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("object %s: %d bytes, %v", key, len(got), err)
	}
}

func TestCreateMoleculeJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var sample struct{ Name, Format, Content string }
	ev := apitest.APIEvent(t, "apigw/molecules/create-molecule-json.json", &f.standard.Principal)
	apitest.DecodeStrict(t, []byte(ev.Body), &sample)
	m := apitest.DecodeResp[moleculeOutJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	f.requireMolecule(t, m, "imatinib", "smi", []byte(sample.Content), f.standard.UserID)

	receptor := apitest.Testdata(t, "1iep/1iep_receptor.pdbqt")
	apitest.SetJSON(t, &ev, map[string]string{"name": "1iep receptor", "format": "pdbqt", "content": string(receptor)})
	m = apitest.DecodeResp[moleculeOutJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	f.requireMolecule(t, m, "1iep receptor", "pdbqt", receptor, f.standard.UserID)

	for _, tc := range []struct {
		body   any
		status int
		code   domain.Code
		fields []string
	}{
		{map[string]string{"name": "x", "format": "pdb", "content": "this is not a PDB file"}, 400, domain.CodeValidation, []string{"content"}},
		{map[string]string{"name": "x", "format": "png", "content": "CCO"}, 400, domain.CodeValidation, []string{"format"}},
		{map[string]string{"name": "", "format": "smi", "content": "CCO"}, 400, domain.CodeValidation, []string{"name"}},
		{map[string]string{"name": "x", "format": "smi", "content": ""}, 400, domain.CodeValidation, []string{"content"}},
		{map[string]string{"name": "x", "format": "smi", "content": "CCO", "org_id": f.stranger.OrgID}, 400, domain.CodeValidation, []string{"org_id"}},
		{map[string]any{"name": "x", "format": "smi", "content": 42}, 400, domain.CodeValidation, []string{"content"}},
		// Over 5 MiB of content inside an accepted body, and a body over the route's limit.
		{map[string]string{"name": "x", "format": "smi", "content": strings.Repeat("C", 6<<20)}, 413, domain.CodePayloadTooLarge, nil},
		{map[string]string{"name": "x", "format": "smi", "content": strings.Repeat("C", 9<<20)}, 413, domain.CodePayloadTooLarge, nil},
	} {
		apitest.SetJSON(t, &ev, tc.body)
		apitest.RequireError(t, apitest.Serve(t, f.mux, ev), tc.status, tc.code, tc.fields...)
	}
	ev.Headers["content-type"] = "text/plain"
	apitest.SetBody(&ev, "CCO")
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "Content-Type")

	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/molecules/create-molecule-json.json", &f.viewer.Principal)), http.StatusForbidden, domain.CodeForbidden)
}

// multipartEvent puts a multipart/form-data body into ev the way API
// Gateway delivers it: base64-encoded, with the client's boundary.
func multipartEvent(t *testing.T, ev *events.APIGatewayV2HTTPRequest, parts [][3]string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts { // name, filename, value
		var pw io.Writer
		var err error
		if p[1] != "" {
			pw, err = w.CreateFormFile(p[0], p[1])
		} else {
			pw, err = w.CreateFormField(p[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(pw, p[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(buf.Bytes()), true
	ev.Headers["content-type"] = w.FormDataContentType()
	ev.Headers["content-length"] = strconv.Itoa(buf.Len())
}

func TestCreateMoleculeMultipart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	// The sample as generated.
	ev := apitest.APIEvent(t, "apigw/molecules/create-molecule-multipart.json", &f.standard.Principal)
	m := apitest.DecodeResp[moleculeOutJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	if m.Name != "imatinib" || m.Format != "smi" {
		t.Fatalf("molecule %+v", m)
	}

	// A real SDF file, as a browser form or curl -F sends it.
	sdf := apitest.Testdata(t, "1iep/1iep_ligand.sdf")
	multipartEvent(t, &ev, [][3]string{{"name", "", "1iep ligand"}, {"format", "", "sdf"}, {"file", "1iep_ligand.sdf", string(sdf)}})
	m = apitest.DecodeResp[moleculeOutJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	f.requireMolecule(t, m, "1iep ligand", "sdf", sdf, f.standard.UserID)

	for _, tc := range []struct {
		parts  [][3]string
		status int
		code   domain.Code
		field  string
	}{
		{[][3]string{{"name", "", "x"}, {"format", "", "sdf"}}, 400, domain.CodeValidation, "file"},
		{[][3]string{{"name", "", "x"}, {"format", "", "sdf"}, {"file", "a.sdf", "not an sdf"}}, 400, domain.CodeValidation, "content"},
		{[][3]string{{"name", "", "x"}, {"name", "", "y"}, {"format", "", "smi"}, {"file", "a.smi", "CCO"}}, 400, domain.CodeValidation, "name"},
		{[][3]string{{"name", "", "x"}, {"format", "", "smi"}, {"org_id", "", f.stranger.OrgID}, {"file", "a.smi", "CCO"}}, 400, domain.CodeValidation, "org_id"},
		{[][3]string{{"name", "", "x"}, {"format", "", "smi"}, {"file", "a.smi", strings.Repeat("C", 5<<20+1)}}, 413, domain.CodePayloadTooLarge, ""},
	} {
		multipartEvent(t, &ev, tc.parts)
		if tc.field != "" {
			apitest.RequireError(t, apitest.Serve(t, f.mux, ev), tc.status, tc.code, tc.field)
		} else {
			apitest.RequireError(t, apitest.Serve(t, f.mux, ev), tc.status, tc.code)
		}
	}
	// Without a boundary, or a body that is not multipart at all.
	multipartEvent(t, &ev, [][3]string{{"file", "a.smi", "CCO"}})
	ev.Headers["content-type"] = "multipart/form-data"
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "Content-Type")
	ev.Headers["content-type"] = "multipart/form-data; boundary=nothere"
	apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, "file")
}

func TestListMolecules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.molecule(t, f.standard, "ethanol", "smi", []byte("CCO ethanol\n"))
	b := f.molecule(t, f.admin, "methanol", "smi", []byte("CO methanol\n"))
	theirs := f.molecule(t, f.stranger, "propanol", "smi", []byte("CCCO propanol\n"))

	ev := apitest.APIEvent(t, "apigw/molecules/list-molecules.json", &f.viewer.Principal)
	l := apitest.DecodeResp[list[moleculeOutJSON]](t, apitest.Serve(t, f.mux, ev), http.StatusOK)
	ids := []string{}
	for _, m := range l.Items {
		ids = append(ids, m.MoleculeID)
	}
	// All members see all of the org's molecules, newest first, and nothing else.
	if !slices.Equal(ids, []string{b.ID, a.ID}) || l.NextCursor != nil {
		t.Fatalf("listed %v (cursor %v), want [%s %s]", ids, l.NextCursor, b.ID, a.ID)
	}
	apitest.SetQuery(&ev, map[string]string{"limit": "1"})
	l = apitest.DecodeResp[list[moleculeOutJSON]](t, apitest.Serve(t, f.mux, ev), http.StatusOK)
	if len(l.Items) != 1 || l.Items[0].MoleculeID != b.ID || l.NextCursor == nil {
		t.Fatalf("first page %+v", l)
	}
	apitest.SetQuery(&ev, map[string]string{"limit": "1", "cursor": *l.NextCursor})
	l = apitest.DecodeResp[list[moleculeOutJSON]](t, apitest.Serve(t, f.mux, ev), http.StatusOK)
	if len(l.Items) != 1 || l.Items[0].MoleculeID != a.ID || l.NextCursor != nil {
		t.Fatalf("second page %+v", l)
	}
	for _, q := range []map[string]string{{"limit": "0"}, {"limit": "201"}, {"limit": "1e3"}, {"cursor": "garbage"}, {"cursor": "djE6" + theirs.ID}} {
		apitest.SetQuery(&ev, q)
		field := "limit"
		if q["cursor"] != "" {
			field = "cursor"
		}
		apitest.RequireError(t, apitest.Serve(t, f.mux, ev), http.StatusBadRequest, domain.CodeValidation, field)
	}
}

func TestMoleculeByID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	content := []byte("CCO ethanol\n")
	mol := f.molecule(t, f.standard, "ethanol", "smi", content)
	for _, file := range []string{"get-molecule", "download-molecule", "delete-molecule"} {
		rel := "apigw/molecules/" + file + ".json"
		// Another org's molecule is reported exactly like a missing one.
		apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, rel, &f.stranger.Principal, sampleLigand, mol.ID)), http.StatusNotFound, domain.CodeMoleculeNotFound)
		apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, rel, &f.standard.Principal, sampleLigand, domain.NewID())), http.StatusNotFound, domain.CodeMoleculeNotFound)
		apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, rel, &f.standard.Principal, sampleLigand, "ethanol")), http.StatusBadRequest, domain.CodeValidation, "molecule_id")
	}

	m := apitest.DecodeResp[moleculeOutJSON](t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/molecules/get-molecule.json", &f.viewer.Principal, sampleLigand, mol.ID)), http.StatusOK)
	f.requireMolecule(t, m, "ethanol", "smi", content, f.standard.UserID)

	type download struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	d := apitest.DecodeResp[download](t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/molecules/download-molecule.json", &f.viewer.Principal, sampleLigand, mol.ID)), http.StatusOK)
	exp, err := time.Parse(time.RFC3339, d.ExpiresAt)
	// Presigning reads the wall clock, not the test's.
	if err != nil || exp.After(time.Now().Add(15*time.Minute+time.Second)) || !exp.After(time.Now()) {
		t.Fatalf("expires_at %q: at most 15 minutes", d.ExpiresAt)
	}
	// The presigned GET serves the molecule (moto does not check signatures).
	resp, err := http.Get(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("GET %s = %d %q", d.URL, resp.StatusCode, got)
	}

	del := "apigw/molecules/delete-molecule.json"
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, del, &f.viewer.Principal, sampleLigand, mol.ID)), http.StatusForbidden, domain.CodeForbidden)
	other := f.env.NewUser(t, f.admin, domain.RoleStandard) // may delete only their own
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, del, &other.Principal, sampleLigand, mol.ID)), http.StatusForbidden, domain.CodeForbidden)
	if r := apitest.Serve(t, f.mux, apitest.APIEvent(t, del, &f.standard.Principal, sampleLigand, mol.ID)); r.StatusCode != http.StatusNoContent || r.Body != "" {
		t.Fatalf("delete = %d %s", r.StatusCode, r.Body)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, del, &f.standard.Principal, sampleLigand, mol.ID)), http.StatusNotFound, domain.CodeMoleculeNotFound)
	if keys := testenv.ObjectKeys(t, f.env.AWS.Buckets.Artifacts, f.org.ID+"/molecules/"+mol.ID); len(keys) != 0 {
		t.Fatalf("object left after delete: %v", keys)
	}
	// An operator may delete anyone's.
	mol = f.molecule(t, f.standard, "ethanol", "smi", content)
	op := f.env.NewUser(t, f.admin, domain.RoleOperator)
	if r := apitest.Serve(t, f.mux, apitest.APIEvent(t, del, &op.Principal, sampleLigand, mol.ID)); r.StatusCode != http.StatusNoContent {
		t.Fatalf("operator delete = %d %s", r.StatusCode, r.Body)
	}
}

type uploadCreatedJSON struct {
	UploadID  string            `json:"upload_id"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expires_at"`
}

type uploadJSONOut struct {
	UploadID   string `json:"upload_id"`
	Status     string `json:"status"`
	MoleculeID string `json:"molecule_id"`
	JobID      string `json:"job_id"`
	Error      string `json:"error"`
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func TestUploads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	receptor := f.molecule(t, f.standard, "1iep receptor", "pdbqt", apitest.Testdata(t, "1iep/1iep_receptor.pdbqt"))
	ligand := apitest.Testdata(t, "1iep/1iep_ligand.sdf")

	ev := apitest.APIEvent(t, "apigw/molecules/create-upload.json", &f.standard.Principal, sampleReceptor, receptor.ID)
	up := apitest.DecodeResp[uploadCreatedJSON](t, apitest.Serve(t, f.mux, ev), http.StatusCreated)
	if !domain.IsID(up.UploadID) || up.Method != http.MethodPut || !strings.Contains(up.URL, f.org.ID+"/uploads/"+up.UploadID) ||
		header(up.Headers, "x-amz-server-side-encryption") != "aws:kms" ||
		header(up.Headers, "x-amz-server-side-encryption-aws-kms-key-id") != f.env.AWS.KMSKeyARN ||
		header(up.Headers, "content-length") != strconv.Itoa(len(ligand)) {
		t.Fatalf("upload %+v", up)
	}
	if exp, err := time.Parse(time.RFC3339, up.ExpiresAt); err != nil || exp.After(time.Now().Add(15*time.Minute+time.Second)) {
		t.Fatalf("expires_at %q", up.ExpiresAt)
	}

	// The client sends the file with exactly the listed headers.
	apitest.PutUpload(t, up.Method, up.URL, up.Headers, ligand)
	if keys := testenv.ObjectKeys(t, f.env.AWS.Buckets.Uploads, f.org.ID+"/uploads/"); !slices.Equal(keys, []string{f.org.ID + "/uploads/" + up.UploadID}) {
		t.Fatalf("uploads bucket holds %v", keys)
	}

	get := apitest.APIEvent(t, "apigw/molecules/get-upload.json", &f.viewer.Principal, sampleUpload, up.UploadID)
	st := apitest.DecodeResp[uploadJSONOut](t, apitest.Serve(t, f.mux, get), http.StatusOK)
	if st.UploadID != up.UploadID || st.Status != "pending" || st.MoleculeID != "" || st.JobID != "" {
		t.Fatalf("upload status %+v", st)
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/molecules/get-upload.json", &f.stranger.Principal, sampleUpload, up.UploadID)), http.StatusNotFound, domain.CodeUploadNotFound)
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/molecules/get-upload.json", &f.standard.Principal, sampleUpload, "latest")), http.StatusBadRequest, domain.CodeValidation, "upload_id")

	theirs := f.molecule(t, f.stranger, "their receptor", "pdbqt", apitest.Testdata(t, "1iep/1iep_receptor.pdbqt"))
	box := map[string]any{"center": []float64{15.19, 53.903, 16.917}, "size": []float64{20, 20, 20}}
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   domain.Code
		field  string
	}{
		{map[string]any{"name": "x", "format": "sdf", "size_bytes": 0}, 400, domain.CodeValidation, "size_bytes"},
		{map[string]any{"name": "x", "format": "sdf", "size_bytes": 200 << 20}, 413, domain.CodePayloadTooLarge, ""},
		{map[string]any{"name": "x", "format": "exe", "size_bytes": 10}, 400, domain.CodeValidation, "format"},
		{map[string]any{"name": "x", "format": "sdf", "size_bytes": 10, "status": "completed"}, 400, domain.CodeValidation, "status"},
		{map[string]any{"name": "x", "format": "sdf", "size_bytes": 10, "run": map[string]any{"receptor": theirs.ID, "params": box}}, 400, domain.CodeValidation, "run.receptor"},
		{map[string]any{"name": "x", "format": "pdb", "size_bytes": 10, "run": map[string]any{"receptor": receptor.ID, "params": box}}, 400, domain.CodeValidation, "format"},
		{map[string]any{"name": "x", "format": "sdf", "size_bytes": 10, "run": map[string]any{"pipeline_id": "vina", "receptor": receptor.ID, "params": box}}, 400, domain.CodeValidation, "run.pipeline_id"},
	} {
		apitest.SetJSON(t, &ev, tc.body)
		if tc.field != "" {
			apitest.RequireError(t, apitest.Serve(t, f.mux, ev), tc.status, tc.code, tc.field)
		} else {
			apitest.RequireError(t, apitest.Serve(t, f.mux, ev), tc.status, tc.code)
		}
	}
	apitest.RequireError(t, apitest.Serve(t, f.mux, apitest.APIEvent(t, "apigw/molecules/create-upload.json", &f.viewer.Principal, sampleReceptor, receptor.ID)), http.StatusForbidden, domain.CodeForbidden)
}
