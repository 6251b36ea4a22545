// Command ingest is a stand-in of functions/ingest: it logs each S3 event.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	for _, r := range ev.Records {
		log.Printf("ingest: message %s receive count %s: %s", r.MessageId, r.Attributes["ApproximateReceiveCount"], r.Body)
	}
	return events.SQSEventResponse{}, nil
}

func main() { lambda.Start(handle) }
