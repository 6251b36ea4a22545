// Package s3store is MAD's object storage on Amazon S3: org-prefixed keys,
// SSE-KMS with the stack's key on every write, bounded reads, and
// presigned transfers (GET downloads, PUT uploads) whose signatures pin
// what a client may do with them.
//
// Two buckets: the artifacts bucket holds molecules and job artifacts
// ("<org>/molecules/...", "<org>/jobs/..."), the uploads bucket receives
// presigned uploads ("<org>/uploads/<id>") and notifies the uploads queue.
// Every key passes one check (see checkKey) that accepts only the server's
// key shapes, and each method accepts only the shapes of its bucket.
//
// What the presigned PUT pins. The SDK's SigV4 presigner (aws-sdk-go-v2
// v1.48, service/s3 v1.115) signs these as headers, listed in
// X-Amz-SignedHeaders, so the client must send them with exactly the signed
// values: host, content-length, content-type, x-amz-server-side-encryption
// and x-amz-server-side-encryption-aws-kms-key-id (both are on the signer's
// RequiredSignedHeaders list). Other x-amz-* headers are "hoisted" into the
// query string instead (signed as part of the query, but S3 documents it
// only as a request header, and moto ignores it there); among them
// x-amz-server-side-encryption-bucket-key-enabled. So PresignUpload does
// not set it: S3 applies the bucket's Bucket Key setting to an SSE-KMS put
// that does not specify one (S3 user guide, "Configuring an S3 Bucket Key
// at the object level"). A content length of zero is never signed (the
// signer skips it), so PresignUpload refuses size 0.
//
// What enforces it. In AWS, S3 verifies the signature: a replay without
// the SSE headers, with another content length (a larger body), to
// another key, or after expiry fails with 403 SignatureDoesNotMatch or
// AccessDenied, and S3 rejects x-amz-* headers that are not signed. The
// stack's bucket policy adds a second lock that does not depend on the
// presigner: it denies s3:PutObject unless x-amz-server-side-encryption is
// aws:kms with the stack's key, and denies any request without TLS. (The
// key-id condition must be StringNotEquals, not StringNotEqualsIfExists:
// S3 encrypts "aws:kms without a key id" under the AWS managed aws/s3 key,
// not the bucket default.) Bucket default encryption (SSE-KMS, the stack's
// key, Bucket Key on) is a third lock, for puts without SSE headers.
// moto, the local emulator, checks none of the signature-level rules; see
// the package tests for exactly what it does and does not enforce.
package s3store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// MaxPresignTTL is the longest validity of a presigned URL (CONTRACT.md:
// downloads at most 15 minutes); longer requests are capped.
const MaxPresignTTL = 15 * time.Minute

// maxSinglePutBytes is S3's limit for one PUT.
const maxSinglePutBytes = 5 << 30

// uploadContentType is the one content type a presigned upload may carry:
// the client cannot choose how the object is later served.
const uploadContentType = "application/octet-stream"

// Config names the buckets and the KMS key.
type Config struct {
	ArtifactsBucket string
	UploadsBucket   string
	// KMSKeyID is the stack key used for SSE-KMS. Use the key ARN: S3
	// reports the ARN on reads, and the bucket policy compares the
	// x-amz-server-side-encryption-aws-kms-key-id header as a string.
	KMSKeyID string
}

// Store implements app.ObjectStore on S3.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	cfg     Config
}

var _ app.ObjectStore = (*Store)(nil)

// Validate reports a missing field. A Store with an invalid Config fails
// every call instead of, say, writing without the stack's key.
func (c Config) Validate() error {
	switch {
	case c.ArtifactsBucket == "":
		return errors.New("s3store: artifacts bucket is required")
	case c.UploadsBucket == "":
		return errors.New("s3store: uploads bucket is required")
	case c.KMSKeyID == "":
		return errors.New("s3store: KMS key id is required")
	}
	return nil
}

// New returns a Store. client and presign must be built from the same
// AWS configuration (the presigner signs for its own endpoint and
// credentials). Call cfg.Validate at startup to fail fast; a Store with an
// invalid Config refuses every call.
func New(client *s3.Client, presign *s3.PresignClient, cfg Config) *Store {
	return &Store{client: client, presign: presign, cfg: cfg}
}

