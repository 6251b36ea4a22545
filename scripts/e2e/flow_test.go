package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
)

// builtinPipeline is the id of the built-in vina-docking pipeline.
const builtinPipeline = "00000000-0000-7000-8000-000000000001"

// The Vina example box for 1iep.
var box = map[string]any{"center": []float64{15.190, 53.903, 16.917}, "size": []float64{20, 20, 20},
	"exhaustiveness": 1, "num_modes": 3, "seed": 42}

// tenant is one org of the run with its members' clients.
type tenant struct {
	OrgID, AdminEmail                                string
	Admin, Operator, Standard, Viewer, Service, Root *Client
	UserIDs                                          map[string]string // role -> user id
	ServiceID                                        string
	Receptor, Ligand, ReceptorPDB, LigandSDF         molecule
	Pipeline                                         string // an org pipeline
	Job                                              string // a completed docking job
	Upload                                           string
}

type molecule struct {
	ID, URI, SHA256 string
	Size            int64
}

// fixtures is what the flow builds and later steps (the authorization
// matrix among them) use.
var fixtures struct {
	stack *stacktest.Stack
	root  *Client // root without org
	orgs  [2]*tenant
}

func dataFile(t *testing.T, name string) []byte {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "shared", "testdata", "1iep", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// login returns a client logged in with email/password (and org_id).
func login(t *testing.T, c *Client, email, password, orgID string) *Client {
	t.Helper()
	body := map[string]string{"email": email, "password": password}
	if orgID != "" {
		body["org_id"] = orgID
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	c.WithToken("").Do("POST", "/api/v1/auth/token", body, &tok).Status(200)
	n := c.WithToken(tok.AccessToken)
	n.RefreshToken = tok.RefreshToken
	return n
}

const userPassword = "correct horse battery staple"

// stepOrgs creates two orgs as root, each with users of every role and a
// service account.
func stepOrgs(t *testing.T, c *Client) {
	email, password := rootCreds()
	fixtures.root = login(t, c, email, password, "")
	for i := range fixtures.orgs {
		tn := &tenant{UserIDs: map[string]string{}}
		tn.AdminEmail = uniq("admin") + "@lab.example"
		var org struct {
			OrgID       string `json:"org_id"`
			Status      string `json:"status"`
			AdminUserID string `json:"admin_user_id"`
		}
		fixtures.root.Do("POST", "/api/v1/orgs", map[string]string{"name": uniq("Lab"), "admin_email": tn.AdminEmail,
			"admin_password": userPassword}, &org).Status(201)
		if org.Status != "active" || org.OrgID == "" {
			t.Fatalf("org %+v", org)
		}
		tn.OrgID, tn.UserIDs["admin"] = org.OrgID, org.AdminUserID
		tn.Admin = login(t, c, tn.AdminEmail, userPassword, "")
		for _, role := range []string{"operator", "standard", "viewer"} {
			em := uniq(role) + "@lab.example"
			var u struct {
				UserID string `json:"user_id"`
			}
			tn.Admin.Do("POST", "/api/v1/users", map[string]any{"email": em, "password": userPassword, "roles": []string{role}}, &u).Status(201)
			tn.UserIDs[role] = u.UserID
			cl := login(t, c, em, userPassword, "")
			switch role {
			case "operator":
				tn.Operator = cl
			case "standard":
				tn.Standard = cl
			case "viewer":
				tn.Viewer = cl
			}
		}
		var sa struct {
			ServiceAccountID string `json:"service_account_id"`
			ClientID         string `json:"client_id"`
			ClientSecret     string `json:"client_secret"`
		}
		tn.Admin.Do("POST", "/api/v1/service-accounts", map[string]any{"name": "lab robot", "roles": []string{"standard"}}, &sa).Status(201)
		tn.ServiceID = sa.ServiceAccountID
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		c.WithToken("").Do("POST", "/api/v1/auth/token", map[string]string{"client_id": sa.ClientID, "client_secret": sa.ClientSecret}, &tok).Status(200)
		if tok.RefreshToken != "" {
			t.Errorf("client credentials returned a refresh token")
		}
		tn.Service = c.WithToken(tok.AccessToken)
		tn.Root = login(t, c, email, password, tn.OrgID)
		fixtures.orgs[i] = tn
	}
	// The root sees both orgs; an admin cannot list orgs.
	var list struct {
		Items []struct {
			OrgID string `json:"org_id"`
		} `json:"items"`
	}
	fixtures.root.Do("GET", "/api/v1/orgs?limit=200", nil, &list).Status(200)
	seen := 0
	for _, o := range list.Items {
		if o.OrgID == fixtures.orgs[0].OrgID || o.OrgID == fixtures.orgs[1].OrgID {
			seen++
		}
	}
	if seen != 2 {
		t.Fatalf("root's org list misses the new orgs: %+v", list)
	}
	fixtures.orgs[0].Admin.Do("GET", "/api/v1/orgs", nil, nil).Error(403, "FORBIDDEN")
	// /me of a root without org has no org_id.
	var me struct {
		OrgID *string  `json:"org_id"`
		Roles []string `json:"roles"`
	}
	fixtures.root.Do("GET", "/api/v1/me", nil, &me).Status(200)
	if me.OrgID != nil || len(me.Roles) != 1 || me.Roles[0] != "root" {
		t.Fatalf("root /me %+v", me)
	}
	// A root without org cannot use org routes.
	fixtures.root.Do("GET", "/api/v1/jobs", nil, nil).Error(403, "ORG_FORBIDDEN")
}

// uploadJSON stores a molecule through the JSON form.
func uploadJSON(t *testing.T, c *Client, name, format string, content []byte) molecule {
	t.Helper()
	var m struct {
		MoleculeID string `json:"molecule_id"`
		URI        string `json:"uri"`
		SHA256     string `json:"sha256"`
		SizeBytes  int64  `json:"size_bytes"`
	}
	c.Do("POST", "/api/v1/molecules", map[string]string{"name": name, "format": format, "content": string(content)}, &m).Status(201)
	if m.SHA256 != sha(content) || m.SizeBytes != int64(len(content)) {
		t.Fatalf("molecule %s: sha %s size %d, want %s %d", name, m.SHA256, m.SizeBytes, sha(content), len(content))
	}
	return molecule{ID: m.MoleculeID, URI: m.URI, SHA256: m.SHA256, Size: m.SizeBytes}
}

// uploadMultipart stores a molecule through multipart/form-data.
func uploadMultipart(t *testing.T, c *Client, name, format string, content []byte) molecule {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("name", name)
	_ = w.WriteField("format", format)
	fw, _ := w.CreateFormFile("file", name+"."+format)
	_, _ = fw.Write(content)
	_ = w.Close()
	var m struct {
		MoleculeID string `json:"molecule_id"`
		URI        string `json:"uri"`
		SHA256     string `json:"sha256"`
		SizeBytes  int64  `json:"size_bytes"`
	}
	c.Do("POST", "/api/v1/molecules", buf.Bytes(), &m, "Content-Type", w.FormDataContentType()).Status(201)
	if m.SHA256 != sha(content) {
		t.Fatalf("multipart molecule sha %s, want %s", m.SHA256, sha(content))
	}
	return molecule{ID: m.MoleculeID, URI: m.URI, SHA256: m.SHA256, Size: m.SizeBytes}
}

// stepMolecules uploads the 1iep files into both orgs (JSON and multipart)
// and checks listing, download and the refusals of bad input.
func stepMolecules(t *testing.T, c *Client) {
	rec, lig := dataFile(t, "1iep_receptor.pdbqt"), dataFile(t, "1iep_ligand.pdbqt")
	recPDB, ligSDF := dataFile(t, "1iep_receptorH.pdb"), dataFile(t, "1iep_ligand.sdf")
	for _, tn := range fixtures.orgs {
		tn.Receptor = uploadJSON(t, tn.Standard, "1iep receptor", "pdbqt", rec)
		tn.Ligand = uploadMultipart(t, tn.Standard, "imatinib", "pdbqt", lig)
		tn.ReceptorPDB = uploadMultipart(t, tn.Standard, "1iep receptor (PDB)", "pdb", recPDB)
		tn.LigandSDF = uploadJSON(t, tn.Standard, "imatinib (SDF)", "sdf", ligSDF)
	}
	a := fixtures.orgs[0]
	// Download returns the same bytes through a presigned GET.
	var d struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	a.Viewer.Do("GET", "/api/v1/molecules/"+a.Receptor.ID+"/download", nil, &d).Status(200)
	exp, err := time.Parse(time.RFC3339, d.ExpiresAt)
	if err != nil || time.Until(exp) > 15*time.Minute+5*time.Second {
		t.Errorf("download expires_at %q: at most 15 minutes", d.ExpiresAt)
	}
	if got := httpGet(t, d.URL); sha(got) != a.Receptor.SHA256 {
		t.Fatalf("downloaded receptor differs from the upload")
	}
	// Listing pages with a cursor.
	var page struct {
		Items []struct {
			MoleculeID string `json:"molecule_id"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	a.Viewer.Do("GET", "/api/v1/molecules?limit=3", nil, &page).Status(200)
	if len(page.Items) != 3 || page.NextCursor == nil {
		t.Fatalf("first page %+v", page)
	}
	first := page.Items[0].MoleculeID
	a.Viewer.Do("GET", "/api/v1/molecules?limit=3&cursor="+url.QueryEscape(*page.NextCursor), nil, &page).Status(200)
	if len(page.Items) != 1 || page.Items[0].MoleculeID == first || page.NextCursor != nil {
		t.Fatalf("second page %+v", page)
	}
	// Bad input: 4xx in the contract's shape, nothing stored.
	before := countMolecules(t, a.Viewer)
	a.Standard.Do("POST", "/api/v1/molecules", map[string]string{"name": "x", "format": "sdf", "content": string(rec)}, nil).Error(400, "VALIDATION_FAILED")
	a.Standard.Do("POST", "/api/v1/molecules", map[string]string{"name": "../../etc/passwd", "format": "pdbqt", "content": string(lig)}, nil).Error(400, "VALIDATION_FAILED")
	a.Standard.Do("POST", "/api/v1/molecules", map[string]string{"name": "a\x00b", "format": "pdbqt", "content": string(lig)}, nil).Error(400, "VALIDATION_FAILED")
	a.Standard.Do("POST", "/api/v1/molecules", map[string]string{"name": strings.Repeat("n", 10000), "format": "pdbqt", "content": string(lig)}, nil).Error(400, "VALIDATION_FAILED")
	a.Standard.Do("POST", "/api/v1/molecules", map[string]string{"name": "junk", "format": "pdb", "content": "\x7fELF\x01\x02\x03 binary junk"}, nil).Error(400, "VALIDATION_FAILED")
	a.Standard.Do("POST", "/api/v1/molecules", map[string]string{"name": "truncated", "format": "sdf", "content": string(ligSDF[:len(ligSDF)/2])}, nil).Error(400, "VALIDATION_FAILED")
	big := bytes.Repeat([]byte("REMARK padding line of a pdb file that is far too large for inline\n"), (5<<20)/67+1)
	big = big[:5<<20+1]
	resp := a.Standard.Do("POST", "/api/v1/molecules", map[string]string{"name": "big", "format": "pdb", "content": string(big)}, nil)
	resp.Error(413, "PAYLOAD_TOO_LARGE")
	a.Standard.Do("POST", "/api/v1/molecules", map[string]any{"name": "x", "format": "pdbqt", "content": string(lig), "org_id": fixtures.orgs[1].OrgID}, nil).Error(400, "VALIDATION_FAILED")
	if after := countMolecules(t, a.Viewer); after != before {
		t.Fatalf("refused uploads changed the molecule count %d -> %d", before, after)
	}
	// A viewer cannot upload; another org's molecule is a 404.
	a.Viewer.Do("POST", "/api/v1/molecules", map[string]string{"name": "x", "format": "pdbqt", "content": string(lig)}, nil).Error(403, "FORBIDDEN")
	a.Viewer.Do("GET", "/api/v1/molecules/"+fixtures.orgs[1].Receptor.ID, nil, nil).Error(404, "MOLECULE_NOT_FOUND")
}

func countMolecules(t *testing.T, c *Client) int {
	t.Helper()
	var page struct {
		Items []any `json:"items"`
	}
	c.Do("GET", "/api/v1/molecules?limit=200", nil, &page).Status(200)
	return len(page.Items)
}

func httpGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET presigned URL: %d %s", resp.StatusCode, b)
	}
	return b
}

type uploadTicket struct {
	UploadID  string            `json:"upload_id"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt string            `json:"expires_at"`
}

// curlPut sends file to a presigned URL with curl, exactly the headers the
// API returned.
func curlPut(t *testing.T, tk uploadTicket, content []byte) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(f, content, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-sS", "--fail-with-body", "-X", tk.Method, "--data-binary", "@" + f}
	for k, v := range tk.Headers {
		if strings.EqualFold(k, "Content-Length") {
			continue // curl sends the file's length itself
		}
		args = append(args, "-H", k+": "+v)
	}
	args = append(args, tk.URL)
	out, err := exec.Command("curl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl -X PUT presigned URL: %v\n%s", err, out)
	}
}

type uploadStatus struct {
	Status     string  `json:"status"`
	MoleculeID *string `json:"molecule_id"`
	JobID      *string `json:"job_id"`
	Error      *string `json:"error"`
}

func waitUpload(t *testing.T, c *Client, id string, done func(uploadStatus) bool) uploadStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st uploadStatus
		c.Do("GET", "/api/v1/molecules/uploads/"+id, nil, &st).Status(200)
		if st.Status != "pending" && done(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload %s still %+v after 60 s", id, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stepPresignedUpload: a client PUTs straight to S3 with curl, the upload
// event registers the molecule, and its download is the same bytes.
func stepPresignedUpload(t *testing.T, c *Client) {
	a := fixtures.orgs[0]
	content := dataFile(t, "1iep_ligand.sdf")
	var tk uploadTicket
	a.Service.Do("POST", "/api/v1/molecules/uploads", map[string]any{"name": "imatinib via S3", "format": "sdf",
		"size_bytes": len(content)}, &tk).Status(201)
	if tk.Method != "PUT" || tk.Headers["x-amz-server-side-encryption"] == "" && tk.Headers["X-Amz-Server-Side-Encryption"] == "" {
		t.Fatalf("upload ticket %+v: PUT with the SSE-KMS header expected", tk)
	}
	a.Upload = tk.UploadID
	curlPut(t, tk, content)
	st := waitUpload(t, a.Viewer, tk.UploadID, func(uploadStatus) bool { return true })
	if st.Status != "completed" || st.MoleculeID == nil {
		t.Fatalf("upload ended %+v", st)
	}
	var d struct {
		URL string `json:"url"`
	}
	a.Viewer.Do("GET", "/api/v1/molecules/"+*st.MoleculeID+"/download", nil, &d).Status(200)
	if sha(httpGet(t, d.URL)) != sha(content) {
		t.Fatalf("downloaded molecule differs from the presigned upload")
	}
	// Junk through the same path is rejected with a reason, no molecule.
	junk := []byte("this is not an SDF file\n")
	a.Standard.Do("POST", "/api/v1/molecules/uploads", map[string]any{"name": "junk", "format": "sdf", "size_bytes": len(junk)}, &tk).Status(201)
	curlPut(t, tk, junk)
	st = waitUpload(t, a.Viewer, tk.UploadID, func(uploadStatus) bool { return true })
	if st.Status != "rejected" || st.Error == nil || st.MoleculeID != nil {
		t.Fatalf("junk upload ended %+v", st)
	}
	// Org B gets a pending upload too (the authorization matrix reads it).
	fixtures.orgs[1].Standard.Do("POST", "/api/v1/molecules/uploads", map[string]any{"name": "pending", "format": "sdf", "size_bytes": 100}, &tk).Status(201)
	fixtures.orgs[1].Upload = tk.UploadID
	// Over 100 MiB is refused before any upload.
	a.Standard.Do("POST", "/api/v1/molecules/uploads", map[string]any{"name": "huge", "format": "pdb", "size_bytes": 100<<20 + 1}, nil).Error(413, "PAYLOAD_TOO_LARGE")
}

// job is the contract's job document.
type job struct {
	JobID    string  `json:"job_id"`
	Status   string  `json:"status"`
	Attempts int     `json:"attempts"`
	Error    *string `json:"error"`
	Cache    struct {
		Hit            bool   `json:"hit"`
		CanonicalJobID string `json:"canonical_job_id"`
	} `json:"cache"`
}

func createJob(t *testing.T, c *Client, pipeline, receptor, ligand string, params map[string]any, query string, headers ...string) (*Response, job) {
	t.Helper()
	var j job
	resp := c.Do("POST", "/api/v1/pipelines/"+pipeline+"/jobs"+query, map[string]any{
		"inputs": map[string]string{"receptor": receptor, "ligand": ligand}, "params": params}, &j, headers...)
	return resp, j
}

func waitJob(t *testing.T, c *Client, id string, timeout time.Duration) job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var j job
		c.Do("GET", "/api/v1/jobs/"+id, nil, &j).Status(200)
		switch j.Status {
		case "COMPLETED", "FAILED", "CANCELLED":
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", id, j.Status, timeout)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type results struct {
	Scores []struct {
		Pose     int     `json:"pose"`
		Affinity float64 `json:"affinity"`
		RMSDLB   float64 `json:"rmsd_lb"`
		RMSDUB   float64 `json:"rmsd_ub"`
	} `json:"scores"`
	Artifacts   map[string]string `json:"artifacts"`
	TaskResults []struct {
		TaskName      string         `json:"task_name"`
		ServiceName   string         `json:"service_name"`
		EngineVersion string         `json:"engine_version"`
		SchemaVersion string         `json:"schema_version"`
		ResultData    map[string]any `json:"result_data"`
	} `json:"task_results"`
}

// stepDocking runs the 1iep PDBQT pair in both orgs (the second org's
// run also proves the cache is per org) and the PDB + SDF pair converted
// by the engine.
func stepDocking(t *testing.T, c *Client) {
	a, b := fixtures.orgs[0], fixtures.orgs[1]
	start := time.Now()
	resp, ja := createJob(t, a.Standard, builtinPipeline, a.Receptor.ID, a.Ligand.URI, box, "")
	resp.Status(202)
	if ja.Status != "QUEUED" && ja.Status != "PENDING" || ja.Cache.Hit {
		t.Fatalf("new job %+v", ja)
	}
	resp, jb := createJob(t, b.Standard, builtinPipeline, b.Receptor.ID, b.Ligand.ID, box, "")
	resp.Status(202)
	if jb.Cache.Hit {
		t.Fatal("org B got a cache hit from org A's job")
	}
	// Results are a 409 until the job is completed.
	var st struct {
		Status string `json:"status"`
	}
	a.Viewer.Do("GET", "/api/v1/jobs/"+ja.JobID+"/status", nil, &st).Status(200)
	if st.Status != "COMPLETED" {
		a.Viewer.Do("GET", "/api/v1/jobs/"+ja.JobID+"/results", nil, nil).Error(409, "JOB_NOT_COMPLETED")
	}
	pdb := box
	resp, jc := createJob(t, a.Standard, builtinPipeline, a.ReceptorPDB.ID, a.LigandSDF.ID, pdb, "")
	resp.Status(202)
	for _, x := range []struct {
		c  *Client
		id string
	}{{a.Viewer, ja.JobID}, {b.Viewer, jb.JobID}, {a.Viewer, jc.JobID}} {
		j := waitJob(t, x.c, x.id, 5*time.Minute)
		if j.Status != "COMPLETED" {
			t.Fatalf("job %s ended %s: %v", x.id, j.Status, deref(j.Error))
		}
	}
	t.Logf("three docking jobs (two PDBQT pairs, one PDB+SDF pair) completed in %s", time.Since(start).Round(time.Millisecond))
	a.Job, b.Job = ja.JobID, jb.JobID
	for _, x := range []struct {
		c  *Client
		id string
	}{{a.Viewer, ja.JobID}, {a.Viewer, jc.JobID}} {
		var r results
		x.c.Do("GET", "/api/v1/jobs/"+x.id+"/results", nil, &r).Status(200)
		if len(r.Scores) == 0 || r.Scores[0].Pose != 1 {
			t.Fatalf("results %+v", r)
		}
		best := r.Scores[0].Affinity
		for i, s := range r.Scores {
			if s.Pose != i+1 || s.Affinity < best {
				t.Fatalf("scores not sorted by pose with pose 1 best: %+v", r.Scores)
			}
		}
		if x.id == ja.JobID && (best < -14.5 || best > -11.5) {
			t.Fatalf("1iep PDBQT pair pose 1 = %.3f kcal/mol, want between -14.5 and -11.5", best)
		}
		if best >= 0 {
			t.Fatalf("converted pair pose 1 = %.3f kcal/mol, want a binding (negative) affinity", best)
		}
		t.Logf("job %s: pose 1 %.3f kcal/mol, %d poses", x.id, best, len(r.Scores))
		for _, k := range []string{"poses_pdbqt", "poses_sdf", "log"} {
			if !strings.HasPrefix(r.Artifacts[k], "mad://org/"+a.OrgID+"/jobs/"+x.id+"/") {
				t.Fatalf("artifact %s = %q", k, r.Artifacts[k])
			}
		}
		if len(r.TaskResults) != 1 || r.TaskResults[0].TaskName != "dock" || r.TaskResults[0].ServiceName != "vina" ||
			r.TaskResults[0].SchemaVersion != "1" || r.TaskResults[0].EngineVersion == "" {
			t.Fatalf("task results %+v", r.TaskResults)
		}
	}
	// Events, in order.
	var evs []struct {
		Seq   int    `json:"seq"`
		Event string `json:"event"`
	}
	a.Viewer.Do("GET", "/api/v1/jobs/"+ja.JobID+"/events", nil, &evs).Status(200)
	var names []string
	for i, e := range evs {
		if e.Seq != i+1 {
			t.Fatalf("event seqs %+v", evs)
		}
		names = append(names, e.Event)
	}
	if got := strings.Join(names, ","); got != "CREATED,QUEUED,STARTED,TASK_COMPLETED,COMPLETED" {
		t.Fatalf("events %s", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// stepCache: the repeat of a finished request is a cache hit answered at
// once; use_cache=false runs again; Idempotency-Key replays.
func stepCache(t *testing.T, c *Client) {
	a := fixtures.orgs[0]
	start := time.Now()
	resp, j := createJob(t, a.Operator, builtinPipeline, a.Receptor.ID, a.Ligand.ID, box, "")
	took := time.Since(start)
	resp.Status(200)
	if j.Status != "COMPLETED" || !j.Cache.Hit || j.Cache.CanonicalJobID != a.Job {
		t.Fatalf("repeat %+v, want a cache hit on %s", j, a.Job)
	}
	t.Logf("cache hit answered in %s through the gateway", took.Round(time.Microsecond))
	var r results
	a.Viewer.Do("GET", "/api/v1/jobs/"+j.JobID+"/results", nil, &r).Status(200)
	if len(r.Scores) == 0 {
		t.Fatal("cache-hit job has no results")
	}
	// Idempotency-Key: same body, same answer; other body, 409.
	key := uniq("idem")
	r1, j1 := createJob(t, a.Standard, builtinPipeline, a.Receptor.ID, a.Ligand.ID, box, "", "Idempotency-Key", key)
	r2, j2 := createJob(t, a.Standard, builtinPipeline, a.Receptor.ID, a.Ligand.ID, box, "", "Idempotency-Key", key)
	if r1.Code != r2.Code || j1.JobID != j2.JobID {
		t.Fatalf("idempotent replay: %d %s vs %d %s", r1.Code, j1.JobID, r2.Code, j2.JobID)
	}
	other := map[string]any{"center": box["center"], "size": box["size"], "exhaustiveness": 2}
	resp, _ = createJob(t, a.Standard, builtinPipeline, a.Receptor.ID, a.Ligand.ID, other, "", "Idempotency-Key", key)
	resp.Error(409, "CONFLICT")
	// use_cache=false queues a new run; cancel it at once.
	resp, j = createJob(t, a.Standard, builtinPipeline, a.Receptor.ID, a.Ligand.ID, box, "?use_cache=false")
	resp.Status(202)
	var cancelled struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
	}
	a.Viewer.Do("POST", "/api/v1/jobs/"+j.JobID+"/cancel", nil, nil).Error(403, "FORBIDDEN")
	fixtures.orgs[1].Operator.Do("POST", "/api/v1/jobs/"+j.JobID+"/cancel", nil, nil).Error(404, "JOB_NOT_FOUND")
	a.Standard.Do("POST", "/api/v1/jobs/"+j.JobID+"/cancel", nil, &cancelled).Status(200)
	if cancelled.Status != "CANCELLED" {
		t.Fatalf("cancel %+v", cancelled)
	}
	a.Standard.Do("POST", "/api/v1/jobs/"+j.JobID+"/cancel", nil, nil).Error(409, "CONFLICT")
	end := waitJob(t, a.Viewer, j.JobID, time.Minute)
	if end.Status != "CANCELLED" {
		t.Fatalf("cancelled job ended %s", end.Status)
	}
	// Bad params: 400 naming the field; another org's molecule: 400 naming the input.
	bad := map[string]any{"center": box["center"], "size": []float64{500, 20, 20}}
	resp, _ = createJob(t, a.Standard, builtinPipeline, a.Receptor.ID, a.Ligand.ID, bad, "")
	if e := resp.Error(400, "VALIDATION_FAILED"); !strings.Contains(fmt.Sprint(e.Error.Details), "params.size[0]") {
		t.Fatalf("500 Angstrom box: %s", resp.Body)
	}
	resp, _ = createJob(t, a.Standard, builtinPipeline, fixtures.orgs[1].Receptor.ID, a.Ligand.ID, box, "")
	if e := resp.Error(400, "VALIDATION_FAILED"); !strings.Contains(fmt.Sprint(e.Error.Details), "inputs.receptor") {
		t.Fatalf("foreign receptor: %s", resp.Body)
	}
	resp, _ = createJob(t, a.Standard, builtinPipeline, a.LigandSDF.ID, a.Ligand.ID, box, "")
	if e := resp.Error(400, "VALIDATION_FAILED"); !strings.Contains(fmt.Sprint(e.Error.Details), "inputs.receptor") {
		t.Fatalf("SDF receptor: %s", resp.Body)
	}
}

// stepUploadWithRun: a presigned upload asking for a run ends with a job.
func stepUploadWithRun(t *testing.T, c *Client) {
	a := fixtures.orgs[0]
	content := dataFile(t, "1iep_ligand.pdbqt")
	var tk uploadTicket
	a.Service.Do("POST", "/api/v1/molecules/uploads", map[string]any{"name": "robot ligand", "format": "pdbqt",
		"size_bytes": len(content), "run": map[string]any{"pipeline_id": builtinPipeline, "receptor": a.Receptor.URI, "params": box}}, &tk).Status(201)
	curlPut(t, tk, content)
	st := waitUpload(t, a.Viewer, tk.UploadID, func(s uploadStatus) bool { return s.JobID != nil || s.Error != nil })
	if st.Status != "completed" || st.JobID == nil {
		t.Fatalf("upload with run ended %+v", st)
	}
	// Same receptor, same ligand bytes, same params: answered by the cache.
	j := waitJob(t, a.Viewer, *st.JobID, 5*time.Minute)
	if j.Status != "COMPLETED" {
		t.Fatalf("upload's job ended %+v", j)
	}
	t.Logf("upload %s -> molecule %s -> job %s (cache hit %v)", tk.UploadID, *st.MoleculeID, j.JobID, j.Cache.Hit)
}

// stepArtifacts: files and logs redirect to presigned GETs of the job's
// objects; artifact URIs of another org are not found.
func stepArtifacts(t *testing.T, c *Client) {
	a, b := fixtures.orgs[0], fixtures.orgs[1]
	resp := a.Viewer.Do("GET", "/api/v1/jobs/"+a.Job+"/files/poses.sdf", nil, nil)
	resp.Status(302)
	sdf := httpGet(t, resp.Header.Get("Location"))
	if bytes.Count(sdf, []byte("$$$$")) < 1 {
		t.Fatalf("poses.sdf has no record")
	}
	resp = a.Viewer.Do("GET", "/api/v1/jobs/"+a.Job+"/logs", nil, nil)
	resp.Status(302)
	if !bytes.Contains(httpGet(t, resp.Header.Get("Location")), []byte("mode |")) {
		t.Fatalf("vina.log has no results table")
	}
	var r results
	a.Viewer.Do("GET", "/api/v1/jobs/"+a.Job+"/results", nil, &r).Status(200)
	resp = a.Viewer.Do("GET", "/api/v1/artifacts/"+url.PathEscape(r.Artifacts["poses_pdbqt"]), nil, nil)
	resp.Status(302)
	if !bytes.Contains(httpGet(t, resp.Header.Get("Location")), []byte("REMARK VINA RESULT")) {
		t.Fatalf("poses.pdbqt is not vina output")
	}
	b.Viewer.Do("GET", "/api/v1/artifacts/"+url.PathEscape(r.Artifacts["poses_pdbqt"]), nil, nil).Error(404, "ARTIFACT_NOT_FOUND")
	a.Viewer.Do("GET", "/api/v1/jobs/"+a.Job+"/files/..%2F..%2Fetc%2Fpasswd", nil, nil).Error(404, "ARTIFACT_NOT_FOUND")
	b.Viewer.Do("GET", "/api/v1/jobs/"+a.Job+"/files/poses.sdf", nil, nil).Error(404, "JOB_NOT_FOUND")
	// Every access is audited.
	var audit struct {
		Items []struct {
			Action    string  `json:"action"`
			JobID     *string `json:"job_id"`
			RequestID string  `json:"request_id"`
		} `json:"items"`
	}
	a.Admin.Do("GET", "/api/v1/audit?action=artifact.accessed&limit=200", nil, &audit).Status(200)
	n := 0
	for _, e := range audit.Items {
		if e.JobID != nil && *e.JobID == a.Job {
			n++
			if e.RequestID == "" {
				t.Errorf("artifact.accessed without request_id")
			}
		}
	}
	if n < 3 {
		t.Fatalf("%d artifact.accessed entries for job %s, want >= 3", n, a.Job)
	}
}

// stepTokens: refresh rotation, reuse detection and logout through the
// gateway.
func stepTokens(t *testing.T, c *Client) {
	a := fixtures.orgs[0]
	s1 := login(t, c, a.AdminEmail, userPassword, "")
	s2 := login(t, c, a.AdminEmail, userPassword, "") // another login, another family
	var p1, p2 struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	c.WithToken("").Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": s1.RefreshToken}, &p1).Status(200)
	if p1.RefreshToken == s1.RefreshToken || p1.AccessToken == "" {
		t.Fatal("refresh did not rotate")
	}
	c.WithToken(p1.AccessToken).Do("GET", "/api/v1/me", nil, nil).Status(200)
	c.WithToken("").Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": p1.RefreshToken}, &p2).Status(200)
	// Reuse of the spent first token: refused, and the whole family dies.
	c.WithToken("").Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": s1.RefreshToken}, nil).Error(401, "AUTH_UNAUTHORIZED")
	c.WithToken("").Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": p2.RefreshToken}, nil).Error(401, "AUTH_UNAUTHORIZED")
	// The other login is untouched.
	var p3 struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	c.WithToken("").Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": s2.RefreshToken}, &p3).Status(200)
	// Logout revokes the access token and its refresh family at once.
	sess := c.WithToken(p3.AccessToken)
	sess.Do("POST", "/api/v1/auth/logout", map[string]string{"refresh_token": p3.RefreshToken}, nil).Status(204)
	sess.Do("GET", "/api/v1/me", nil, nil).Error(401, "AUTH_UNAUTHORIZED")
	c.WithToken("").Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": p3.RefreshToken}, nil).Error(401, "AUTH_UNAUTHORIZED")
	a.Admin.Do("GET", "/api/v1/me", nil, nil).Status(200)
	// Malformed tokens and bodies get the contract's errors, never 500.
	c.WithToken("not-a-jwt").Do("GET", "/api/v1/me", nil, nil).Error(401, "AUTH_UNAUTHORIZED")
	c.WithToken(strings.Repeat("a", 20000)).Do("GET", "/api/v1/me", nil, nil).Error(401, "AUTH_UNAUTHORIZED")
	c.WithToken("").Do("POST", "/api/v1/auth/token", []byte(`{"email":`), nil, "Content-Type", "application/json").Error(400, "VALIDATION_FAILED")
	c.WithToken("").Do("POST", "/api/v1/auth/token", map[string]any{"email": a.AdminEmail, "password": userPassword, "roles": []string{"root"}}, nil).Error(400, "VALIDATION_FAILED")
	a.Admin.Do("GET", "/api/v1/users/not-a-uuid", nil, nil).Error(400, "VALIDATION_FAILED")
	a.Admin.Do("GET", "/api/v1/users?limit=100000", nil, nil).Error(400, "VALIDATION_FAILED")
	// Suspending an org stops its tokens and logins; reactivating restores logins.
	b := fixtures.orgs[1]
	fixtures.root.Do("PATCH", "/api/v1/orgs/"+b.OrgID, map[string]string{"status": "suspended"}, nil).Status(200)
	b.Viewer.Do("GET", "/api/v1/jobs", nil, nil).Error(403, "ORG_FORBIDDEN")
	c.WithToken("").Do("POST", "/api/v1/auth/token", map[string]string{"email": b.AdminEmail, "password": userPassword}, nil).Error(401, "AUTH_INVALID_CREDENTIALS")
	fixtures.root.Do("PATCH", "/api/v1/orgs/"+b.OrgID, map[string]string{"status": "active"}, nil).Status(200)
	b.Viewer.Do("GET", "/api/v1/jobs", nil, nil).Status(200)
}

// stepEncryption lists every object in the stack's buckets through the S3
// API: each reports SSE-KMS with the stack's key.
func stepEncryption(t *testing.T, c *Client) {
	st := fixtures.stack
	if st == nil {
		t.Skip("no runtime information about the stack (set MAD_LOCAL_STATE_DIR when using MAD_E2E_URL)")
	}
	ctx := context.Background()
	s3c := s3.NewFromConfig(awsConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	total := 0
	for _, bucket := range []string{st.FunctionEnv("molecules", "MAD_ARTIFACTS_BUCKET"), st.FunctionEnv("molecules", "MAD_UPLOADS_BUCKET")} {
		p := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("list %s: %v", bucket, err)
			}
			for _, o := range page.Contents {
				h, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: o.Key})
				if err != nil {
					t.Fatalf("head %s: %v", *o.Key, err)
				}
				if h.ServerSideEncryption != "aws:kms" || aws.ToString(h.SSEKMSKeyId) != st.Runtime.KeyARN {
					t.Errorf("%s/%s: SSE %q key %q, want aws:kms with %s", bucket, *o.Key, h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId), st.Runtime.KeyARN)
				}
				total++
			}
		}
	}
	if total < 10 {
		t.Fatalf("only %d objects found; the run stores molecules and job artifacts", total)
	}
	t.Logf("%d objects, every one SSE-KMS with the stack key", total)
}

// stepKeyRotation rotates the JWT signing key mid-session through the
// rotate function (the four Secrets Manager steps): the secret gets a new
// AWSCURRENT version, and tokens issued before keep working, access and
// refresh alike. (Functions pick the new key up within their key cache TTL,
// MAD_JWT_KEY_CACHE_TTL; until then they sign with the old one, which
// verifies as AWSPREVIOUS. shared/jwtauth tests the switch itself.)
func stepKeyRotation(t *testing.T, c *Client) {
	a := fixtures.orgs[0]
	before := login(t, c, a.AdminEmail, userPassword, "")
	oldKid := kid(t, before.Token)
	cmd := exec.Command("go", "run", "./scripts/devstack", "rotate-keys")
	cmd.Dir, cmd.Env = fixtures.stack.Root, append(os.Environ(), "MAD_LOCAL_STATE_DIR="+fixtures.stack.StateDir)
	if fixtures.stack.Bin != "" {
		cmd = fixtures.stack.Command("rotate-keys")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("devstack rotate-keys: %v\n%s", err, out)
	}
	sm := secretsmanager.NewFromConfig(awsConfig(t))
	cur, err := sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(fixtures.stack.FunctionEnv("auth", "MAD_JWT_SECRET_ID"))})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cur.VersionId) == oldKid {
		t.Fatalf("the signing secret's AWSCURRENT is still %s after the rotation", oldKid)
	}
	before.Do("GET", "/api/v1/me", nil, nil).Status(200)
	var p struct {
		AccessToken string `json:"access_token"`
	}
	c.WithToken("").Do("POST", "/api/v1/auth/refresh", map[string]string{"refresh_token": before.RefreshToken}, &p).Status(200)
	c.WithToken(p.AccessToken).Do("GET", "/api/v1/me", nil, nil).Status(200)
	t.Logf("rotated the signing key %s -> %s without logging anyone out", oldKid, aws.ToString(cur.VersionId))
}

// awsConfig is an SDK config for the stack's AWS endpoint.
func awsConfig(t *testing.T) aws.Config {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(fixtures.stack.Runtime.Region),
		awsconfig.WithBaseEndpoint(fixtures.stack.Runtime.AWSEndpoint),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// kid reads the key id from a JWT header.
func kid(t *testing.T, token string) string {
	t.Helper()
	h, _, ok := strings.Cut(token, ".")
	if !ok {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil || hdr.Kid == "" {
		t.Fatalf("JWT header %s has no kid", b)
	}
	return hdr.Kid
}
