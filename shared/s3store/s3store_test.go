package s3store

// Integration tests against moto (`make test` starts it). What moto 5.2.5
// enforces, measured by these tests and by reading its source:
//
//   - Presigned URLs: nothing. moto never checks X-Amz-Signature or
//     X-Amz-Expires; a tampered, expired or re-pointed presigned URL is
//     served like a good one. Its IAM mode (INITIAL_NO_AUTH_ACTION_COUNT or
//     POST /moto-api/reset-auth) verifies only Authorization-header
//     signatures: a presigned request, which has no such header, fails
//     there with HTTP 500 (KeyError in IAMRequestBase), and the switch is
//     process-wide, so a shared test server cannot use it anyway.
//   - Content-Length: not compared with the signed value; a larger body
//     is stored.
//   - SSE: stored as given and reported back by HeadObject; a PUT without
//     SSE headers gets the bucket's default encryption (algorithm, key,
//     Bucket Key), as in S3. moto does not encrypt and does not check that
//     the KMS key exists.
//   - Checksums: x-amz-checksum-sha256 is stored and returned, not
//     verified against the body.
//   - Bucket policies: Deny statements are evaluated without request
//     context and only the StringEquals operator is implemented, so a
//     conditional Deny (StringNotEquals on s3:x-amz-server-side-encryption,
//     Null, Bool aws:SecureTransport) denies every PutObject, good ones
//     included. The stack's bucket policy therefore cannot be tested on
//     moto; the local stack must not apply it.
//
// So the signature-level rules are asserted through sigV4Gate (see
// sigv4gate_test.go), which verifies presigned requests as S3 does before
// passing them to moto, and the moto-level facts are asserted directly:
// whatever moto accepts still ends up SSE-KMS under the stack key (bucket
// default encryption), and GetUpload's bound catches an oversized body.
// In AWS the same replays fail at S3 itself (signature), and the bucket
// policy denies any PutObject whose x-amz-server-side-encryption is not
// aws:kms or whose key id is not the stack key, whoever signed it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv"
)

type fixture struct {
	store  *Store
	client *s3.Client // straight to moto
	cfg    Config
	gate   *sigV4Gate
	moto   string
}

// newFixture creates two buckets with random names and default SSE-KMS
// encryption under a new KMS key, and a Store whose presigned URLs point
// at a sigV4Gate in front of moto.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	awsCfg := testenv.AWSConfig(t)
	moto := testenv.AWSEndpoint(t)
	creds, err := awsCfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	key, err := kms.NewFromConfig(awsCfg).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("s3store test")})
	if err != nil {
		t.Fatalf("create KMS key: %v", err)
	}
	suffix := domain.NewID()[24:]
	cfg := Config{
		ArtifactsBucket: "mad-test-artifacts-" + suffix,
		UploadsBucket:   "mad-test-uploads-" + suffix,
		KMSKeyID:        *key.KeyMetadata.Arn,
	}
	for _, b := range []string{cfg.ArtifactsBucket, cfg.UploadsBucket} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket: %v", err)
		}
		_, err := client.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
			Bucket: aws.String(b),
			ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{
					SSEAlgorithm:   types.ServerSideEncryptionAwsKms,
					KMSMasterKeyID: aws.String(cfg.KMSKeyID),
				},
				BucketKeyEnabled: aws.Bool(true),
			}}},
		})
		if err != nil {
			t.Fatalf("put bucket encryption: %v", err)
		}
		t.Cleanup(func() { emptyAndDelete(t, client, b) })
	}
	gate := newSigV4Gate(t, moto, creds.SecretAccessKey)
	viaGate := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(gate.URL)
	})
	return &fixture{
		store:  New(client, s3.NewPresignClient(viaGate), cfg),
		client: client,
		cfg:    cfg,
		gate:   gate,
		moto:   moto,
	}
}

func emptyAndDelete(t *testing.T, c *s3.Client, bucket string) {
	ctx := context.Background()
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Logf("cleanup %s: %v", bucket, err)
		return
	}
	for _, o := range out.Contents {
		_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
	}
	_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
}

