package sqsqueue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv"
)

func newQueue(t *testing.T, client *sqs.Client) (url, arn string) {
	t.Helper()
	ctx := context.Background()
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("mad-test-" + domain.NewID()[24:])})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	t.Cleanup(func() { _, _ = client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.QueueUrl, attrs.Attributes[string(types.QueueAttributeNameQueueArn)]
}

func receiveOne(t *testing.T, client *sqs.Client, url string) types.Message {
	t.Helper()
	out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(url),
		MaxNumberOfMessages:   1,
		WaitTimeSeconds:       2,
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages, want 1", len(out.Messages))
	}
	return out.Messages[0]
}

func TestSendJobRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := sqs.NewFromConfig(testenv.AWSConfig(t))
	url, _ := newQueue(t, client)
	q := New(client, url)

	want := app.JobMessage{JobID: domain.NewID(), OrgID: domain.NewID()}
	if err := q.SendJob(ctx, want); err != nil {
		t.Fatal(err)
	}
	if v, f, err := q.Depth(ctx); err != nil || v != 1 || f != 0 {
		t.Fatalf("Depth after send = %d visible, %d in flight, %v; want 1, 0", v, f, err)
	}

	msg := receiveOne(t, client, url)
	got, err := DecodeJobMessage(aws.ToString(msg.Body))
	if err != nil {
		t.Fatalf("decode %q: %v", aws.ToString(msg.Body), err)
	}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if a := msg.MessageAttributes[AttrOrgID]; aws.ToString(a.StringValue) != want.OrgID || aws.ToString(a.DataType) != "String" {
		t.Fatalf("org_id attribute = %+v", a)
	}
	if a := msg.MessageAttributes[AttrJobID]; aws.ToString(a.StringValue) != want.JobID {
		t.Fatalf("job_id attribute = %+v", a)
	}
	if v, f, err := q.Depth(ctx); err != nil || v != 0 || f != 1 {
		t.Fatalf("Depth after receive = %d visible, %d in flight, %v; want 0, 1", v, f, err)
	}

	t.Run("refuses non-canonical ids and sends nothing", func(t *testing.T) {
		for _, m := range []app.JobMessage{
			{JobID: strings.ToUpper(want.JobID), OrgID: want.OrgID},
			{JobID: want.JobID, OrgID: ""},
			{JobID: "../x", OrgID: want.OrgID},
		} {
			if err := q.SendJob(ctx, m); !errors.Is(err, ErrMalformed) {
				t.Fatalf("SendJob(%+v) = %v, want ErrMalformed", m, err)
			}
		}
		if v, _, err := q.Depth(ctx); err != nil || v != 0 {
			t.Fatalf("Depth = %d, %v; want nothing sent", v, err)
		}
	})

	t.Run("depth of a missing queue is an error", func(t *testing.T) {
		missing := New(client, strings.TrimSuffix(url, url[strings.LastIndex(url, "/")+1:])+"mad-test-missing-"+domain.NewID()[24:])
		if _, _, err := missing.Depth(ctx); err == nil {
			t.Fatal("no error")
		}
	})
}

// TestS3NotificationFromMoto configures a bucket to notify a queue, as the
// stack does for the uploads bucket, and decodes what arrives: first the
// s3:TestEvent, then the ObjectCreated:Put of an upload key.
func TestS3NotificationFromMoto(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testenv.AWSConfig(t)
	sq := sqs.NewFromConfig(cfg)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	url, arn := newQueue(t, sq)

	bucket := "mad-test-uploads-" + domain.NewID()[24:]
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	_, err := s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			QueueArn: aws.String(arn),
			Events:   []s3types.Event{s3types.EventS3ObjectCreated},
		}}},
	})
	if err != nil {
		t.Fatalf("put notification configuration: %v", err)
	}

	test := receiveOne(t, sq, url)
	objs, err := DecodeS3Event(aws.ToString(test.Body))
	if err != nil || objs != nil {
		t.Fatalf("test event %q: %+v, %v; want no objects, no error", aws.ToString(test.Body), objs, err)
	}
	deleteMessage(t, sq, url, test)

	body := "CCO ethanol\n"
	for _, key := range []string{
		domain.UploadKey(domain.NewID(), domain.NewID()),
		"odd keys/ligand (1)+ü.pdb",
	} {
		put, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		msg := receiveOne(t, sq, url)
		objs, err := DecodeS3Event(aws.ToString(msg.Body))
		if err != nil {
			t.Fatalf("decode %q: %v", aws.ToString(msg.Body), err)
		}
		want := S3Object{EventName: "ObjectCreated:Put", Bucket: bucket, Key: key, Size: int64(len(body)), ETag: strings.Trim(aws.ToString(put.ETag), `"`)}
		if len(objs) != 1 || objs[0] != want {
			t.Fatalf("got %+v, want [%+v] (body %s)", objs, want, aws.ToString(msg.Body))
		}
		deleteMessage(t, sq, url, msg)
	}
	t.Cleanup(func() {
		out, _ := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if out != nil {
			for _, o := range out.Contents {
				_, _ = s3c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			}
		}
		_, _ = s3c.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
}

func deleteMessage(t *testing.T, c *sqs.Client, url string, m types.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
}
