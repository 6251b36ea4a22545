// Command sweeper is a stand-in of functions/sweeper: it logs each tick.
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(ctx context.Context, ev events.EventBridgeEvent) error {
	log.Printf("sweeper: %s %s at %s", ev.Source, ev.DetailType, ev.Time)
	return nil
}

func main() { lambda.Start(handle) }
