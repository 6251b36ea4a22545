package apitest_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
)

// recorder is a testing.TB whose Fatal* records the failure and ends the
// goroutine, so that a test can assert that a helper fails.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.msg = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fails runs check with a recorder and returns its failure message ("" if
// it passed).
func fails(t *testing.T, check func(tb testing.TB)) string {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.msg
}

func TestRepoRoot(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join(apitest.RepoRoot(t), "go.mod")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(apitest.EventsDir(t), "README.md")); err != nil {
		t.Fatal(err)
	}
	if len(apitest.Testdata(t, "1iep/1iep_ligand.sdf")) == 0 {
		t.Fatal("empty testdata file")
	}
	if msg := fails(t, func(tb testing.TB) { apitest.ReadEvent(tb, "no/such.json") }); msg == "" {
		t.Fatal("ReadEvent of a missing file passed")
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	var v struct {
		A int `json:"a"`
	}
	if err := apitest.Decode([]byte(`{"a":1}`), &v); err != nil || v.A != 1 {
		t.Fatalf("Decode = %v, %+v", err, v)
	}
	for _, b := range []string{`{"a":1,"b":2}`, `{"a":1} {}`, `{"a":`, ``} {
		if err := apitest.Decode([]byte(b), &v); err == nil {
			t.Errorf("Decode accepted %q", b)
		}
	}
	if msg := fails(t, func(tb testing.TB) { apitest.DecodeStrict(tb, []byte(`{"b":1}`), &v) }); msg == "" {
		t.Fatal("DecodeStrict accepted an unknown field")
	}
}

func TestAPIEvent(t *testing.T) {
	t.Parallel()
	const sampleRequestID = "0193d2a0-0000-7000-8000-00000000000b"
	ev := apitest.LoadAPIEvent(t, "apigw/health/health.json")
	if ev.RouteKey != "GET /health" || ev.Headers["x-request-id"] != sampleRequestID {
		t.Fatalf("sample as in the file: %s %v", ev.RouteKey, ev.Headers)
	}
	p := domain.Principal{SubjectID: domain.NewID(), SubjectType: domain.SubjectUser, OrgID: domain.NewID(),
		Roles: []domain.Role{domain.RoleViewer}, TokenID: domain.NewID()}
	ev = apitest.APIEvent(t, "apigw/health/health.json", &p, "/health", "/elsewhere")
	if rid := ev.Headers["x-request-id"]; rid == sampleRequestID || !domain.IsID(rid) {
		t.Fatalf("x-request-id %q, want a fresh one", rid)
	}
	if ev.RawPath != "/elsewhere" || ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.Lambda["sub"] != p.SubjectID {
		t.Fatalf("replacements or principal missing: %s %+v", ev.RawPath, ev.RequestContext.Authorizer)
	}
	apitest.SetJSON(t, &ev, map[string]string{"k": "v"})
	if ev.Body != `{"k":"v"}` || ev.IsBase64Encoded || ev.Headers["content-length"] != "9" {
		t.Fatalf("SetJSON: %q %v", ev.Body, ev.Headers)
	}
	apitest.SetQuery(&ev, map[string]string{"limit": "1", "cursor": "a b"})
	if ev.RawQueryString != "cursor=a+b&limit=1" || ev.QueryStringParameters["limit"] != "1" {
		t.Fatalf("SetQuery: %q", ev.RawQueryString)
	}
}

func TestSQSEvent(t *testing.T) {
	t.Parallel()
	ev := apitest.LoadEvent[events.SQSEvent](t, "sqs/jobs-message.json")
	before := ev.Records[0].MessageId
	ev = apitest.WithBody(ev, "hello")
	sum := md5.Sum([]byte("hello"))
	r := ev.Records[0]
	if r.Body != "hello" || r.Md5OfBody != hex.EncodeToString(sum[:]) || r.MessageId == before || !domain.IsID(r.MessageId) {
		t.Fatalf("record %+v", r)
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "a"}, {ItemIdentifier: "b"}}}
	if got := apitest.Failures(resp); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("Failures = %v", got)
	}
	ack := func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	}
	apitest.RequireRuntimeAcks(t, ack, ev)
	retry := func(_ context.Context, e events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: e.Records[0].MessageId}}}, nil
	}
	if msg := fails(t, func(tb testing.TB) { apitest.RequireRuntimeAcks(tb, retry, ev) }); msg == "" {
		t.Fatal("RequireRuntimeAcks passed a reported failure")
	}
}

