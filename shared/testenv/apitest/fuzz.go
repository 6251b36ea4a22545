package apitest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
)

// FuzzRoute is one POST/PATCH route of a function as a fuzz target calls
// it.
type FuzzRoute struct {
	Key       string            // the route key, "METHOD /path"
	Params    map[string]string // path parameters
	Principal *domain.Principal // nil: no authorizer context (public route)
}

// RequireRoutes fails unless every route of rts is in the route table
// (shared/routes): a fuzz target must not exercise a route API Gateway
// never sends.
func RequireRoutes(t testing.TB, rts ...FuzzRoute) {
	t.Helper()
	for _, r := range rts {
		if _, ok := routes.ByKey(r.Key); !ok {
			t.Fatalf("route %s is not in the table", r.Key)
		}
	}
}

// FuzzEvent builds the API Gateway v2 event of route r carrying body with
// content type ctype (none when empty), base64-encoded when b64 or when
// body is not UTF-8 (as API Gateway does for binary bodies).
func FuzzEvent(r FuzzRoute, ctype string, b64 bool, body []byte) *events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(r.Key, " ")
	ev := &events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: r.Key, RawPath: path, PathParameters: r.Params,
		Headers: map[string]string{"x-request-id": domain.NewID()},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: domain.NewID(), HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
	if ctype != "" {
		ev.Headers["content-type"] = ctype
	}
	if b64 || !utf8.Valid(body) {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	} else {
		ev.Body = string(body)
	}
	if r.Principal != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			Lambda: apigw.PrincipalContext(*r.Principal)}
	}
	return ev
}

// MaxFieldLen bounds the field names of VALIDATION_FAILED, in characters:
// a client's unknown field is named truncated to 64 bytes plus an
// ellipsis (a rune cut by the truncation reaches the client as U+FFFD).
const MaxFieldLen = 64 + len("...")

// leaks are what no error response may carry unless the client sent it:
// panics, stack traces, SQL errors, driver and Go type names, fmt's
// complaints.
var leaks = []string{"panic", "goroutine", "SQLSTATE", "pgx", "pgconn", "postgres", "runtime error",
	"nil pointer", "json: ", "Go value", "Go struct", "main.", "app.", "domain.", "apigw.", "wire.", "*string",
	"[]string", "int64", "float64", "map[", "struct {", "interface {", "%!", ".go:"}

// sentText is everything the client sent in readable form, lower-cased: the
// raw body and every key and string value in it when it is JSON, so that
// an error that names a field the client invented is not taken for a
// leak.
func sentText(body []byte) string {
	var b strings.Builder
	b.Write(body)
	var v any
	if json.Unmarshal(body, &v) == nil {
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case string:
				b.WriteString("\n" + x)
			case []any:
				for _, y := range x {
					walk(y)
				}
			case map[string]any:
				for k, y := range x {
					b.WriteString("\n" + k)
					walk(y)
				}
			}
		}
		walk(v)
	}
	return strings.ToLower(b.String())
}

// CheckFuzzResponse asserts what every answer of route to body must
// satisfy: never 5xx; a UUID X-Request-Id and Cache-Control: no-store;
// on 4xx the contract's error shape, a VALIDATION_FAILED that names a
// field, field names of at most MaxFieldLen characters, and nothing
// leaked (a panic, a stack trace, SQL, Go type names) that the client did
// not send.
func CheckFuzzResponse(t testing.TB, route string, body []byte, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if resp.StatusCode < 200 || resp.StatusCode >= 500 {
		t.Fatalf("%s %q: %d %s", route, body, resp.StatusCode, resp.Body)
	}
	if !domain.IsID(resp.Headers["X-Request-Id"]) || resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("%s: headers %v", route, resp.Headers)
	}
	if resp.StatusCode < 400 {
		return
	}
	var e ErrorBody
	if err := Decode([]byte(resp.Body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" ||
		resp.Headers["Content-Type"] != "application/json" || apigw.StatusOf(domain.Code(e.Error.Code)) != resp.StatusCode {
		t.Fatalf("%s %q: %d %s is not in the contract's error shape (%v)", route, body, resp.StatusCode, resp.Body, err)
	}
	if e.Error.Code == string(domain.CodeValidation) && (e.Error.Details == nil || len(e.Error.Details.Fields) == 0) {
		t.Fatalf("%s %q: VALIDATION_FAILED names no field: %s", route, body, resp.Body)
	}
	if e.Error.Details != nil {
		for f := range e.Error.Details.Fields {
			if utf8.RuneCountInString(f) > MaxFieldLen {
				t.Fatalf("%s %q: %d-byte field name %.100q", route, body, len(f), f)
			}
		}
	}
	sent, got := sentText(body), strings.ToLower(resp.Body)
	for _, w := range leaks {
		if lw := strings.ToLower(w); strings.Contains(got, lw) && !strings.Contains(sent, lw) {
			t.Fatalf("%s %q: error response carries %q: %s", route, body, w, resp.Body)
		}
	}
}

// ServeFuzz runs ev, an event of FuzzEvent (possibly adjusted), through
// mux's wrapper and applies CheckFuzzResponse to the answer; body is the
// body ev carries, before any base64 encoding.
func ServeFuzz(t testing.TB, mux *apigw.Mux, ev *events.APIGatewayV2HTTPRequest, body []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	route := ev.RouteKey
	resp := mux.Serve(context.Background(), ev)
	CheckFuzzResponse(t, route, body, resp)
	return resp
}

// CheckDecodeErr checks the result of apigw.DecodeStrict on b: nil only
// for valid JSON, otherwise VALIDATION_FAILED (400) naming one field of
// at most MaxFieldLen characters with a message of at most 100 bytes.
func CheckDecodeErr(t testing.TB, b []byte, err error) {
	t.Helper()
	if err == nil {
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		return
	}
	de, ok := domain.AsError(err)
	if !ok || de.Code != domain.CodeValidation || len(de.Fields) != 1 || apigw.StatusOf(de.Code) != http.StatusBadRequest {
		t.Fatalf("%q: %v, want VALIDATION_FAILED naming one field", b, err)
	}
	for field, msg := range de.Fields {
		if utf8.RuneCountInString(field) > MaxFieldLen || len(msg) > 100 {
			t.Fatalf("%q: field %.100q message %.100q", b, field, msg)
		}
	}
}
