// Command hello is the floor of the cold-start benchmark: an aws-lambda-go
// function that does nothing, built exactly like the real functions
// (CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags='-s -w').
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func handle(context.Context, json.RawMessage) (string, error) { return "hello", nil }

func main() { lambda.Start(handle) }
