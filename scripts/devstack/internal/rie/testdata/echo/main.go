// Command echo is a tiny Lambda for the emulator pool's tests: it echoes
// its event and, on request, sleeps, fails, panics or exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type event struct {
	SleepMS int    `json:"sleep_ms"`
	HangMS  int    `json:"hang_ms"` // sleeps ignoring the deadline, so only the emulator can end it
	Error   string `json:"error"`
	Panic   string `json:"panic"`
	Exit    int    `json:"exit"`
	Raw     any    `json:"raw"`
}

type reply struct {
	Event    json.RawMessage `json:"event"`
	PID      int             `json:"pid"`
	Function string          `json:"function"`
	Env      string          `json:"env"`
}

func handle(ctx context.Context, in json.RawMessage) (any, error) {
	var e event
	_ = json.Unmarshal(in, &e)
	if e.SleepMS > 0 {
		select {
		case <-time.After(time.Duration(e.SleepMS) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if e.HangMS > 0 {
		time.Sleep(time.Duration(e.HangMS) * time.Millisecond)
	}
	switch {
	case e.Exit != 0:
		os.Exit(e.Exit)
	case e.Panic != "":
		panic(e.Panic)
	case e.Error != "":
		return nil, errors.New(e.Error)
	case e.Raw != nil:
		return e.Raw, nil
	}
	return reply{Event: in, PID: os.Getpid(), Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), Env: os.Getenv("ECHO_ENV")}, nil
}

func main() { lambda.Start(handle) }