// requireKMS checks that HeadObject reports SSE-KMS under the stack key.
func (f *fixture) requireKMS(t *testing.T, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	h, err := f.client.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	if h.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
		t.Fatalf("%s: ServerSideEncryption = %q, want aws:kms", key, h.ServerSideEncryption)
	}
	if aws.ToString(h.SSEKMSKeyId) != f.cfg.KMSKeyID {
		t.Fatalf("%s: SSEKMSKeyId = %q, want the stack key %q", key, aws.ToString(h.SSEKMSKeyId), f.cfg.KMSKeyID)
	}
	if !aws.ToBool(h.BucketKeyEnabled) {
		t.Fatalf("%s: BucketKeyEnabled = false", key)
	}
	return h
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	org := domain.NewID()
	molecule := domain.MoleculeKey(org, domain.NewID(), domain.FormatPDB)
	artifact := domain.JobArtifactKey(org, domain.NewID(), "result.json")
	for _, tc := range []struct {
		key, contentType string
		body             []byte
	}{
		{molecule, "chemical/x-pdb", []byte("ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\nEND\n")},
		{artifact, "application/json", []byte(`{"scores":[]}`)},
	} {
		if err := f.store.PutObject(ctx, tc.key, tc.body, tc.contentType); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		got, err := f.store.GetObject(ctx, tc.key, int64(len(tc.body)))
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		if !bytes.Equal(got, tc.body) {
			t.Fatalf("GetObject = %q, want %q", got, tc.body)
		}
		h := f.requireKMS(t, f.cfg.ArtifactsBucket, tc.key)
		if aws.ToString(h.ContentType) != tc.contentType || aws.ToInt64(h.ContentLength) != int64(len(tc.body)) {
			t.Fatalf("head: content type %q length %d", aws.ToString(h.ContentType), aws.ToInt64(h.ContentLength))
		}
		sum := sha256.Sum256(tc.body)
		if want := base64.StdEncoding.EncodeToString(sum[:]); aws.ToString(h.ChecksumSHA256) != want {
			t.Fatalf("ChecksumSHA256 = %q, want %q", aws.ToString(h.ChecksumSHA256), want)
		}
	}

	t.Run("default content type", func(t *testing.T) {
		key := domain.MoleculeKey(org, domain.NewID(), domain.FormatSMI)
		if err := f.store.PutObject(ctx, key, []byte("CCO\n"), ""); err != nil {
			t.Fatal(err)
		}
		if h := f.requireKMS(t, f.cfg.ArtifactsBucket, key); aws.ToString(h.ContentType) != "application/octet-stream" {
			t.Fatalf("content type %q", aws.ToString(h.ContentType))
		}
	})
}

func TestGetMaxBytes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := domain.MoleculeKey(domain.NewID(), domain.NewID(), domain.FormatSDF)
	body := bytes.Repeat([]byte("x"), 100)
	if err := f.store.PutObject(ctx, key, body, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.GetObject(ctx, key, 100); err != nil || len(got) != 100 {
		t.Fatalf("maxBytes = size: %d bytes, %v", len(got), err)
	}
	if _, err := f.store.GetObject(ctx, key, 99); domain.ErrorCode(err) != domain.CodePayloadTooLarge {
		t.Fatalf("maxBytes = size-1: %v, want PAYLOAD_TOO_LARGE", err)
	}
	if _, err := f.store.GetObject(ctx, key, 0); err == nil {
		t.Fatal("maxBytes 0 accepted")
	}
}

func TestNotFoundAndIdempotentDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	org := domain.NewID()
	molecule := domain.MoleculeKey(org, domain.NewID(), domain.FormatMOL2)
	upload := domain.UploadKey(org, domain.NewID())

	if _, err := f.store.GetObject(ctx, molecule, 10); domain.ErrorCode(err) != domain.CodeArtifactNotFound {
		t.Fatalf("GetObject missing: %v, want ARTIFACT_NOT_FOUND", err)
	}
	if _, err := f.store.GetUpload(ctx, upload, 10); domain.ErrorCode(err) != domain.CodeUploadNotFound {
		t.Fatalf("GetUpload missing: %v, want UPLOAD_NOT_FOUND", err)
	}
	if err := f.store.DeleteObject(ctx, molecule); err != nil {
		t.Fatalf("DeleteObject missing: %v", err)
	}
	if err := f.store.DeleteUpload(ctx, upload); err != nil {
		t.Fatalf("DeleteUpload missing: %v", err)
	}

	if err := f.store.PutObject(ctx, molecule, []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := f.store.DeleteObject(ctx, molecule); err != nil {
			t.Fatalf("DeleteObject #%d: %v", i+1, err)
		}
	}
	if _, err := f.store.GetObject(ctx, molecule, 10); domain.ErrorCode(err) != domain.CodeArtifactNotFound {
		t.Fatalf("GetObject after delete: %v, want ARTIFACT_NOT_FOUND", err)
	}

	t.Run("a missing bucket is not a missing object", func(t *testing.T) {
		s := New(f.client, nil, Config{ArtifactsBucket: "mad-test-no-such-bucket-" + domain.NewID()[24:], UploadsBucket: "u", KMSKeyID: "k"})
		_, err := s.GetObject(ctx, molecule, 10)
		if err == nil || domain.ErrorCode(err) != domain.CodeInternal {
			t.Fatalf("got %v, want a non-domain error", err)
		}
	})
}

func TestPresignGet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := domain.MoleculeKey(domain.NewID(), domain.NewID(), domain.FormatPDB)
	body := []byte("HETATM    1  C1  LIG A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n")
	if err := f.store.PutObject(ctx, key, body, "chemical/x-pdb"); err != nil {
		t.Fatal(err)
	}

	t.Run("download through the verifying gate", func(t *testing.T) {
		u, exp, err := f.store.PresignGet(ctx, key, 5*time.Minute, `imatinib (1).pdb"; x=y`)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(exp); d < 4*time.Minute || d > 5*time.Minute {
			t.Fatalf("expires in %s, want about 5m", d)
		}
		resp := do(t, http.MethodGet, u, nil, nil)
		if resp.status != http.StatusOK || !bytes.Equal(resp.body, body) {
			t.Fatalf("GET: %d %q", resp.status, resp.body)
		}
		if cd := resp.header.Get("Content-Disposition"); cd != `attachment; filename="imatinib_1_.pdb_x_y"` {
			t.Fatalf("Content-Disposition = %q", cd)
		}
	})

	t.Run("fallback file name is the key's base name", func(t *testing.T) {
		u, _, err := f.store.PresignGet(ctx, key, time.Minute, "分子")
		if err != nil {
			t.Fatal(err)
		}
		resp := do(t, http.MethodGet, u, nil, nil)
		if cd := resp.header.Get("Content-Disposition"); cd != `attachment; filename="`+key[strings.LastIndex(key, "/")+1:]+`"` {
			t.Fatalf("Content-Disposition = %q", cd)
		}
	})

	t.Run("ttl is capped at 15 minutes", func(t *testing.T) {
		before := time.Now()
		u, exp, err := f.store.PresignGet(ctx, key, 24*time.Hour, "x.pdb")
		if err != nil {
			t.Fatal(err)
		}
		if got := query(t, u).Get("X-Amz-Expires"); got != "900" {
			t.Fatalf("X-Amz-Expires = %s, want 900", got)
		}
		if exp.Before(before.Add(MaxPresignTTL-2*time.Second)) || exp.After(time.Now().Add(MaxPresignTTL)) {
			t.Fatalf("expires at %s, want now + 15m", exp)
		}
	})

	t.Run("ttl below a second is refused", func(t *testing.T) {
		if _, _, err := f.store.PresignGet(ctx, key, 0, "x"); err == nil {
			t.Fatal("ttl 0 accepted")
		}
	})

	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		u, exp, err := f.store.PresignGet(ctx, key, time.Second, "x.pdb")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(exp) + 1100*time.Millisecond)
		if resp := do(t, http.MethodGet, u, nil, nil); resp.status != http.StatusForbidden {
			t.Fatalf("expired GET through the gate: %d, want 403", resp.status)
		}
		resp := do(t, http.MethodGet, f.toMoto(t, u), nil, nil)
		t.Logf("moto itself answers an expired presigned GET with %d (it does not check X-Amz-Expires)", resp.status)
	})
}

func TestPresignUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := domain.UploadKey(domain.NewID(), domain.NewID())
	body := []byte("CC(=O)Oc1ccccc1C(=O)O aspirin\n")

	req, err := f.store.PresignUpload(ctx, key, int64(len(body)), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Content-Length":                              strconv.Itoa(len(body)),
		"Content-Type":                                "application/octet-stream",
		"X-Amz-Server-Side-Encryption":                "aws:kms",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": f.cfg.KMSKeyID,
	}
	if req.Method != http.MethodPut || len(req.Headers) != len(want) {
		t.Fatalf("presigned %s with headers %v, want PUT with %v", req.Method, req.Headers, want)
	}
	for k, v := range want {
		if req.Headers[k] != v {
			t.Fatalf("header %s = %q, want %q (all: %v)", k, req.Headers[k], v, req.Headers)
		}
	}
	q := query(t, req.URL)
	if got := q.Get("X-Amz-SignedHeaders"); got != "content-length;content-type;host;x-amz-server-side-encryption;x-amz-server-side-encryption-aws-kms-key-id" {
		t.Fatalf("X-Amz-SignedHeaders = %q", got)
	}
	for k := range q {
		if strings.Contains(strings.ToLower(k), "server-side-encryption") {
			t.Fatalf("SSE parameter %s hoisted into the query", k)
		}
	}
	if d := time.Until(req.ExpiresAt); d < 9*time.Minute || d > 10*time.Minute {
		t.Fatalf("expires in %s, want about 10m", d)
	}

	resp := do(t, req.Method, req.URL, req.Headers, body)
	if resp.status != http.StatusOK {
		t.Fatalf("PUT with the returned headers: %d %s", resp.status, resp.body)
	}
	f.requireKMS(t, f.cfg.UploadsBucket, key)
	got, err := f.store.GetUpload(ctx, key, int64(len(body)))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetUpload = %q, %v", got, err)
	}

	t.Run("size must be positive", func(t *testing.T) {
		if _, err := f.store.PresignUpload(ctx, key, 0, time.Minute); err == nil {
			t.Fatal("size 0 accepted: a zero content length is not signed")
		}
	})
	t.Run("ttl is capped at 15 minutes", func(t *testing.T) {
		r, err := f.store.PresignUpload(ctx, key, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got := query(t, r.URL).Get("X-Amz-Expires"); got != "900" {
			t.Fatalf("X-Amz-Expires = %s, want 900", got)
		}
	})
}

