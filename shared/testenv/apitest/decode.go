package apitest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// Decode decodes exactly one JSON value of b into v, refusing unknown
// fields: a field the type does not have is a field the code under test
// never sees (a typo, a wrong event shape, a field the contract does not
// list). A second value after the first is refused too.
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return &json.SyntaxError{Offset: dec.InputOffset()}
	}
	return nil
}

// DecodeStrict is Decode that fails the test on an error.
func DecodeStrict(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := Decode(b, v); err != nil {
		t.Fatalf("decode %s into %T: %v", b, v, err)
	}
}

// DecodeResp checks the status and decodes the body strictly: a field
// the contract does not list fails.
func DecodeResp[T any](t testing.TB, resp events.APIGatewayV2HTTPResponse, status int) T {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
	var v T
	DecodeStrict(t, []byte(resp.Body), &v)
	return v
}
