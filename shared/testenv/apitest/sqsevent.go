package apitest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/shared/domain"
)

// WithBody puts body into ev's first record as a new message: the body,
// its MD5 and a fresh message id.
func WithBody(ev events.SQSEvent, body string) events.SQSEvent {
	r := &ev.Records[0]
	sum := md5.Sum([]byte(body))
	r.Body, r.Md5OfBody, r.MessageId = body, hex.EncodeToString(sum[:]), domain.NewID()
	return ev
}

// Failures returns the message ids a partial batch response reports for
// redelivery.
func Failures(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// RequireRuntimeAcks sends ev to handler through the Lambda runtime's
// JSON (lambda.NewHandler) and fails unless the runtime's response
// decodes strictly into a partial batch response that reports no
// failures.
func RequireRuntimeAcks(t testing.TB, handler any, ev events.SQSEvent) {
	t.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(handler).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	DecodeStrict(t, out, &resp)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("runtime response %s", out)
	}
}
