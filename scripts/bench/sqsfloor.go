package main

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/scripts/bench/loadgen"
)

// sqsFloor is what the local queue alone costs per message: the poller's
// own calls (ReceiveMessage with long polling, batch 1, then
// DeleteMessage) against the stack's AWS endpoint, from as many
// goroutines as there are engine instances, on a scratch queue holding
// the same number of messages as the throughput run.
type sqsFloor struct {
	Messages  int     `json:"messages"`
	Consumers int     `json:"consumers"`
	CycleP50  float64 `json:"cycle_p50_ms"` // receive + delete of one message
	CycleP95  float64 `json:"cycle_p95_ms"`
	PerSecond float64 `json:"messages_per_second"`
}

func measureSQSFloor(ctx context.Context, endpoint, region string, env []string, n, consumers int) (*sqsFloor, error) {
	key, secret := envValue(env, "AWS_ACCESS_KEY_ID"), envValue(env, "AWS_SECRET_ACCESS_KEY")
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region), awsconfig.WithBaseEndpoint(endpoint),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key, secret, "")))
	if err != nil {
		return nil, err
	}
	c := sqs.NewFromConfig(cfg)
	name := fmt.Sprintf("mad-bench-floor-%d", time.Now().UnixNano())
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "120"}})
	if err != nil {
		return nil, err
	}
	defer c.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	for i := 0; i < n; i += 10 {
		var batch []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, n); j++ {
			batch = append(batch, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)),
				MessageBody: aws.String(fmt.Sprintf(`{"job_id":"%d","org_id":"bench"}`, j))})
		}
		if _, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: batch}); err != nil {
			return nil, err
		}
	}
	var left atomic.Int64
	left.Store(int64(n))
	res := loadgen.Run(ctx, consumers, n, 0, func(ctx context.Context) error {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"}})
		if err != nil {
			return err
		}
		if len(out.Messages) == 0 {
			return fmt.Errorf("queue empty with %d left", left.Load())
		}
		left.Add(-1)
		_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: out.Messages[0].ReceiptHandle})
		return err
	})
	if res.Errors > 0 {
		return nil, fmt.Errorf("%d of %d receive/delete cycles failed; first: %s", res.Errors, n, res.FirstErr)
	}
	m := res.Metrics()
	return &sqsFloor{Messages: n, Consumers: consumers, CycleP50: m["p50-ms"], CycleP95: m["p95-ms"], PerSecond: res.RPS()}, nil
}
