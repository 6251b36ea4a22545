package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
)

// tableDigest is a table's row count and a digest of its rows.
type tableDigest struct {
	Rows   int64
	Digest string
}

// tables returns every public table's row count and content digest, read
// as the cluster's superuser (past row-level security).
func tables(t *testing.T, s *stacktest.Stack) map[string]tableDigest {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Runtime.SuperURL)
	if err != nil {
		t.Fatalf("connect as superuser: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tableDigest{}
	for _, n := range names {
		var d tableDigest
		q := `SELECT count(*), coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text)), '') FROM ` + pgx.Identifier{n}.Sanitize() + ` x`
		if err := conn.QueryRow(ctx, q).Scan(&d.Rows, &d.Digest); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out[n] = d
	}
	return out
}

// objects returns the SHA-256 of every object of both buckets.
func objects(t *testing.T, s *stacktest.Stack) map[string]string {
	t.Helper()
	c, n := s3For(s)
	out := map[string]string{}
	for _, b := range []string{n.ArtifactsBucket(), n.UploadsBucket()} {
		for k, v := range checksums(t, c, b) {
			out[b+"/"+k] = v
		}
	}
	return out
}

// presignedUpload registers a molecule through a presigned S3 PUT (the
// uploads bucket and the ingest function) and waits for it.
func (o *org) presignedUpload(t *testing.T, name string) {
	t.Helper()
	content := testdata(t, name)
	var up struct {
		UploadID string            `json:"upload_id"`
		URL      string            `json:"url"`
		Headers  map[string]string `json:"headers"`
	}
	o.admin.do("POST", "/api/v1/molecules/uploads", map[string]any{"name": name, "format": "sdf", "size_bytes": len(content)}).must(t, 201, &up)
	req, _ := http.NewRequest("PUT", up.URL, bytes.NewReader(content))
	for k, v := range up.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var st struct {
			Status string `json:"status"`
		}
		o.admin.do("GET", "/api/v1/molecules/uploads/"+up.UploadID, nil).must(t, 200, &st)
		if st.Status == "completed" {
			return
		}
		if st.Status == "rejected" || time.Now().After(deadline) {
			t.Fatalf("upload %s", st.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// results returns a job's results and the SHA-256 of its poses.pdbqt as
// downloaded through the API (302 to a presigned GET).
func (o *org) results(t *testing.T, c *client, id string) (map[string]any, string) {
	t.Helper()
	var res map[string]any
	c.do("GET", "/api/v1/jobs/"+id+"/results", nil).must(t, 200, &res)
	r := c.do("GET", "/api/v1/jobs/"+id+"/files/poses.pdbqt", nil).must(t, 302, nil)
	resp, err := http.Get(r.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("download poses.pdbqt: %d %v", resp.StatusCode, err)
	}
	return res, hex.EncodeToString(h.Sum(nil))
}

// TestReliabilityBackupRestore: `devstack backup` of a stack with two
// orgs, molecules (inline and through a presigned upload), finished jobs
// and their artifacts, then `devstack restore` into a fresh stack: every
// table's row count and content, every object's SHA-256 identical, and
// the restored API serves the same results to the same logins.
func TestReliabilityBackupRestore(t *testing.T) {
	a := start(t, 5, withFake(t, nil))
	type jobRef struct {
		org *org
		id  string
	}
	var jobs []jobRef
	var orgs []*org
	for i := range 2 {
		o := newOrg(t, a, 0)
		orgs = append(orgs, o)
		o.presignedUpload(t, "1iep_ligand.sdf")
		for k := range 2 {
			id := o.mustCreateJob(t, int64(100*i+k+1), 1)
			jobs = append(jobs, jobRef{o, id})
		}
	}
	for _, j := range jobs {
		if v := j.org.waitJob(t, j.id, 2*time.Minute); v.Status != "COMPLETED" {
			t.Fatalf("job %s %s", j.id, v.Status)
		}
	}
	type served struct {
		results map[string]any
		poses   string
	}
	before := map[string]served{}
	for _, j := range jobs {
		r, p := j.org.results(t, j.org.admin, j.id)
		before[j.id] = served{r, p}
	}
	wantTables, wantObjects := tables(t, a), objects(t, a)

	dir, err := os.MkdirTemp("", "mad-backup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t0 := time.Now()
	if out, err := a.Command("backup", dir).CombinedOutput(); err != nil {
		t.Fatalf("devstack backup: %v\n%s", err, out)
	} else {
		t.Logf("%s (%s)", bytes.TrimSpace(out), time.Since(t0).Round(time.Millisecond))
	}

	b := start(t, 5, withFake(t, nil))
	t0 = time.Now()
	if out, err := b.Command("restore", dir).CombinedOutput(); err != nil {
		t.Fatalf("devstack restore: %v\n%s", err, out)
	} else {
		t.Logf("%s (%s)", bytes.TrimSpace(out), time.Since(t0).Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second) // restored uploads raise ObjectCreated again: let ingest see them

	gotTables, gotObjects := tables(t, b), objects(t, b)
	var names []string
	for n := range wantTables {
		names = append(names, n)
	}
	sort.Strings(names)
	total := int64(0)
	for _, n := range names {
		total += wantTables[n].Rows
		if gotTables[n] != wantTables[n] {
			t.Errorf("table %s: restored %+v, backed up %+v", n, gotTables[n], wantTables[n])
		}
	}
	if len(gotTables) != len(wantTables) {
		t.Errorf("restored %d tables, backed up %d", len(gotTables), len(wantTables))
	}
	t.Logf("%d tables, %d rows, %d objects compared", len(names), total, len(wantObjects))
	if !reflect.DeepEqual(gotObjects, wantObjects) {
		for k, v := range wantObjects {
			if gotObjects[k] != v {
				t.Errorf("object %s: restored sha256 %q, backed up %q", k, gotObjects[k], v)
			}
		}
		for k := range gotObjects {
			if _, ok := wantObjects[k]; !ok {
				t.Errorf("object %s exists only after the restore", k)
			}
		}
	}

	// The same logins read the same results from the restored stack.
	for _, o := range orgs {
		c := login(t, newClient(b.URL), map[string]string{"email": o.AdminEmail, "password": o.Password, "org_id": o.ID})
		for _, j := range jobs {
			if j.org != o {
				continue
			}
			r, p := o.results(t, c, j.id)
			if !reflect.DeepEqual(r, before[j.id].results) || p != before[j.id].poses {
				wb, _ := json.Marshal(before[j.id].results)
				gb, _ := json.Marshal(r)
				t.Errorf("job %s: restored results differ:\nbefore %s (poses %s)\nafter  %s (poses %s)", j.id, wb, before[j.id].poses, gb, p)
			}
		}
	}
}
