package testenv

// AWS resources on moto, one set per caller, with random names so that
// tests run in parallel against one moto server without seeing each
// other's objects or messages. Each helper registers its own cleanup.
//
// These helpers return names and URLs only, never MAD adapters: the
// adapters' own packages (s3store, sqsqueue, jwtauth) import testenv from
// their internal tests, so testenv importing them back would be an import
// cycle. shared/testenv/apptest builds the adapters on top of these.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/shared/domain"
)

// suffix returns a short random name suffix (the random tail of a UUID).
func suffix() string { return domain.NewID()[24:] }

// S3Client returns an S3 client for moto. Path-style addressing: moto's
// single endpoint cannot serve virtual-hosted bucket names.
func S3Client(t testing.TB) *s3.Client {
	t.Helper()
	return s3.NewFromConfig(AWSConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
}

// SQSClient returns an SQS client for moto.
func SQSClient(t testing.TB) *sqs.Client {
	t.Helper()
	return sqs.NewFromConfig(AWSConfig(t))
}

// SecretsClient returns a Secrets Manager client for moto.
func SecretsClient(t testing.TB) *secretsmanager.Client {
	t.Helper()
	return secretsmanager.NewFromConfig(AWSConfig(t))
}

// NewKMSKey creates a symmetric KMS key and returns its ARN (the form S3
// reports on reads, see s3store.Config.KMSKeyID).
func NewKMSKey(t testing.TB) string {
	t.Helper()
	out, err := kms.NewFromConfig(AWSConfig(t)).CreateKey(context.Background(), &kms.CreateKeyInput{
		Description: aws.String("mad test " + t.Name()),
	})
	if err != nil {
		t.Fatalf("create KMS key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// Buckets names the two buckets of one test.
type Buckets struct {
	Artifacts string
	Uploads   string
}

// NewBuckets creates an artifacts and an uploads bucket with random names
// and default encryption SSE-KMS under keyARN with a Bucket Key, like the
// stack's buckets. Both are emptied and deleted when the test ends.
func NewBuckets(t testing.TB, keyARN string) Buckets {
	t.Helper()
	ctx := context.Background()
	c := S3Client(t)
	s := suffix()
	b := Buckets{Artifacts: "mad-test-artifacts-" + s, Uploads: "mad-test-uploads-" + s}
	for _, name := range []string{b.Artifacts, b.Uploads} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Fatalf("create bucket %s: %v", name, err)
		}
		t.Cleanup(func() { emptyAndDeleteBucket(t, c, name) })
		_, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
			Bucket: aws.String(name),
			ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
				ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{
					SSEAlgorithm:   s3types.ServerSideEncryptionAwsKms,
					KMSMasterKeyID: aws.String(keyARN),
				},
				BucketKeyEnabled: aws.Bool(true),
			}}},
		})
		if err != nil {
			t.Fatalf("put bucket encryption %s: %v", name, err)
		}
	}
	return b
}

func emptyAndDeleteBucket(t testing.TB, c *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("cleanup of bucket %s: %v", bucket, err)
			return
		}
		for _, o := range page.Contents {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		}
	}
	_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
}

// ObjectKeys lists the keys of bucket under prefix.
func ObjectKeys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	c := S3Client(t)
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Queues names a jobs queue and its dead-letter queue.
type Queues struct {
	URL, ARN       string
	DLQURL, DLQARN string
	MaxReceives    int
}

// NewJobsQueue creates a dead-letter queue and a jobs queue that redrives
// to it after maxReceives deliveries, like the stack's. Both are deleted
// when the test ends.
func NewJobsQueue(t testing.TB, maxReceives int) Queues {
	t.Helper()
	ctx := context.Background()
	c := SQSClient(t)
	s := suffix()
	create := func(name string, attrs map[string]string) (string, string) {
		out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			t.Fatalf("create queue %s: %v", name, err)
		}
		url := aws.ToString(out.QueueUrl)
		t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)}) })
		a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			t.Fatalf("queue attributes %s: %v", name, err)
		}
		return url, a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	}
	q := Queues{MaxReceives: maxReceives}
	q.DLQURL, q.DLQARN = create("mad-test-jobs-dlq-"+s, nil)
	redrive, _ := json.Marshal(map[string]string{"deadLetterTargetArn": q.DLQARN, "maxReceiveCount": strconv.Itoa(maxReceives)})
	q.URL, q.ARN = create("mad-test-jobs-"+s, map[string]string{
		string(sqstypes.QueueAttributeNameRedrivePolicy): string(redrive),
	})
	return q
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewJWTSecret creates a Secrets Manager secret holding a fresh HS256
// token key in the stack's format {"alg":"HS256","k":"<64 alphanumerics>"}
// and returns its name. It is force-deleted when the test ends.
func NewJWTSecret(t testing.TB) string {
	t.Helper()
	k := make([]byte, 0, 64)
	buf := make([]byte, 128)
	for len(k) < 64 {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejection sampling keeps every character equally likely.
			if b < 248 && len(k) < 64 {
				k = append(k, alphanumerics[b%62])
			}
		}
	}
	value, _ := json.Marshal(map[string]string{"alg": "HS256", "k": string(k)})
	name := "mad/test/jwt-" + suffix()
	c := SecretsClient(t)
	if _, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(string(value)),
	}); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
			SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true),
		})
	})
	return name
}

// Receive waits up to wait seconds for messages of queueURL and returns
// their bodies; it deletes nothing, so the messages come back after their
// visibility timeout.
func Receive(t testing.TB, queueURL string, max int32, wait int32) []sqstypes.Message {
	t.Helper()
	out, err := SQSClient(t).ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(queueURL),
		MaxNumberOfMessages:         max,
		WaitTimeSeconds:             wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		t.Fatalf("receive from %s: %v", queueURL, err)
	}
	return out.Messages
}
