package sqsqueue

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/app"
)

const (
	jobID = "0190c8a2-7b40-7d11-8e2f-1a2b3c4d5e6f"
	orgID = "0190c8a2-7b3e-7cc1-9d2a-4f5e6a7b8c9d"
)

func TestDecodeJobMessage(t *testing.T) {
	t.Parallel()
	ok := []struct{ name, body string }{
		{"canonical", `{"job_id":"` + jobID + `","org_id":"` + orgID + `"}`},
		{"fields reversed", `{"org_id":"` + orgID + `","job_id":"` + jobID + `"}`},
		// JSON escapes are decoded before the id check: the value is the canonical id.
		{"escaped id characters", `{"job_id":"\u0030190c8a2-7b40-7d11-8e2f-1a2b3c4d5e6f","org_id":"` + orgID + `"}`},
		{"whitespace", "\n { \"job_id\" : \"" + jobID + "\" ,\t\"org_id\":\"" + orgID + "\" }\n"},
	}
	for _, tc := range ok {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			m, err := DecodeJobMessage(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if m != (app.JobMessage{JobID: jobID, OrgID: orgID}) {
				t.Fatalf("got %+v", m)
			}
		})
	}

	upper := strings.ToUpper(jobID)
	bad := []struct{ name, body string }{
		{"empty", ""},
		{"whitespace only", "  "},
		{"null", "null"},
		{"array", `["` + jobID + `","` + orgID + `"]`},
		{"string", `"` + jobID + `"`},
		{"empty object", `{}`},
		{"missing org", `{"job_id":"` + jobID + `"}`},
		{"missing job", `{"org_id":"` + orgID + `"}`},
		{"unknown field", `{"job_id":"` + jobID + `","org_id":"` + orgID + `","admin":true}`},
		{"camel case field", `{"jobId":"` + jobID + `","org_id":"` + orgID + `"}`},
		{"field name case", `{"JOB_ID":"` + jobID + `","org_id":"` + orgID + `"}`},
		{"duplicate field", `{"job_id":"` + jobID + `","org_id":"` + orgID + `","org_id":"` + jobID + `"}`},
		{"null id", `{"job_id":null,"org_id":"` + orgID + `"}`},
		{"numeric id", `{"job_id":1,"org_id":"` + orgID + `"}`},
		{"object id", `{"job_id":{"id":"` + jobID + `"},"org_id":"` + orgID + `"}`},
		{"uppercase id", `{"job_id":"` + upper + `","org_id":"` + orgID + `"}`},
		{"braced id", `{"job_id":"{` + jobID + `}","org_id":"` + orgID + `"}`},
		{"not a uuid", `{"job_id":"../../etc/passwd","org_id":"` + orgID + `"}`},
		{"trailing data", `{"job_id":"` + jobID + `","org_id":"` + orgID + `"}{}`},
		{"two objects", `{"job_id":"` + jobID + `","org_id":"` + orgID + `"} {"job_id":"` + jobID + `","org_id":"` + orgID + `"}`},
		{"trailing comma", `{"job_id":"` + jobID + `","org_id":"` + orgID + `",}`},
		{"truncated", `{"job_id":"` + jobID + `","org_id":"` + orgID},
		{"oversized", `{"job_id":"` + jobID + `","org_id":"` + orgID + `"}` + strings.Repeat(" ", MaxJobMessageBytes)},
		{"oversized unknown field", `{"pad":"` + strings.Repeat("x", 5000) + `"}`},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			m, err := DecodeJobMessage(tc.body)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", m, err)
			}
			if m != (app.JobMessage{}) {
				t.Fatalf("partial result %+v returned with an error", m)
			}
		})
	}
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeS3Event(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []S3Object
	}{
		{
			// sam local generate-event s3 put --bucket mad-dev-uploads --key <org>/uploads/<id>
			name: "sam generate-event, upload key",
			body: readTestdata(t, "sam-s3-put-upload.json"),
			want: []S3Object{{EventName: "ObjectCreated:Put", Bucket: "mad-dev-uploads", Key: orgID + "/uploads/" + jobID, Size: 1024, ETag: "0123456789abcdef0123456789abcdef"}},
		},
		{
			name: "sam generate-event, defaults",
			body: readTestdata(t, "sam-s3-put-default.json"),
			want: []S3Object{{EventName: "ObjectCreated:Put", Bucket: "example-bucket", Key: "test/key", Size: 1024, ETag: "0123456789abcdef0123456789abcdef"}},
		},
		{
			// Captured from moto 5.2.5 (bucket notification to SQS, then a PUT).
			name: "moto, upload key with encoded slashes",
			body: readTestdata(t, "moto-s3-put-upload.json"),
			want: []S3Object{{EventName: "ObjectCreated:Put", Bucket: "mad-capture-uploads", Key: orgID + "/uploads/" + jobID, Size: 12, ETag: "5a0d6bbfe812583db2dcf5bfc699ba0a"}},
		},
		{
			name: "moto, key with space, plus, parentheses and unicode",
			body: readTestdata(t, "moto-s3-put-oddkey.json"),
			want: []S3Object{{EventName: "ObjectCreated:Put", Bucket: "mad-capture-uploads", Key: "odd keys/ligand (1)+ü.pdb", Size: 4, ETag: "2d2977d1c96f487abe4a1e202dd03b4e"}},
		},
		{
			name: "moto, s3:TestEvent",
			body: readTestdata(t, "moto-s3-testevent.json"),
			want: nil,
		},
		{
			name: "AWS test event",
			body: `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00.000Z","Bucket":"b","RequestId":"R","HostId":"H"}`,
			want: nil,
		},
		{
			name: "other event types are skipped",
			body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}},` +
				`{"eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"b"},"object":{"key":"a%2Fb","size":0,"eTag":"e-2"}}}]}`,
			want: []S3Object{{EventName: "ObjectCreated:CompleteMultipartUpload", Bucket: "b", Key: "a/b", Size: 0, ETag: "e-2"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeS3Event(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("record %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}

	bad := []struct{ name, body string }{
		{"empty", ""},
		{"not JSON", "ObjectCreated"},
		{"array", `[{"eventName":"ObjectCreated:Put"}]`},
		{"null", `null`},
		{"empty object", `{}`},
		{"other test event", `{"Service":"Amazon S3","Event":"s3:SomethingElse"}`},
		{"a job message", `{"job_id":"` + jobID + `","org_id":"` + orgID + `"}`},
		{"null records", `{"Records":null}`},
		{"no records", `{"Records":[]}`},
		{"records not an array", `{"Records":{}}`},
		{"wrong source", `{"Records":[{"eventSource":"aws:sns","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1}}}]}`},
		{"no bucket", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"object":{"key":"k","size":1}}}]}`},
		{"no key", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"size":1}}}]}`},
		{"bad escape in key", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%zz","size":1}}}]}`},
		{"no size", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`},
		{"negative size", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}`},
		{"fractional size", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1.5}}}]}`},
		{"string size", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"1"}}}]}`},
		{"truncated", readTestdata(t, "moto-s3-put-upload.json")[:100]},
		{"oversized", `{"Records":[],"pad":"` + strings.Repeat("x", MaxS3EventBytes) + `"}`},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			got, err := DecodeS3Event(tc.body)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", got, err)
			}
			if got != nil {
				t.Fatalf("partial result %+v returned with an error", got)
			}
		})
	}
}
