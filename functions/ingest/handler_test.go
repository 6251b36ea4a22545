package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// s3Event loads the uploads-queue sample event and points its S3
// notification at bucket/key (size bytes, etag), as S3 sends it to SQS.
func s3Event(t testing.TB, bucket, key string, size int64, etag string) events.SQSEvent {
	t.Helper()
	ev := apitest.LoadEvent[events.SQSEvent](t, "sqs/uploads-s3-put.json")
	var n events.S3Event
	apitest.DecodeStrict(t, []byte(ev.Records[0].Body), &n)
	o := &n.Records[0].S3
	o.Bucket.Name, o.Bucket.Arn = bucket, "arn:aws:s3:::"+bucket
	o.Object.Key, o.Object.Size, o.Object.ETag = key, size, etag
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return apitest.WithBody(ev, string(body))
}

type fixture struct {
	env      *apptest.Env
	h        handler
	org      domain.Org
	user     apptest.Member
	receptor domain.Molecule
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := apptest.New(t, apptest.Options{})
	org, admin := env.NewOrg(t)
	user := env.NewUser(t, admin, domain.RoleStandard)
	rec, err := env.Molecules.CreateMolecule(context.Background(), user.Principal,
		app.NewMoleculeInput{Name: "1iep receptor", Format: "pdbqt", Content: apitest.Testdata(t, "1iep/1iep_receptor.pdbqt")})
	if err != nil {
		t.Fatal(err)
	}
	// Wired as main.go wires it: the real S3 event decoder, the uploads bucket.
	h := handler{ingest: env.Molecules, decode: decodeS3, bucket: env.AWS.Buckets.Uploads, log: apptest.Quiet}
	return &fixture{env: env, h: h, org: org, user: user, receptor: rec}
}

// upload asks for a presigned upload and sends content with it, as a
// client does, returning the upload id, its key and the object's ETag.
func (f *fixture) upload(t *testing.T, name, format string, content []byte, declared int64, run *app.RunInput) (string, string, string) {
	t.Helper()
	up, err := f.env.Molecules.CreateUpload(context.Background(), f.user.Principal,
		app.NewUploadInput{Name: name, Format: format, SizeBytes: declared, Run: run})
	if err != nil {
		t.Fatal(err)
	}
	etag := apitest.PutUpload(t, up.Request.Method, up.Request.URL, up.Request.Headers, content)
	return up.Upload.ID, domain.UploadKey(f.org.ID, up.Upload.ID), etag
}

func (f *fixture) handle(t *testing.T, ev events.SQSEvent) events.SQSEventResponse {
	t.Helper()
	resp, err := f.h.handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	return resp
}

func (f *fixture) status(t *testing.T, id string) domain.Upload {
	t.Helper()
	up, err := f.env.Molecules.GetUpload(context.Background(), f.user.Principal, id)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func TestIngestCompletesUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ligand := apitest.Testdata(t, "1iep/1iep_ligand.sdf")
	id, key, etag := f.upload(t, "imatinib", "sdf", ligand, int64(len(ligand)), nil)
	if st := f.status(t, id); st.Status != domain.UploadPending {
		t.Fatalf("before the event: %s", st.Status)
	}

	ev := s3Event(t, f.env.AWS.Buckets.Uploads, key, int64(len(ligand)), etag)
	if ids := apitest.Failures(f.handle(t, ev)); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}
	up := f.status(t, id)
	if up.Status != domain.UploadCompleted || !domain.IsID(up.MoleculeID) || up.JobID != "" || up.Error != "" {
		t.Fatalf("upload after ingest %+v", up)
	}
	mol, err := f.env.Molecules.GetMolecule(context.Background(), f.user.Principal, up.MoleculeID)
	if err != nil || mol.Name != "imatinib" || mol.Format != domain.FormatSDF || mol.SizeBytes != int64(len(ligand)) || mol.CreatedBy != f.user.UserID {
		t.Fatalf("molecule %+v (%v)", mol, err)
	}
	stored, err := f.env.AWS.Objects.GetObject(context.Background(), mol.Key(), 1<<20)
	if err != nil || !bytes.Equal(stored, ligand) {
		t.Fatalf("molecule object: %v", err)
	}
	if keys := testenv.ObjectKeys(t, f.env.AWS.Buckets.Uploads, f.org.ID+"/"); len(keys) != 0 {
		t.Fatalf("uploads bucket still holds %v", keys)
	}

	// A redelivered event changes nothing.
	if ids := apitest.Failures(f.handle(t, apitest.WithBody(ev, ev.Records[0].Body))); len(ids) != 0 {
		t.Fatalf("redelivery: batchItemFailures %v", ids)
	}
	if again := f.status(t, id); again.MoleculeID != up.MoleculeID || again.Status != domain.UploadCompleted {
		t.Fatalf("after redelivery %+v", again)
	}

	// Through the Lambda runtime's JSON.
	apitest.RequireRuntimeAcks(t, f.h.handle, ev)
}

func TestIngestStartsRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ligand := apitest.Testdata(t, "1iep/1iep_ligand.sdf")
	run := &app.RunInput{PipelineID: domain.BuiltinPipelineID, Receptor: f.receptor.ID,
		Params: domain.VinaParamsPatch{Center: &[3]float64{15.19, 53.903, 16.917}, Size: &[3]float64{20, 20, 20}}}
	id, key, etag := f.upload(t, "imatinib", "sdf", ligand, int64(len(ligand)), run)
	if ids := apitest.Failures(f.handle(t, s3Event(t, f.env.AWS.Buckets.Uploads, key, int64(len(ligand)), etag))); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}
	up := f.status(t, id)
	if up.Status != domain.UploadCompleted || !domain.IsID(up.JobID) || up.Error != "" {
		t.Fatalf("upload %+v", up)
	}
	job, err := f.env.Jobs.GetJob(context.Background(), f.user.Principal, up.JobID)
	if err != nil || job.Status != domain.JobQueued || job.Inputs.Ligand != up.MoleculeID || job.Inputs.Receptor != f.receptor.ID || job.CreatedBy != f.user.UserID {
		t.Fatalf("job %+v (%v)", job, err)
	}
	want := `{"job_id":"` + job.ID + `","org_id":"` + f.org.ID + `"}`
	var bodies []string
	for _, m := range testenv.Receive(t, f.env.AWS.Queues.URL, 10, 1) {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	if !slices.Contains(bodies, want) {
		t.Fatalf("jobs queue holds %v, want %s", bodies, want)
	}
}

// TestIngestRejects: a file that is not what was declared is rejected
// (the reason recorded) and the message acknowledged: retrying cannot help.
func TestIngestRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bad := []byte("this is not an SDF file\n")
	id, key, etag := f.upload(t, "junk", "sdf", bad, int64(len(bad)), nil)
	if ids := apitest.Failures(f.handle(t, s3Event(t, f.env.AWS.Buckets.Uploads, key, int64(len(bad)), etag))); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}
	if up := f.status(t, id); up.Status != domain.UploadRejected || up.Error == "" || up.MoleculeID != "" {
		t.Fatalf("upload %+v", up)
	}

	// More bytes than declared (S3 reports the real size).
	ligand := apitest.Testdata(t, "1iep/1iep_ligand.sdf")
	id, key, etag = f.upload(t, "imatinib", "sdf", ligand, int64(len(ligand))-10, nil)
	if ids := apitest.Failures(f.handle(t, s3Event(t, f.env.AWS.Buckets.Uploads, key, int64(len(ligand)), etag))); len(ids) != 0 {
		t.Fatalf("batchItemFailures %v", ids)
	}
	if up := f.status(t, id); up.Status != domain.UploadRejected || !strings.Contains(up.Error, "declared") {
		t.Fatalf("upload %+v", up)
	}
}

// TestIngestIgnores: events that are not a pending upload of this stack
// are acknowledged and change nothing.
func TestIngestIgnores(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ligand := apitest.Testdata(t, "1iep/1iep_ligand.sdf")
	id, key, etag := f.upload(t, "imatinib", "sdf", ligand, int64(len(ligand)), nil)
	uploads := f.env.AWS.Buckets.Uploads
	size := int64(len(ligand))
	for name, ev := range map[string]events.SQSEvent{
		"another bucket":       s3Event(t, f.env.AWS.Buckets.Artifacts, key, size, etag),
		"not an upload key":    s3Event(t, uploads, f.org.ID+"/molecules/"+domain.NewID()+".sdf", size, etag),
		"unknown upload":       s3Event(t, uploads, domain.UploadKey(f.org.ID, domain.NewID()), size, etag),
		"another org's prefix": s3Event(t, uploads, domain.UploadKey(domain.NewID(), id), size, etag),
		"path tricks":          s3Event(t, uploads, f.org.ID+"/uploads/../uploads/"+id, size, etag),
		"S3 test event":        apitest.WithBody(s3Event(t, uploads, key, size, etag), `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2025-12-03T16:20:00.000Z","Bucket":"`+uploads+`","RequestId":"X","HostId":"Y"}`),
		"undecodable":          apitest.WithBody(s3Event(t, uploads, key, size, etag), "Hello from SQS!"),
		"no records":           apitest.WithBody(s3Event(t, uploads, key, size, etag), `{"Records":[]}`),
	} {
		if ids := apitest.Failures(f.handle(t, ev)); len(ids) != 0 {
			t.Fatalf("%s: batchItemFailures %v", name, ids)
		}
	}
	if up := f.status(t, id); up.Status != domain.UploadPending {
		t.Fatalf("upload %s after events for other objects", up.Status)
	}
}

// ingestFunc injects failures of the use case.
type ingestFunc func(ctx context.Context, key string, size int64) (domain.Upload, error)

func (f ingestFunc) Ingest(ctx context.Context, key string, size int64) (domain.Upload, error) {
	return f(ctx, key, size)
}

// TestIngestRetriesTransientFailures: a failure that may pass (the
// database, S3) is reported with the message id, so SQS redelivers it.
func TestIngestRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key := domain.UploadKey(f.org.ID, domain.NewID())
	var got []string
	h := f.h
	h.ingest = ingestFunc(func(_ context.Context, k string, size int64) (domain.Upload, error) {
		got = append(got, k)
		return domain.Upload{}, errors.New("connection reset by peer")
	})
	ev := s3Event(t, f.env.AWS.Buckets.Uploads, key, 10, "etag")
	resp, err := h.handle(context.Background(), ev)
	if err != nil || !slices.Equal(apitest.Failures(resp), []string{ev.Records[0].MessageId}) {
		t.Fatalf("handle = %v, %v; want the message id in batchItemFailures", apitest.Failures(resp), err)
	}
	if !slices.Equal(got, []string{key}) {
		t.Fatalf("ingested keys %v, want [%s] (URL-decoded)", got, key)
	}
}
