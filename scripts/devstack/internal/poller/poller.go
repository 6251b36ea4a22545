// Package poller plays Lambda's SQS event source mapping locally: it long-
// polls a queue, invokes the consuming function with a batch of one message
// in the exact events.SQSEvent shape, deletes the message when the function
// succeeds, and leaves it when the function fails or times out, so SQS
// redelivers it after the visibility timeout and, after maxReceiveCount
// receives, moves it to the dead-letter queue. Partial batch responses
// (events.SQSEventResponse.BatchItemFailures) are honoured.
package poller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Invoker invokes a function by name with a JSON payload.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// SQS is the part of the SQS client the poller uses.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Config configures the pollers of one queue.
type Config struct {
	Function string
	QueueURL string
	QueueARN string
	Region   string
	Invoker  Invoker
	SQS      SQS
	// Concurrency is the number of poller goroutines, one per instance of
	// the target function (default 1).
	Concurrency int
	// WaitSeconds is the long-poll wait (default 20, SQS's maximum).
	WaitSeconds int32
	Log         *slog.Logger
	// OnResult, when set, is told each message's outcome (tests, metrics).
	OnResult func(Result)
}

// Outcome of one message.
type Outcome string

// Outcomes.
const (
	Deleted Outcome = "deleted" // the function succeeded
	Left    Outcome = "left"    // the function failed or reported the message as failed
)

// Result describes what happened to one message.
type Result struct {
	MessageID    string
	ReceiveCount string
	Outcome      Outcome
	Err          error
}

// Run polls until ctx is done, then waits for in-flight invokes to end.
func Run(ctx context.Context, c Config) {
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.WaitSeconds == 0 {
		c.WaitSeconds = 20
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	c.Log = c.Log.With("function", c.Function, "queue", c.QueueARN)
	var wg sync.WaitGroup
	for i := range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx, c, i)
		}()
	}
	wg.Wait()
}

func loop(ctx context.Context, c Config, worker int) {
	backoff := time.Second
	for ctx.Err() == nil {
		out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(c.QueueURL),
			MaxNumberOfMessages:         1,
			WaitTimeSeconds:             c.WaitSeconds,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.Log.Warn("receive failed", "worker", worker, "error", err.Error())
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		for _, m := range out.Messages {
			// The invoke runs to its end even during shutdown, like Lambda.
			r := Handle(context.WithoutCancel(ctx), c, m)
			if c.OnResult != nil {
				c.OnResult(r)
			}
		}
	}
}

// Event builds the Lambda event for one message, as the event source
// mapping does.
func Event(c Config, m types.Message) events.SQSEvent {
	attrs := map[string]string{}
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	mattrs := map[string]events.SQSMessageAttribute{}
	for k, v := range m.MessageAttributes {
		a := events.SQSMessageAttribute{
			StringValue:      v.StringValue,
			BinaryValue:      v.BinaryValue,
			StringListValues: v.StringListValues,
			BinaryListValues: v.BinaryListValues,
			DataType:         aws.ToString(v.DataType),
		}
		if a.StringListValues == nil {
			a.StringListValues = []string{}
		}
		if a.BinaryListValues == nil {
			a.BinaryListValues = [][]byte{}
		}
		mattrs[k] = a
	}
	return events.SQSEvent{Records: []events.SQSMessage{{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             attrs,
		MessageAttributes:      mattrs,
		EventSourceARN:         c.QueueARN,
		EventSource:            "aws:sqs",
		AWSRegion:              c.Region,
	}}}
}

// Handle invokes the function with one message and deletes it on success.
func Handle(ctx context.Context, c Config, m types.Message) Result {
	id := aws.ToString(m.MessageId)
	r := Result{MessageID: id, ReceiveCount: m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)], Outcome: Left}
	payload, err := json.Marshal(Event(c, m))
	if err != nil {
		r.Err = err
		return r
	}
	start := time.Now()
	out, err := c.Invoker.Invoke(ctx, c.Function, payload)
	if err != nil {
		r.Err = err
		c.Log.Warn("function failed; the message stays for redelivery", "message_id", id,
			"receive_count", r.ReceiveCount, "error", err.Error(), "ms", time.Since(start).Milliseconds())
		return r
	}
	if err := batchFailure(out, id); err != nil {
		r.Err = err
		c.Log.Warn("function reported the message as failed; it stays for redelivery", "message_id", id,
			"receive_count", r.ReceiveCount, "error", err.Error())
		return r
	}
	if _, err := c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		r.Err = fmt.Errorf("delete message: %w", err)
		c.Log.Warn("delete failed", "message_id", id, "error", err.Error())
		return r
	}
	r.Outcome = Deleted
	c.Log.Debug("message handled", "message_id", id, "ms", time.Since(start).Milliseconds())
	return r
}

// errReported marks a message the function listed in batchItemFailures.
var errReported = errors.New("listed in batchItemFailures")

// batchFailure reads an events.SQSEventResponse. As with Lambda, a failure
// naming this message, or a malformed one (empty or unknown item
// identifier), fails the batch; any other output is success.
func batchFailure(out []byte, id string) error {
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if json.Unmarshal(out, &resp) != nil {
		return nil
	}
	for _, f := range resp.BatchItemFailures {
		if f.ItemIdentifier == nil || *f.ItemIdentifier != id {
			return fmt.Errorf("malformed batchItemFailures (item %v): the whole batch counts as failed", f.ItemIdentifier)
		}
		return errReported
	}
	return nil
}
