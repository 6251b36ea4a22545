package reliability

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
	"github.com/mad-bio/mad/shared/stack"
)

// s3For returns an S3 client for the stack's AWS endpoint (moto) and its
// bucket names.
func s3For(s *stacktest.Stack) (*s3.Client, stack.Names) {
	rt := s.Runtime
	c := s3.New(s3.Options{Region: rt.Region, BaseEndpoint: aws.String(rt.AWSEndpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	return c, stack.Names{Stage: rt.Stage, Account: rt.Account, Region: rt.Region}
}

// listKeys lists the keys under prefix in bucket.
func listKeys(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// checksums returns the SHA-256 of every object of bucket, by key.
func checksums(t *testing.T, c *s3.Client, bucket string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range listKeys(t, c, bucket, "") {
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("get s3://%s/%s: %v", bucket, k, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, obj.Body)
		obj.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}

// jobArtifacts lists the job's objects in the artifacts bucket.
func jobArtifacts(t *testing.T, s *stacktest.Stack, orgID, jobID string) []string {
	c, n := s3For(s)
	return listKeys(t, c, n.ArtifactsBucket(), orgID+"/jobs/"+jobID+"/")
}

// wantArtifacts checks the job has exactly the four artifacts, once each.
func wantArtifacts(t *testing.T, s *stacktest.Stack, orgID, jobID string) {
	t.Helper()
	keys := jobArtifacts(t, s, orgID, jobID)
	want := map[string]bool{"poses.pdbqt": true, "poses.sdf": true, "vina.log": true, "result.json": true}
	prefix := orgID + "/jobs/" + jobID + "/"
	for _, k := range keys {
		name := k[len(prefix):]
		if !want[name] {
			t.Errorf("unexpected or duplicate object %s", k)
		}
		delete(want, name)
	}
	if len(keys) != 4 || len(want) != 0 {
		t.Errorf("objects under %s: %v, want exactly the 4 artifacts", prefix, keys)
	}
}