// PutObject stores body under key (a molecule or job artifact key) in the
// artifacts bucket, with SSE-KMS under the stack key, a Bucket Key, and a
// SHA-256 checksum that S3 verifies before storing. contentType defaults
// to application/octet-stream. Errors are not domain errors (a failed put
// is INTERNAL_ERROR).
func (s *Store) PutObject(ctx context.Context, key string, body []byte, contentType string) error {
	if err := s.check(key, true); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if contentType == "" {
		contentType = uploadContentType
	}
	sum := sha256.Sum256(body)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(s.cfg.ArtifactsBucket),
		Key:                  aws.String(key),
		Body:                 bytes.NewReader(body),
		ContentLength:        aws.Int64(int64(len(body))),
		ContentType:          aws.String(contentType),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms,
		SSEKMSKeyId:          aws.String(s.cfg.KMSKeyID),
		BucketKeyEnabled:     aws.Bool(true),
		ChecksumAlgorithm:    types.ChecksumAlgorithmSha256,
		ChecksumSHA256:       aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// GetObject reads an object of the artifacts bucket, at most maxBytes of
// it. Errors: ARTIFACT_NOT_FOUND when the object does not exist,
// PAYLOAD_TOO_LARGE when it is larger than maxBytes.
func (s *Store) GetObject(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	if err := s.check(key, true); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return s.get(ctx, s.cfg.ArtifactsBucket, key, maxBytes, domain.CodeArtifactNotFound)
}

// GetUpload reads an object of the uploads bucket, at most maxBytes of it.
// Errors: UPLOAD_NOT_FOUND when the object does not exist,
// PAYLOAD_TOO_LARGE when it is larger than maxBytes.
func (s *Store) GetUpload(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	if err := s.check(key, false); err != nil {
		return nil, fmt.Errorf("get upload %s: %w", key, err)
	}
	return s.get(ctx, s.cfg.UploadsBucket, key, maxBytes, domain.CodeUploadNotFound)
}

func (s *Store) get(ctx context.Context, bucket, key string, maxBytes int64, notFound domain.Code) ([]byte, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("get %s: maxBytes must be positive (got %d)", key, maxBytes)
	}
	// The SDK validates a stored checksum while reading; objects from
	// presigned uploads have none, and saying so in the log on every read
	// is noise.
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("get %s: %w", key, domain.Errorf(notFound, "object not found"))
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	tooLarge := func() error {
		return fmt.Errorf("get %s: %w", key, domain.Errorf(domain.CodePayloadTooLarge, "object is larger than %d bytes", maxBytes))
	}
	// The declared length lets an oversized object fail before any byte is
	// read; the bounded read below holds even when it is absent or wrong.
	if out.ContentLength != nil && *out.ContentLength > maxBytes {
		return nil, tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(out.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("get %s: read: %w", key, err)
	}
	if int64(len(body)) > maxBytes {
		return nil, tooLarge()
	}
	return body, nil
}

// DeleteObject removes an object of the artifacts bucket. Deleting a
// missing object succeeds.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	if err := s.check(key, true); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return s.delete(ctx, s.cfg.ArtifactsBucket, key)
}

// DeleteUpload removes an object of the uploads bucket. Deleting a missing
// object succeeds.
func (s *Store) DeleteUpload(ctx context.Context, key string) error {
	if err := s.check(key, false); err != nil {
		return fmt.Errorf("delete upload %s: %w", key, err)
	}
	return s.delete(ctx, s.cfg.UploadsBucket, key)
}

