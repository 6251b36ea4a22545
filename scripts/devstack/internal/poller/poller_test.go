package poller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/poller"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
	"github.com/mad-bio/mad/shared/stack"
)

func clients(t *testing.T) *awsx.Clients {
	t.Helper()
	ep := os.Getenv("MAD_TEST_AWS_ENDPOINT")
	if ep == "" {
		t.Fatal("MAD_TEST_AWS_ENDPOINT is not set: run the tests with `make test` (or scripts/testenv.sh go test ./scripts/...), which starts moto")
	}
	c, err := awsx.New(context.Background(), ep, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type queues struct {
	url, arn, dlqURL, dlqARN string
}

// newQueues makes a queue with a 1 s visibility timeout and a DLQ after
// stack.JobsMaxReceiveCount receives, like the jobs queue.
func newQueues(t *testing.T, c *awsx.Clients) queues {
	t.Helper()
	ctx := context.Background()
	name := "poller-" + state.Random(8)
	var q queues
	dlq, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	q.dlqURL = *dlq.QueueUrl
	q.dlqARN = queueARN(t, c, q.dlqURL)
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.dlqARN, "maxReceiveCount": stack.JobsMaxReceiveCount})
	out, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		"VisibilityTimeout": "1", "RedrivePolicy": string(redrive)}})
	if err != nil {
		t.Fatal(err)
	}
	q.url = *out.QueueUrl
	q.arn = queueARN(t, c, q.url)
	return q
}

func queueARN(t *testing.T, c *awsx.Clients, url string) string {
	t.Helper()
	a, err := c.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Attributes["QueueArn"]
}

func send(t *testing.T, c *awsx.Clients, url, body string) string {
	t.Helper()
	out, err := c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
		MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("test")}}})
	if err != nil {
		t.Fatal(err)
	}
	return *out.MessageId
}

// scripted answers invokes from a function and records the events.
type scripted struct {
	mu     sync.Mutex
	events []events.SQSEvent
	raw    [][]byte
	answer func(ev events.SQSEvent) ([]byte, error)
}

func (s *scripted) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	var ev events.SQSEvent
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("event does not decode as events.SQSEvent: %w", err)
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.raw = append(s.raw, payload)
	s.mu.Unlock()
	return s.answer(ev)
}

// run starts the pollers and returns a channel of results and a stop func.
func run(t *testing.T, c *awsx.Clients, q queues, inv poller.Invoker) (<-chan poller.Result, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan poller.Result, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		poller.Run(ctx, poller.Config{Function: "engine", QueueURL: q.url, QueueARN: q.arn, Region: "us-east-1",
			Invoker: inv, SQS: c.SQS, Concurrency: 1, WaitSeconds: 1,
			OnResult: func(r poller.Result) { results <- r }})
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return results, stop
}

func next(t *testing.T, results <-chan poller.Result, within time.Duration) poller.Result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(within):
		t.Fatalf("no message handled within %s", within)
		return poller.Result{}
	}
}

