package apitest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
)

// RequireMux fails unless mux has a handler for every route of the table
// that its function serves (apigw.Mux.Check), and returns mux.
func RequireMux(t testing.TB, mux *apigw.Mux) *apigw.Mux {
	t.Helper()
	if err := mux.Check(); err != nil {
		t.Fatal(err)
	}
	return mux
}

// Invoke calls mux's Lambda handler with ev and checks what every
// response of every API function carries: the client's X-Request-Id
// echoed when it is a UUID (in any case), else a generated UUID;
// X-Content-Type-Options: nosniff; and never a 500.
func Invoke(t testing.TB, mux *apigw.Mux, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := mux.Lambda(context.Background(), ev)
	if err != nil {
		t.Fatalf("Lambda returned an error: %v", err)
	}
	rid := resp.Headers["X-Request-Id"]
	if sent := ev.Headers["x-request-id"]; domain.IsID(sent) && !strings.EqualFold(rid, sent) {
		t.Fatalf("X-Request-Id %q, want the client's %q echoed", rid, sent)
	}
	if !domain.IsID(rid) {
		t.Fatalf("%s: X-Request-Id %q is not a UUID (headers %v)", ev.RouteKey, rid, resp.Headers)
	}
	if resp.Headers["X-Content-Type-Options"] != "nosniff" {
		t.Fatalf("%s: headers %v lack X-Content-Type-Options: nosniff", ev.RouteKey, resp.Headers)
	}
	if resp.StatusCode == http.StatusInternalServerError {
		t.Fatalf("%s answered 500: %s", ev.RouteKey, resp.Body)
	}
	return resp
}

// Serve is Invoke for the routes of the API functions, whose every
// response also carries Cache-Control: no-store and whose every error is
// in the contract's shape (RequireErrorShape).
func Serve(t testing.TB, mux *apigw.Mux, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp := Invoke(t, mux, ev)
	if resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("%s: headers %v lack Cache-Control: no-store", ev.RouteKey, resp.Headers)
	}
	if resp.StatusCode >= 400 {
		RequireErrorShape(t, resp)
	}
	return resp
}

// ErrorBody is the contract's error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details *struct {
			Fields map[string]string `json:"fields"`
		} `json:"details,omitempty"`
	} `json:"error"`
}

// RequireErrorShape checks that resp is an error in the contract's shape:
// a JSON body {"error":{"code","message","details"?}} and nothing else,
// with a code and a message, Content-Type application/json, and the
// status the code maps to. It returns the decoded body.
func RequireErrorShape(t testing.TB, resp events.APIGatewayV2HTTPResponse) ErrorBody {
	t.Helper()
	var e ErrorBody
	DecodeStrict(t, []byte(resp.Body), &e)
	if e.Error.Code == "" || e.Error.Message == "" || resp.Headers["Content-Type"] != "application/json" {
		t.Fatalf("error %d %s is not in the contract's shape", resp.StatusCode, resp.Body)
	}
	if got := apigw.StatusOf(domain.Code(e.Error.Code)); got != resp.StatusCode {
		t.Fatalf("status %d with code %s, which maps to %d", resp.StatusCode, e.Error.Code, got)
	}
	return e
}

// RequireError checks status and code and, when fields are given, that
// details.fields names each of them.
func RequireError(t testing.TB, resp events.APIGatewayV2HTTPResponse, status int, code domain.Code, fields ...string) ErrorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d %s: %s", resp.StatusCode, status, code, resp.Body)
	}
	e := RequireErrorShape(t, resp)
	if e.Error.Code != string(code) {
		t.Fatalf("code %s, want %s: %s", e.Error.Code, code, resp.Body)
	}
	for _, f := range fields {
		if e.Error.Details == nil || e.Error.Details.Fields[f] == "" {
			t.Fatalf("details.fields does not name %q: %s", f, resp.Body)
		}
	}
	return e
}