func (s *Store) delete(ctx context.Context, bucket, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// PresignGet returns a presigned GET of an artifacts-bucket object and
// when it expires. ttl is capped at MaxPresignTTL. The response carries
// Content-Disposition: attachment with downloadName reduced to
// [A-Za-z0-9._-] (at most 100 characters; the key's base name when
// nothing is left), so a browser saves the file rather than rendering it.
// The object's existence is not checked.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration, downloadName string) (string, time.Time, error) {
	if err := s.check(key, true); err != nil {
		return "", time.Time{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	ttl, err := capTTL(ttl)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket:                     aws.String(s.cfg.ArtifactsBucket),
		Key:                        aws.String(key),
		ResponseContentDisposition: aws.String(`attachment; filename="` + SanitizeFilename(downloadName, path.Base(key)) + `"`),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	exp, err := presignExpiry(req.URL)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	return req.URL, exp, nil
}

// uploadSignedHeaders must all appear in X-Amz-SignedHeaders of a
// presigned upload; PresignUpload fails rather than hand out a URL that
// does not pin them (say, after an SDK change that hoists them into the
// query, where S3 would not apply them).
var uploadSignedHeaders = []string{
	"content-length",
	"content-type",
	"x-amz-server-side-encryption",
	"x-amz-server-side-encryption-aws-kms-key-id",
}

// PresignUpload returns a presigned PUT of key (an upload key) into the
// uploads bucket, valid for ttl (capped at MaxPresignTTL). Its signature
// covers SSE-KMS with the stack key, Content-Type application/octet-stream
// and Content-Length size. Headers lists every header the client must send,
// exactly as signed (Host aside, which HTTP clients send themselves); with
// Go's net/http, set Request.ContentLength rather than the header. size
// must be positive: a zero length would not be signed.
func (s *Store) PresignUpload(ctx context.Context, key string, size int64, ttl time.Duration) (app.PresignedRequest, error) {
	if err := s.check(key, false); err != nil {
		return app.PresignedRequest{}, fmt.Errorf("presign upload %s: %w", key, err)
	}
	if size <= 0 || size > maxSinglePutBytes {
		return app.PresignedRequest{}, fmt.Errorf("presign upload %s: size must be 1..%d bytes (got %d)", key, int64(maxSinglePutBytes), size)
	}
	ttl, err := capTTL(ttl)
	if err != nil {
		return app.PresignedRequest{}, fmt.Errorf("presign upload %s: %w", key, err)
	}
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(s.cfg.UploadsBucket),
		Key:                  aws.String(key),
		ContentLength:        aws.Int64(size),
		ContentType:          aws.String(uploadContentType),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms,
		SSEKMSKeyId:          aws.String(s.cfg.KMSKeyID),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return app.PresignedRequest{}, fmt.Errorf("presign upload %s: %w", key, err)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return app.PresignedRequest{}, fmt.Errorf("presign upload %s: %w", key, err)
	}
	signed := strings.Split(u.Query().Get("X-Amz-SignedHeaders"), ";")
	for _, h := range uploadSignedHeaders {
		if !slices.Contains(signed, h) {
			return app.PresignedRequest{}, fmt.Errorf("presign upload %s: %s is not a signed header (signed: %v)", key, h, signed)
		}
	}
	headers := make(map[string]string, len(req.SignedHeader))
	for name, values := range req.SignedHeader {
		if strings.EqualFold(name, "Host") {
			continue
		}
		headers[name] = strings.Join(values, ",")
	}
	exp, err := presignExpiry(req.URL)
	if err != nil {
		return app.PresignedRequest{}, fmt.Errorf("presign upload %s: %w", key, err)
	}
	return app.PresignedRequest{URL: req.URL, Method: req.Method, Headers: headers, ExpiresAt: exp}, nil
}

// check runs checkKey and requires the shape of the bucket in use:
// molecule and job keys for the artifacts bucket, upload keys for the
// uploads bucket.
func (s *Store) check(key string, artifacts bool) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	kind, err := checkKey(key)
	if err != nil {
		return err
	}
	if kind.artifact() != artifacts {
		if artifacts {
			return fmt.Errorf("%w %q: not an artifacts-bucket key", ErrInvalidKey, key)
		}
		return fmt.Errorf("%w %q: not an upload key", ErrInvalidKey, key)
	}
	return nil
}

// capTTL caps ttl at MaxPresignTTL. SigV4 counts expiry in whole seconds,
// so anything shorter than a second is refused.
func capTTL(ttl time.Duration) (time.Duration, error) {
	if ttl < time.Second {
		return 0, fmt.Errorf("ttl must be at least 1s (got %s)", ttl)
	}
	return min(ttl, MaxPresignTTL), nil
}

// presignExpiry reads the moment a presigned URL stops working from the
// URL itself (X-Amz-Date, truncated to the second, plus X-Amz-Expires), so
// the reported time is exactly what S3 will enforce.
func presignExpiry(raw string) (time.Time, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return time.Time{}, err
	}
	q := u.Query()
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("presigned URL without X-Amz-Date: %w", err)
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil {
		return time.Time{}, fmt.Errorf("presigned URL without X-Amz-Expires: %w", err)
	}
	return signed.Add(time.Duration(secs) * time.Second), nil
}

// SanitizeFilename reduces name to a safe download file name: characters
// outside [A-Za-z0-9._-] become '_', leading dots are dropped (no hidden
// files, no ".."), and the result is at most 100 characters, keeping a
// short extension. When nothing usable remains it returns fallback,
// sanitized the same way.
func SanitizeFilename(name, fallback string) string {
	if s := sanitize(name); s != "" {
		return s
	}
	if s := sanitize(fallback); s != "" {
		return s
	}
	return "download"
}

const maxFilename = 100

func sanitize(name string) string {
	var b strings.Builder
	underscore := false
	for _, r := range name {
		ok := r == '.' || r == '_' || r == '-' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		if !ok {
			// One '_' per run of replaced characters keeps "a  (1).pdb" readable.
			if !underscore {
				b.WriteByte('_')
			}
			underscore = true
			continue
		}
		underscore = false
		b.WriteRune(r)
	}
	s := strings.TrimLeft(b.String(), ".")
	if strings.Trim(s, "._-") == "" {
		return ""
	}
	if len(s) > maxFilename {
		ext := path.Ext(s)
		if len(ext) > 10 {
			ext = ""
		}
		s = s[:maxFilename-len(ext)] + ext
	}
	return s
}

// isNotFound reports whether err says the object does not exist: the
// typed NoSuchKey of GetObject, or the NoSuchKey / NotFound code of an API
// error (HEAD-style responses carry no typed body).
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var nf *types.NotFound
	if errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return true
		}
	}
	return false
}
