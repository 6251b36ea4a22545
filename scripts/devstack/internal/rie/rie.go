// Package rie runs Lambda function binaries under the AWS Lambda Runtime
// Interface Emulator, one emulator process per instance, and keeps a pool
// of instances per function the way Lambda keeps execution environments:
// an instance serves one invoke at a time, a busy pool queues callers, and
// an instance whose process died is replaced.
//
// How this emulator version reports outcomes (checked against it):
//   - success: 200 with the handler's JSON;
//   - handler returned an error: 200 with {"errorMessage","errorType"}
//     (no X-Amz-Function-Error header, unlike Lambda);
//   - handler panicked: 502 with {"errorMessage","errorType","stackTrace"};
//   - runtime process exited: 502 with errorType "Runtime.ExitError"
//     (200 with that errorType when the runtime exits during init);
//   - timeout: 200 with the text "Task timed out after N.00 seconds";
//     the emulator kills the runtime and re-inits it on the next invoke;
//   - a second concurrent invoke: 400 (the emulator serves one at a time).
package rie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ErrorKind classifies a failed invoke.
type ErrorKind string

// Error kinds.
const (
	// KindFunction: the handler returned an error or panicked (Lambda's
	// "Unhandled" function error).
	KindFunction ErrorKind = "function_error"
	// KindTimeout: the invoke ran past the function's timeout.
	KindTimeout ErrorKind = "timeout"
	// KindCrash: the runtime or the emulator process died mid-invoke.
	KindCrash ErrorKind = "crash"
	// KindUnavailable: no instance became free in time, or the pool is closed.
	KindUnavailable ErrorKind = "unavailable"
)

// InvokeError is a failed invoke.
type InvokeError struct {
	Function string
	Kind     ErrorKind
	// Type and Message come from the runtime's error payload when there is one.
	Type    string
	Message string
	// Payload is the raw response, if any.
	Payload []byte
}

func (e *InvokeError) Error() string {
	s := fmt.Sprintf("invoke %s: %s", e.Function, e.Kind)
	if e.Type != "" {
		s += " (" + e.Type + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// IsKind reports whether err is an InvokeError of kind k.
func IsKind(err error, k ErrorKind) bool {
	var ie *InvokeError
	return errors.As(err, &ie) && ie.Kind == k
}

// Invoker invokes a function by name with a JSON payload and returns its
// JSON result, or an *InvokeError.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

const invokePath = "/2015-03-31/functions/function/invocations"

// errorPayload is the runtime's error shape.
type errorPayload struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

// looksLikeError reports whether a 200 body is the runtime's error payload:
// a JSON object whose only keys are those of the error shape.
func looksLikeError(body []byte) (errorPayload, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return errorPayload{}, false
	}
	_, hasMsg := m["errorMessage"]
	_, hasType := m["errorType"]
	if !hasMsg || !hasType {
		return errorPayload{}, false
	}
	for k := range m {
		switch k {
		case "errorMessage", "errorType", "stackTrace", "requestId", "cause":
		default:
			return errorPayload{}, false
		}
	}
	var p errorPayload
	_ = json.Unmarshal(body, &p)
	return p, true
}

// classify turns the emulator's HTTP answer into a result or an error.
func classify(fn string, status int, body []byte) ([]byte, error) {
	switch {
	case status == http.StatusOK:
		if bytes.HasPrefix(body, []byte("Task timed out after")) {
			return nil, &InvokeError{Function: fn, Kind: KindTimeout, Message: string(body), Payload: body}
		}
		if p, ok := looksLikeError(body); ok {
			kind := KindFunction
			if strings.HasPrefix(p.ErrorType, "Runtime.") {
				// e.g. Runtime.ExitError: the runtime died (a failed cold
				// start), which is not the handler's error.
				kind = KindCrash
			}
			return nil, &InvokeError{Function: fn, Kind: kind, Type: p.ErrorType, Message: p.ErrorMessage, Payload: body}
		}
		return body, nil
	case status == http.StatusBadGateway:
		p, _ := looksLikeError(body)
		if p.ErrorType == "" {
			var q errorPayload
			_ = json.Unmarshal(body, &q)
			p = q
		}
		kind := KindFunction
		if strings.HasPrefix(p.ErrorType, "Runtime.") {
			kind = KindCrash
		}
		return nil, &InvokeError{Function: fn, Kind: kind, Type: p.ErrorType, Message: p.ErrorMessage, Payload: body}
	case status == http.StatusGatewayTimeout:
		return nil, &InvokeError{Function: fn, Kind: KindTimeout, Message: "emulator reported a reservation timeout", Payload: body}
	default:
		return nil, &InvokeError{Function: fn, Kind: KindCrash, Message: fmt.Sprintf("emulator answered HTTP %d: %s", status, truncate(body, 300)), Payload: body}
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// post sends one invoke to an emulator.
func post(ctx context.Context, client *http.Client, addr, requestID string, payload []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+invokePath, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if requestID != "" {
		req.Header.Set("X-Amzn-RequestId", requestID)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// KindName returns the error's kind as a string.
func (e *InvokeError) KindName() string { return string(e.Kind) }

// ErrorMessage returns the runtime's errorMessage, if any.
func (e *InvokeError) ErrorMessage() string { return e.Message }
