package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/mad-bio/mad/scripts/devstack/internal/faults"
)

// backend plays the AWS endpoint: 200 to everything, counting requests.
func backend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"abc"`)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func s3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
}

func put(c *s3.Client, key string) error {
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String(key), Body: bytes.NewReader([]byte("x"))})
	return err
}

// TestProxyFailsNextMatchingRequests: a rule fails exactly count matching
// requests with an S3 error the SDK understands (and retries: a 503 is
// retried up to the SDK's 3 attempts), and passes everything else through.
func TestProxyFailsNextMatchingRequests(t *testing.T) {
	be, hits := backend(t)
	p, err := faults.NewProxy(be.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(p)
	defer proxy.Close()
	c := s3Client(proxy.URL)

	// One 503 is absorbed by the SDK's retry.
	p.Add(faults.Rule{Method: "PUT", PathContains: "/jobs/", Count: 1, Status: 503})
	if err := put(c, "org/jobs/j/poses.pdbqt"); err != nil {
		t.Fatalf("one 503 should be retried away: %v", err)
	}
	if hits.Load() != 1 {
		t.Errorf("backend saw %d requests, want 1", hits.Load())
	}
	// Three 503s exhaust the SDK's attempts: the caller sees SlowDown.
	p.Add(faults.Rule{Method: "PUT", PathContains: "/jobs/", Count: 3})
	err = put(c, "org/jobs/j/poses.pdbqt")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "SlowDown" {
		t.Fatalf("want SlowDown after 3 failures, got %v", err)
	}
	// Non-matching requests pass, and the rule is spent.
	if err := put(c, "org/molecules/m.pdbqt"); err != nil {
		t.Fatal(err)
	}
	if err := put(c, "org/jobs/j/poses.pdbqt"); err != nil {
		t.Fatal(err)
	}
	rules := p.Rules()
	if len(rules) != 2 || rules[0].Failed != 1 || rules[1].Failed != 3 || rules[1].Count != 0 {
		t.Errorf("rules %+v", rules)
	}
	injected := 0
	for _, r := range p.Requests() {
		if r.Injected {
			injected++
		}
	}
	if injected != 4 || hits.Load() != 3 {
		t.Errorf("%d injected, backend %d, want 4 and 3", injected, hits.Load())
	}
}

func TestAdminAPI(t *testing.T) {
	be, _ := backend(t)
	p, _ := faults.NewProxy(be.URL, nil)
	var stops, starts int
	admin := httptest.NewServer(faults.Admin(p, fakePG{stop: &stops, start: &starts}))
	defer admin.Close()
	post := func(path, body string) *http.Response {
		resp, err := http.Post(admin.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post("/faults", `{"method":"GET","path_contains":"/molecules/","count":-1,"status":500}`)
	var r faults.Rule
	_ = json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != 201 || r.ID == 0 || r.Code != "InternalError" || r.Count != -1 {
		t.Fatalf("POST /faults: %d %+v", resp.StatusCode, r)
	}
	if resp := post("/faults", `{"bogus":1}`); resp.StatusCode != 400 {
		t.Errorf("unknown field: %d", resp.StatusCode)
	}
	proxy := httptest.NewServer(p)
	defer proxy.Close()
	for range 3 {
		resp, err := http.Get(proxy.URL + "/bucket/org/molecules/m.pdb")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 500 || !strings.Contains(string(b), "<Code>InternalError</Code>") {
			t.Errorf("count -1: %d %s", resp.StatusCode, b)
		}
	}
	if resp := post("/postgres/stop", ""); resp.StatusCode != 200 || stops != 1 {
		t.Errorf("stop: %d, %d calls", resp.StatusCode, stops)
	}
	if resp := post("/postgres/start", ""); resp.StatusCode != 200 || starts != 1 {
		t.Errorf("start: %d, %d calls", resp.StatusCode, starts)
	}
	req, _ := http.NewRequest("DELETE", admin.URL+"/faults", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 || len(p.Rules()) != 0 {
		t.Errorf("DELETE /faults: %v %v", resp, err)
	}
}

type fakePG struct{ stop, start *int }

func (f fakePG) StopPostgres() error  { *f.stop++; return nil }
func (f fakePG) StartPostgres() error { *f.start++; return nil }
