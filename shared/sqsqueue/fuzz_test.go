package sqsqueue

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seeds run as ordinary tests under `go test`; `go test -fuzz
// FuzzDecodeJobMessage ./shared/sqsqueue` explores from them.

func FuzzDecodeJobMessage(f *testing.F) {
	for _, s := range []string{
		`{"job_id":"` + jobID + `","org_id":"` + orgID + `"}`,
		`{"org_id":"` + orgID + `","job_id":"` + jobID + `"}`,
		`{"job_id":"` + jobID + `","org_id":"` + orgID + `","x":1}`,
		`{"job_id":"` + jobID + `","job_id":"` + jobID + `"}`,
		`{"job_id":"` + strings.ToUpper(jobID) + `","org_id":"` + orgID + `"}`,
		`{"job_id":"` + jobID + `","org_id":"` + orgID + `"}[]`,
		`{"job_id":null}`,
		`[]`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, err := DecodeJobMessage(body)
		if err != nil {
			return
		}
		if len(body) > MaxJobMessageBytes || !canonicalID(m.JobID) || !canonicalID(m.OrgID) {
			t.Fatalf("accepted %q as %+v", body, m)
		}
		// Anything accepted is exactly what SendJob would have written.
		re, err := json.Marshal(jobBody(m))
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeJobMessage(string(re))
		if err != nil || m2 != m {
			t.Fatalf("re-encoded %s decodes to %+v, %v", re, m2, err)
		}
	})
}

func FuzzDecodeS3Event(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed events in testdata: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2Fc","size":3}}}]}`)
	f.Add(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%","size":3}}}]}`)
	f.Add(`{"Records":[]}`)
	f.Add(`{"Event":"s3:TestEvent"}`)
	f.Fuzz(func(t *testing.T, body string) {
		objs, err := DecodeS3Event(body)
		if err != nil {
			if objs != nil {
				t.Fatalf("objects %+v returned with error %v", objs, err)
			}
			return
		}
		if len(body) > MaxS3EventBytes {
			t.Fatalf("accepted a %d-byte body", len(body))
		}
		for _, o := range objs {
			if o.Bucket == "" || o.Key == "" || o.Size < 0 || !strings.HasPrefix(o.EventName, "ObjectCreated:") {
				t.Fatalf("accepted %q as %+v", body, o)
			}
		}
	})
}