// healthMux serves GET /health with h.
func healthMux(h apigw.HandlerFunc) *apigw.Mux {
	mux := apigw.NewMux(routes.FnHealth, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux.Handle("GET /health", h)
	return mux
}

func TestServe(t *testing.T) {
	t.Parallel()
	ev := apitest.APIEvent(t, "apigw/health/health.json", nil)
	ok := healthMux(func(context.Context, *apigw.Request) (*apigw.Response, error) {
		return apigw.JSON(http.StatusOK, map[string]string{"status": "ok"}), nil
	})
	if resp := apitest.Serve(t, ok, ev); resp.StatusCode != http.StatusOK || resp.Headers["X-Request-Id"] != ev.Headers["x-request-id"] {
		t.Fatalf("Serve = %d %v", resp.StatusCode, resp.Headers)
	}
	if msg := fails(t, func(tb testing.TB) { apitest.RequireMux(tb, ok) }); msg == "" {
		t.Fatal("RequireMux passed a mux without the function's other routes")
	}

	invalid := healthMux(func(context.Context, *apigw.Request) (*apigw.Response, error) {
		return nil, domain.InvalidField("limit", "too many")
	})
	resp := apitest.Serve(t, invalid, ev)
	e := apitest.RequireError(t, resp, http.StatusBadRequest, domain.CodeValidation, "limit")
	if e.Error.Message == "" {
		t.Fatalf("error body %+v", e)
	}
	for name, check := range map[string]func(tb testing.TB){
		"another status": func(tb testing.TB) { apitest.RequireError(tb, resp, http.StatusNotFound, domain.CodeValidation) },
		"another code":   func(tb testing.TB) { apitest.RequireError(tb, resp, http.StatusBadRequest, domain.CodeConflict) },
		"another field": func(tb testing.TB) {
			apitest.RequireError(tb, resp, http.StatusBadRequest, domain.CodeValidation, "cursor")
		},
		"a 500": func(tb testing.TB) {
			apitest.Serve(tb, healthMux(func(context.Context, *apigw.Request) (*apigw.Response, error) {
				return nil, errors.New("boom")
			}), ev)
		},
		"no no-store": func(tb testing.TB) {
			apitest.Serve(tb, healthMux(func(context.Context, *apigw.Request) (*apigw.Response, error) {
				return &apigw.Response{Status: http.StatusOK, RawBody: []byte("{}"), Headers: map[string]string{"Cache-Control": "public, max-age=300"}}, nil
			}), ev)
		},
		"an error outside the contract": func(tb testing.TB) {
			apitest.RequireErrorShape(tb, events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest,
				Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"error":{"code":"VALIDATION_FAILED","message":"x","hint":"y"}}`})
		},
	} {
		if msg := fails(t, check); msg == "" {
			t.Errorf("%s passed", name)
		} else {
			t.Logf("%s: %s", name, msg)
		}
	}
}

func TestFuzzHelpers(t *testing.T) {
	t.Parallel()
	r := apitest.FuzzRoute{Key: "GET /health"}
	ev := apitest.FuzzEvent(r, "application/json", false, []byte("\xff"))
	if !ev.IsBase64Encoded || ev.RawPath != "/health" || ev.RequestContext.HTTP.Method != "GET" || ev.Headers["content-type"] != "application/json" {
		t.Fatalf("event %+v", ev)
	}
	apitest.RequireRoutes(t, r)
	if msg := fails(t, func(tb testing.TB) { apitest.RequireRoutes(tb, apitest.FuzzRoute{Key: "GET /nowhere"}) }); msg == "" {
		t.Fatal("RequireRoutes passed a route outside the table")
	}

	leak := healthMux(func(context.Context, *apigw.Request) (*apigw.Response, error) {
		return nil, &domain.Error{Code: domain.CodeValidation, Message: "pgconn: SQLSTATE 22P02", Fields: map[string]string{"x": "bad"}}
	})
	if msg := fails(t, func(tb testing.TB) {
		apitest.ServeFuzz(tb, leak, apitest.FuzzEvent(r, "", false, []byte(`{}`)), []byte(`{}`))
	}); msg == "" {
		t.Fatal("ServeFuzz passed a leak")
	} else {
		t.Log(msg)
	}
	// What the client sent is not a leak.
	apitest.ServeFuzz(t, leak, apitest.FuzzEvent(r, "", false, []byte(`{"pgconn: sqlstate 22p02":1}`)), []byte(`{"pgconn: sqlstate 22p02":1}`))

	apitest.CheckDecodeErr(t, []byte(`{"x":1}`), apigw.DecodeStrict([]byte(`{"x":1}`), new(struct{})))
	if msg := fails(t, func(tb testing.TB) { apitest.CheckDecodeErr(tb, []byte(`{`), nil) }); msg == "" {
		t.Fatal("CheckDecodeErr passed invalid JSON accepted")
	}
}