// TestPresignedUploadReplays tampers with a presigned PUT. Each replay is
// sent through the gate, which applies S3's signature rules: it must be
// refused. Then it is sent straight to moto, which checks no signature
// and accepts every one of them; the test asserts what still holds there:
// a replay that drops the SSE headers is stored SSE-KMS under the stack
// key anyway (bucket default encryption), and an oversized body does not
// get past GetUpload's bound. A replay that sends SSE headers of its own
// (SSE-S3, another KMS key, aws:kms without a key id) is stored by moto as
// told; in AWS the signature check refuses it, and so does the bucket
// policy, which denies any PutObject whose SSE header is not aws:kms with
// the stack key, however it is signed.
func TestPresignedUploadReplays(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	org := domain.NewID()
	body := []byte("c1ccccc1 benzene\n")
	size := int64(len(body))

	fresh := func(t *testing.T, ttl time.Duration) (string, app.PresignedRequest) {
		t.Helper()
		key := domain.UploadKey(org, domain.NewID())
		req, err := f.store.PresignUpload(ctx, key, size, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return key, req
	}
	without := func(h map[string]string, names ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for _, n := range names {
			delete(out, n)
		}
		return out
	}
	with := func(h map[string]string, k, v string) map[string]string {
		out := without(h)
		out[k] = v
		return out
	}

	tests := []struct {
		name string
		// tamper returns the URL, headers and body to send, and the key
		// the request would write.
		tamper func(key string, r app.PresignedRequest) (u string, h map[string]string, b []byte, target string)
		ttl    time.Duration
		// otherSSE marks replays that send SSE headers of their own. moto
		// stores them as sent; given aws:kms without a key id it falls
		// back to the bucket's default key, where S3 uses the AWS managed
		// key aws/s3. Either way only S3's signature check and the bucket
		// policy (StringNotEquals on the key id, not ...IfExists, so that a
		// missing key id is denied too) stop them.
		otherSSE bool
	}{
		{name: "without the SSE headers", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return r.URL, without(r.Headers, "X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), body, key
		}},
		{name: "without the KMS key id", otherSSE: true, tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return r.URL, without(r.Headers, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), body, key
		}},
		{name: "with SSE-S3 instead of SSE-KMS", otherSSE: true, tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return r.URL, with(without(r.Headers, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), "X-Amz-Server-Side-Encryption", "AES256"), body, key
		}},
		{name: "with another KMS key", otherSSE: true, tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return r.URL, with(r.Headers, "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "arn:aws:kms:us-east-1:123456789012:key/attacker"), body, key
		}},
		{name: "with a body larger than declared", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			big := append(bytes.Repeat([]byte("X"), 1000), body...)
			return r.URL, without(r.Headers, "Content-Length"), big, key
		}},
		{name: "with a body smaller than declared", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return r.URL, without(r.Headers, "Content-Length"), body[:1], key
		}},
		{name: "with another content type", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return r.URL, with(r.Headers, "Content-Type", "text/html"), body, key
		}},
		{name: "with an unsigned x-amz header", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return r.URL, with(r.Headers, "X-Amz-Acl", "public-read"), body, key
		}},
		{name: "to another key of the org", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			other := domain.UploadKey(org, domain.NewID())
			return strings.Replace(r.URL, key, other, 1), r.Headers, body, other
		}},
		{name: "to another org's key", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			other := domain.UploadKey(domain.NewID(), domain.NewID())
			return strings.Replace(r.URL, key, other, 1), r.Headers, body, other
		}},
		{name: "with a longer expiry", tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			return strings.Replace(r.URL, "X-Amz-Expires=60", "X-Amz-Expires=604800", 1), r.Headers, body, key
		}},
		{name: "after expiry", ttl: time.Second, tamper: func(key string, r app.PresignedRequest) (string, map[string]string, []byte, string) {
			time.Sleep(time.Until(r.ExpiresAt) + 1100*time.Millisecond)
			return r.URL, r.Headers, body, key
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ttl := tc.ttl
			if ttl == 0 {
				ttl = time.Minute
			}
			key, req := fresh(t, ttl)
			u, h, b, target := tc.tamper(key, req)

			if resp := do(t, req.Method, u, h, b); resp.status != http.StatusForbidden {
				t.Fatalf("through the gate (S3's rules): %d %s, want 403", resp.status, resp.body)
			}

			resp := do(t, req.Method, f.toMoto(t, u), h, b)
			t.Logf("moto answers this replay with %d", resp.status)
			if resp.status != http.StatusOK {
				return
			}
			if tc.otherSSE {
				hd, err := f.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.cfg.UploadsBucket), Key: aws.String(target)})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("moto accepted it and stored SSE %s, key %q (in AWS: S3 refuses the signature; the bucket policy denies it)", hd.ServerSideEncryption, aws.ToString(hd.SSEKMSKeyId))
				return
			}
			f.requireKMS(t, f.cfg.UploadsBucket, target)
			if len(b) > len(body) {
				if _, err := f.store.GetUpload(ctx, target, size); domain.ErrorCode(err) != domain.CodePayloadTooLarge {
					t.Fatalf("GetUpload of the oversized object: %v, want PAYLOAD_TOO_LARGE", err)
				}
			}
		})
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request with exactly the given headers, as a client of the
// contract would (Content-Length goes into Request.ContentLength, which
// net/http turns into the header).
func do(t *testing.T, method, u string, headers map[string]string, body []byte) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Length") {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(body)) {
				t.Fatalf("test bug: Content-Length %d for a %d-byte body", n, len(body))
			}
			req.ContentLength = n
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// toMoto points a presigned URL made for the gate straight at moto.
func (f *fixture) toMoto(t *testing.T, raw string) string {
	t.Helper()
	gate, err := url.Parse(f.gate.URL)
	if err != nil {
		t.Fatal(err)
	}
	moto, err := url.Parse(f.moto)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(raw, gate.Host, moto.Host, 1)
}

func query(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
