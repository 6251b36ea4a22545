// Package sqsqueue is MAD's Amazon SQS adapter: it sends job messages to
// the jobs queue, reports queue depth for readiness and metrics, and
// decodes what consumers receive: job messages (engine, dlq) and S3 event
// notifications (ingest).
//
// Decoders treat every body as untrusted input: a jobs-queue message is a
// small fixed JSON object of two canonical ids, nothing more; an S3 event
// yields only bucket, key, size and ETag, the key URL-decoded. Whoever
// acts on a key still checks its shape (s3store.OrgOf, s3store.CheckOrgKey).
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// Message attribute names carried by job messages, so that tooling (and a
// DLQ redrive) can see whose job a message is without parsing the body.
const (
	AttrOrgID = "org_id"
	AttrJobID = "job_id"
)

// Queue sends job messages to the jobs queue.
type Queue struct {
	client *sqs.Client
	url    string
}

var _ app.JobQueue = (*Queue)(nil)

// New returns a Queue for the jobs queue at jobsQueueURL.
func New(client *sqs.Client, jobsQueueURL string) *Queue {
	return &Queue{client: client, url: jobsQueueURL}
}

// jobBody is the wire form of app.JobMessage.
type jobBody struct {
	JobID string `json:"job_id"`
	OrgID string `json:"org_id"`
}

// SendJob sends m as {"job_id","org_id"} with message attributes org_id
// and job_id. Both ids must be canonical UUIDs; otherwise nothing is sent
// and the error wraps ErrMalformed. Send failures are not domain errors:
// the caller leaves the job in the outbox for the sweeper.
func (q *Queue) SendJob(ctx context.Context, m app.JobMessage) error {
	if !canonicalID(m.JobID) || !canonicalID(m.OrgID) {
		return fmt.Errorf("send job %q of org %q: %w: ids must be canonical UUIDs", m.JobID, m.OrgID, ErrMalformed)
	}
	body, err := json.Marshal(jobBody(m))
	if err != nil {
		return fmt.Errorf("send job %s: %w", m.JobID, err)
	}
	_, err = q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.url),
		MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrOrgID: {DataType: aws.String("String"), StringValue: aws.String(m.OrgID)},
			AttrJobID: {DataType: aws.String("String"), StringValue: aws.String(m.JobID)},
		},
	})
	if err != nil {
		return fmt.Errorf("send job %s: %w", m.JobID, err)
	}
	return nil
}

// Depth returns the approximate number of visible messages and of
// in-flight messages (received, not yet deleted or timed out) in the jobs
// queue. SQS reports both as approximations.
func (q *Queue) Depth(ctx context.Context) (visible, inFlight int, err error) {
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("queue depth: %w", err)
	}
	read := func(name types.QueueAttributeName) (int, error) {
		v, ok := out.Attributes[string(name)]
		if !ok {
			return 0, fmt.Errorf("queue depth: attribute %s missing", name)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("queue depth: attribute %s: %w", name, err)
		}
		return n, nil
	}
	if visible, err = read(types.QueueAttributeNameApproximateNumberOfMessages); err != nil {
		return 0, 0, err
	}
	if inFlight, err = read(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible); err != nil {
		return 0, 0, err
	}
	return visible, inFlight, nil
}

// ErrMalformed is wrapped by every decoding error (and by SendJob's
// refusal of non-canonical ids), so a consumer can tell a message that
// will never decode from a transient failure worth a redelivery.
var ErrMalformed = errors.New("malformed message")

func canonicalID(s string) bool {
	id, err := domain.ParseID(s)
	return err == nil && id == s
}