func depth(t *testing.T, c *awsx.Clients, url string) int {
	t.Helper()
	a, err := c.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := strconv.Atoi(a.Attributes["ApproximateNumberOfMessages"])
	a2, _ := strconv.Atoi(a.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return a1 + a2
}

func TestSuccessDeletesAndEventShape(t *testing.T) {
	c := clients(t)
	q := newQueues(t, c)
	inv := &scripted{answer: func(events.SQSEvent) ([]byte, error) { return []byte(`{"batchItemFailures":[]}`), nil }}
	results, stop := run(t, c, q, inv)
	id := send(t, c, q.url, `{"job_id":"j1","org_id":"o1"}`)
	r := next(t, results, 10*time.Second)
	stop()
	if r.Outcome != poller.Deleted || r.MessageID != id || r.Err != nil {
		t.Fatalf("result %+v", r)
	}
	if n := depth(t, c, q.url); n != 0 {
		t.Errorf("queue holds %d messages after success", n)
	}
	ev := inv.events[0]
	if len(ev.Records) != 1 {
		t.Fatalf("batch of %d", len(ev.Records))
	}
	m := ev.Records[0]
	if m.MessageId != id || m.Body != `{"job_id":"j1","org_id":"o1"}` || m.EventSource != "aws:sqs" || m.EventSourceARN != q.arn ||
		m.AWSRegion != "us-east-1" || m.ReceiptHandle == "" || m.Md5OfBody == "" {
		t.Errorf("record %+v", m)
	}
	for _, k := range []string{"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} {
		if m.Attributes[k] == "" {
			t.Errorf("attribute %s missing: %v", k, m.Attributes)
		}
	}
	if a := m.MessageAttributes["kind"]; a.DataType != "String" || aws.ToString(a.StringValue) != "test" {
		t.Errorf("message attribute %+v", a)
	}

	// Same keys as the SAM sample (sam local generate-event sqs receive-message).
	raw, err := os.ReadFile("testdata/sam-sqs-receive-message.json")
	if err != nil {
		t.Fatal(err)
	}
	var want, got struct {
		Records []map[string]any `json:"Records"`
	}
	_ = json.Unmarshal(raw, &want)
	_ = json.Unmarshal(inv.raw[0], &got)
	for k := range want.Records[0] {
		if _, ok := got.Records[0][k]; !ok {
			t.Errorf("record lacks %q", k)
		}
	}
	wattrs := keys(want.Records[0]["attributes"].(map[string]any))
	for _, k := range wattrs {
		if _, ok := got.Records[0]["attributes"].(map[string]any)[k]; !ok {
			t.Errorf("attributes lack %q", k)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestFailureRedeliversThenDeadLetters(t *testing.T) {
	c := clients(t)
	q := newQueues(t, c)
	inv := &scripted{answer: func(events.SQSEvent) ([]byte, error) { return nil, errors.New("transient: database unavailable") }}
	results, stop := run(t, c, q, inv)
	id := send(t, c, q.url, `{"job_id":"j2"}`)
	for i := 1; i <= stack.JobsMaxReceiveCount; i++ {
		r := next(t, results, 15*time.Second)
		if r.Outcome != poller.Left || r.MessageID != id || r.ReceiveCount != strconv.Itoa(i) {
			t.Fatalf("delivery %d: %+v", i, r)
		}
	}
	// After maxReceiveCount receives SQS moves the message to the DLQ.
	deadline := time.Now().Add(20 * time.Second)
	var got []types.Message
	for time.Now().Before(deadline) && len(got) == 0 {
		out, err := c.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.dlqURL), WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		got = out.Messages
	}
	stop()
	if len(got) != 1 || aws.ToString(got[0].MessageId) != id || aws.ToString(got[0].Body) != `{"job_id":"j2"}` {
		t.Fatalf("DLQ holds %+v, want message %s", got, id)
	}
	if len(inv.events) != stack.JobsMaxReceiveCount {
		t.Errorf("invoked %d times, want %d", len(inv.events), stack.JobsMaxReceiveCount)
	}
	if n := depth(t, c, q.url); n != 0 {
		t.Errorf("source queue still holds %d messages", n)
	}
}

func TestBatchItemFailuresHonoured(t *testing.T) {
	c := clients(t)
	q := newQueues(t, c)
	var calls int
	var mu sync.Mutex
	inv := &scripted{answer: func(ev events.SQSEvent) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return json.Marshal(events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: ev.Records[0].MessageId}}})
		}
		return json.Marshal(events.SQSEventResponse{})
	}}
	results, stop := run(t, c, q, inv)
	id := send(t, c, q.url, "x")
	r := next(t, results, 10*time.Second)
	if r.Outcome != poller.Left || r.ReceiveCount != "1" {
		t.Fatalf("first delivery %+v", r)
	}
	r = next(t, results, 10*time.Second)
	stop()
	if r.Outcome != poller.Deleted || r.MessageID != id || r.ReceiveCount != "2" {
		t.Fatalf("second delivery %+v", r)
	}
	if n := depth(t, c, q.url); n != 0 {
		t.Errorf("queue holds %d messages", n)
	}
}
