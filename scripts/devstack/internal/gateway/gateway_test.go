package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/scripts/devstack/internal/gateway"
)

// fakeInvoker records invokes and answers with per-function functions.
type fakeInvoker struct {
	mu    sync.Mutex
	calls []call
	fns   map[string]func(payload []byte) ([]byte, error)
}

type call struct {
	fn      string
	payload []byte
}

func (f *fakeInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{fn, payload})
	h := f.fns[fn]
	f.mu.Unlock()
	if h == nil {
		return nil, errors.New("no such function " + fn)
	}
	return h(payload)
}

func (f *fakeInvoker) called(fn string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.fn == fn {
			out = append(out, c)
		}
	}
	return out
}

// invokeErr mimics rie.InvokeError.
type invokeErr struct{ kind, msg string }

func (e invokeErr) Error() string        { return "invoke: " + e.kind + ": " + e.msg }
func (e invokeErr) KindName() string     { return e.kind }
func (e invokeErr) ErrorMessage() string { return e.msg }

func ok200(body string) func([]byte) ([]byte, error) {
	return func([]byte) ([]byte, error) {
		return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: body, Headers: map[string]string{"Content-Type": "application/json"}})
	}
}

func allow(ctx map[string]any) func([]byte) ([]byte, error) {
	return func([]byte) ([]byte, error) {
		return json.Marshal(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: ctx})
	}
}

func newGateway(t *testing.T, inv *fakeInvoker, logs io.Writer) *httptest.Server {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	g := gateway.New(gateway.Config{
		Invoker:   inv,
		AccountID: "123456789012",
		Region:    "us-east-1",
		APIID:     "local",
		Timeout:   func(string) time.Duration { return 200 * time.Millisecond },
		AccessLog: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func newReq(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func lastEvent(t *testing.T, inv *fakeInvoker, fn string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	cs := inv.called(fn)
	if len(cs) == 0 {
		t.Fatalf("%s was not invoked", fn)
	}
	var ev events.APIGatewayV2HTTPRequest
	dec := json.NewDecoder(bytes.NewReader(cs[len(cs)-1].payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("event does not decode as APIGatewayV2HTTPRequest: %v", err)
	}
	return ev
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestEventMatchesSAMSample sends the request the SAM sample describes
// (sam local generate-event apigateway http-api-proxy, SAM CLI 1.170.0)
// and compares the event field by field.
func TestEventMatchesSAMSample(t *testing.T) {
	raw, err := os.ReadFile("testdata/sam-http-api-proxy.json")
	if err != nil {
		t.Fatal(err)
	}
	var want events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	inv := &fakeInvoker{fns: map[string]func([]byte) ([]byte, error){"health": ok200(`{}`)}}
	srv := newGateway(t, inv, nil)
	body, _ := base64.StdEncoding.DecodeString(want.Body)
	req := newReq(t, want.RequestContext.HTTP.Method, srv.URL+want.RawPath+"?"+want.RawQueryString, bytes.NewReader(body))
	req.Header.Set("Header1", "value1")
	req.Header.Add("Header2", "value1")
	req.Header.Add("Header2", "value2")
	req.Header.Set("User-Agent", want.RequestContext.HTTP.UserAgent)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Cookie", strings.Join(want.Cookies, "; "))
	before := time.Now()
	resp, _ := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := lastEvent(t, inv, "health")

	eq := func(name string, g, w any) {
		t.Helper()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v, want %#v", name, g, w)
		}
	}
	eq("version", got.Version, want.Version)
	eq("routeKey", got.RouteKey, want.RouteKey)
	eq("rawPath", got.RawPath, want.RawPath)
	eq("rawQueryString", got.RawQueryString, want.RawQueryString)
	eq("cookies", got.Cookies, want.Cookies)
	for k, v := range want.Headers {
		eq("headers."+strings.ToLower(k), got.Headers[strings.ToLower(k)], v)
	}
	for k := range got.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header %q is not lower case", k)
		}
	}
	if _, ok := got.Headers["cookie"]; ok {
		t.Error("the cookie header must move to cookies")
	}
	eq("queryStringParameters", got.QueryStringParameters, want.QueryStringParameters)
	eq("body", got.Body, want.Body)
	eq("isBase64Encoded", got.IsBase64Encoded, want.IsBase64Encoded)
	rc, wrc := got.RequestContext, want.RequestContext
	eq("requestContext.accountId", rc.AccountID, wrc.AccountID)
	eq("requestContext.stage", rc.Stage, wrc.Stage)
	eq("requestContext.routeKey", rc.RouteKey, wrc.RouteKey)
	eq("requestContext.http.method", rc.HTTP.Method, wrc.HTTP.Method)
	eq("requestContext.http.path", rc.HTTP.Path, wrc.HTTP.Path)
	eq("requestContext.http.protocol", rc.HTTP.Protocol, wrc.HTTP.Protocol)
	eq("requestContext.http.userAgent", rc.HTTP.UserAgent, wrc.HTTP.UserAgent)
	eq("requestContext.http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1")
	eq("requestContext.apiId", rc.APIID, "local")
	eq("requestContext.domainName", rc.DomainName, "127.0.0.1")
	if rc.RequestID == "" {
		t.Error("requestContext.requestId is empty")
	}
	const clf = "02/Jan/2006:15:04:05 -0700"
	if _, err := time.Parse(clf, wrc.Time); err != nil {
		t.Fatalf("the sample's time does not parse with %q: %v", clf, err)
	}
	ts, err := time.Parse(clf, rc.Time)
	if err != nil {
		t.Errorf("requestContext.time %q: %v", rc.Time, err)
	}
	if d := ts.Sub(before.Truncate(time.Second)); d < 0 || d > 5*time.Second {
		t.Errorf("requestContext.time %s is not now", rc.Time)
	}
	if e := time.UnixMilli(rc.TimeEpoch); e.Before(before.Add(-time.Second)) || e.After(time.Now()) {
		t.Errorf("requestContext.timeEpoch %d is not now in milliseconds", rc.TimeEpoch)
	}
	eq("x-forwarded-proto", got.Headers["x-forwarded-proto"], "http")
	eq("x-forwarded-for", got.Headers["x-forwarded-for"], "127.0.0.1")

	// Every key of the sample is in the event, except those this gateway
	// never produces: stage variables, mTLS (authentication) and the JWT
	// authorizer block; pathParameters is absent on $default.
	var wantMap, gotMap map[string]any
	_ = json.Unmarshal(raw, &wantMap)
	_ = json.Unmarshal(inv.called("health")[0].payload, &gotMap)
	skip := map[string]bool{"stageVariables": true, "pathParameters": true}
	for _, k := range keys(wantMap) {
		if _, ok := gotMap[k]; !ok && !skip[k] {
			t.Errorf("event lacks key %q", k)
		}
	}
	wantRC, gotRC := wantMap["requestContext"].(map[string]any), gotMap["requestContext"].(map[string]any)
	for _, k := range keys(wantRC) {
		if _, ok := gotRC[k]; !ok && k != "authentication" && k != "authorizer" {
			t.Errorf("requestContext lacks key %q", k)
		}
	}
	eq("requestContext.http keys", keys(gotRC["http"].(map[string]any)), keys(wantRC["http"].(map[string]any)))
	if _, ok := gotRC["authentication"]; ok {
		t.Error("requestContext.authentication is only sent with mutual TLS")
	}
}

func TestPathParameters(t *testing.T) {
	inv := &fakeInvoker{fns: map[string]func([]byte) ([]byte, error){
		"authorizer": allow(map[string]any{"sub": "u1"}),
		"jobs":       ok200(`{}`),
		"molecules":  ok200(`{}`),
	}}
	srv := newGateway(t, inv, nil)
	cases := []struct {
		path     string
		fn       string
		routeKey string
		rawPath  string
		params   map[string]string
	}{
		{"/api/v1/jobs/j1/files/poses.pdbqt", "jobs", "GET /api/v1/jobs/{job_id}/files/{filename}", "/api/v1/jobs/j1/files/poses.pdbqt",
			map[string]string{"job_id": "j1", "filename": "poses.pdbqt"}},
		// %2F stays inside its segment and is decoded in the parameter.
		{"/api/v1/jobs/j1/files/a%2Fb", "jobs", "GET /api/v1/jobs/{job_id}/files/{filename}", "/api/v1/jobs/j1/files/a/b",
			map[string]string{"job_id": "j1", "filename": "a/b"}},
		{"/api/v1/artifacts/mad%3A%2F%2Forg%2Fo1%2Fjobs%2Fj1%2Flog.txt", "jobs", "GET /api/v1/artifacts/{uri+}", "/api/v1/artifacts/mad://org/o1/jobs/j1/log.txt",
			map[string]string{"uri": "mad://org/o1/jobs/j1/log.txt"}},
		{"/api/v1/artifacts/a/b/c", "jobs", "GET /api/v1/artifacts/{uri+}", "/api/v1/artifacts/a/b/c",
			map[string]string{"uri": "a/b/c"}},
		// A literal segment beats a parameter.
		{"/api/v1/molecules/uploads/u1", "molecules", "GET /api/v1/molecules/uploads/{upload_id}", "/api/v1/molecules/uploads/u1",
			map[string]string{"upload_id": "u1"}},
		{"/api/v1/molecules/m%20x", "molecules", "GET /api/v1/molecules/{molecule_id}", "/api/v1/molecules/m x",
			map[string]string{"molecule_id": "m x"}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			req := newReq(t, "GET", srv.URL+c.path, nil)
			req.Header.Set("Authorization", "Bearer x")
			resp, body := do(t, req)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			ev := lastEvent(t, inv, c.fn)
			if ev.RouteKey != c.routeKey || ev.RequestContext.RouteKey != c.routeKey {
				t.Errorf("routeKey %q, want %q", ev.RouteKey, c.routeKey)
			}
			if ev.RawPath != c.rawPath {
				t.Errorf("rawPath %q, want %q", ev.RawPath, c.rawPath)
			}
			if !reflect.DeepEqual(ev.PathParameters, c.params) {
				t.Errorf("pathParameters %v, want %v", ev.PathParameters, c.params)
			}
		})
	}
}

func TestBodies(t *testing.T) {
	inv := &fakeInvoker{fns: map[string]func([]byte) ([]byte, error){
		"authorizer": allow(nil),
		"molecules":  ok200(`{}`),
		"auth":       ok200(`{}`),
	}}
	srv := newGateway(t, inv, nil)

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "x.pdb")
	content := []byte("ATOM      1  N   ALA A   1\x00\xff binary")
	_, _ = fw.Write(content)
	_ = mw.WriteField("name", "x")
	_ = mw.Close()
	req := newReq(t, "POST", srv.URL+"/api/v1/molecules", bytes.NewReader(mp.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer x")
	if resp, b := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("multipart: %d %s", resp.StatusCode, b)
	}
	ev := lastEvent(t, inv, "molecules")
	if !ev.IsBase64Encoded {
		t.Error("multipart body must be base64")
	}
	if dec, _ := base64.StdEncoding.DecodeString(ev.Body); !bytes.Equal(dec, mp.Bytes()) {
		t.Error("multipart body does not round-trip")
	}

	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "text/plain", "application/problem+json", "application/x-www-form-urlencoded"} {
		req = newReq(t, "POST", srv.URL+"/api/v1/auth/token", strings.NewReader(`{"email":"a@b"}`))
		req.Header.Set("Content-Type", ct)
		do(t, req)
		ev = lastEvent(t, inv, "auth")
		if ev.IsBase64Encoded || ev.Body != `{"email":"a@b"}` {
			t.Errorf("%s: body %q base64=%v, want text", ct, ev.Body, ev.IsBase64Encoded)
		}
	}
	for _, ct := range []string{"application/octet-stream", "image/png", ""} {
		req = newReq(t, "POST", srv.URL+"/api/v1/auth/token", strings.NewReader("abc"))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		do(t, req)
		if ev = lastEvent(t, inv, "auth"); !ev.IsBase64Encoded {
			t.Errorf("%q: want base64", ct)
		}
	}

	// API Gateway's 10 MB limit: rejected before any function runs.
	n := len(inv.called("auth"))
	req = newReq(t, "POST", srv.URL+"/api/v1/auth/token", bytes.NewReader(make([]byte, gateway.MaxBody+1)))
	req.Header.Set("Content-Type", "application/json")
	resp, b := do(t, req)
	if resp.StatusCode != 413 || string(b) != `{"message":"Request Entity Too Large"}` {
		t.Errorf("over 10 MB: %d %s", resp.StatusCode, b)
	}
	if len(inv.called("auth")) != n {
		t.Error("an oversized body reached the function")
	}
}

func TestAuthorizer(t *testing.T) {
	authCtx := map[string]any{"sub": "u1", "org_id": "o1", "roles": []any{"admin"}, "jti": "j"}
	var mode string
	var mu sync.Mutex
	inv := &fakeInvoker{fns: map[string]func([]byte) ([]byte, error){
		"authorizer": func(p []byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			switch mode {
			case "deny":
				return []byte(`{"isAuthorized":false}`), nil
			case "fail":
				return nil, invokeErr{"function_error", "boom"}
			case "unauthorized":
				return nil, invokeErr{"function_error", "Unauthorized"}
			case "garbage":
				return []byte(`{"foo":1}`), nil
			}
			return allow(authCtx)(p)
		},
		"auth": ok200(`{"ok":true}`),
	}}
	srv := newGateway(t, inv, nil)
	get := func(authz string) (*http.Response, []byte) {
		req := newReq(t, "GET", srv.URL+"/api/v1/me?x=1", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		return do(t, req)
	}
	set := func(m string) { mu.Lock(); mode = m; mu.Unlock() }

	resp, b := get("")
	if resp.StatusCode != 401 || string(b) != `{"message":"Unauthorized"}` {
		t.Errorf("no Authorization: %d %s", resp.StatusCode, b)
	}
	if len(inv.called("authorizer")) != 0 {
		t.Error("the authorizer ran without an identity source")
	}

	set("allow")
	resp, b = get("Bearer tok")
	if resp.StatusCode != 200 {
		t.Fatalf("allowed: %d %s", resp.StatusCode, b)
	}
	var areq events.APIGatewayV2CustomAuthorizerV2Request
	dec := json.NewDecoder(bytes.NewReader(inv.called("authorizer")[0].payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&areq); err != nil {
		t.Fatal(err)
	}
	if areq.Version != "2.0" || areq.Type != "REQUEST" || !reflect.DeepEqual(areq.IdentitySource, []string{"Bearer tok"}) ||
		areq.RouteKey != "GET /api/v1/me" || areq.RawPath != "/api/v1/me" || areq.RawQueryString != "x=1" ||
		areq.RouteArn != "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/api/v1/me" ||
		areq.Headers["authorization"] != "Bearer tok" || areq.QueryStringParameters["x"] != "1" || areq.RequestContext.RequestID == "" {
		t.Errorf("authorizer request: %+v", areq)
	}
	ev := lastEvent(t, inv, "auth")
	if ev.RequestContext.Authorizer == nil || !reflect.DeepEqual(ev.RequestContext.Authorizer.Lambda, authCtx) {
		t.Errorf("authorizer context not passed through: %+v", ev.RequestContext.Authorizer)
	}
	if ev.RequestContext.RequestID != areq.RequestContext.RequestID {
		t.Error("the authorizer and the function must see the same requestId")
	}

	for _, c := range []struct {
		mode   string
		status int
		body   string
	}{
		{"deny", 403, `{"message":"Forbidden"}`},
		{"fail", 500, `{"message":"Internal Server Error"}`},
		{"garbage", 500, `{"message":"Internal Server Error"}`},
		{"unauthorized", 401, `{"message":"Unauthorized"}`},
	} {
		set(c.mode)
		n := len(inv.called("auth"))
		resp, b = get("Bearer tok")
		if resp.StatusCode != c.status || string(b) != c.body {
			t.Errorf("%s: %d %s, want %d %s", c.mode, resp.StatusCode, b, c.status, c.body)
		}
		if len(inv.called("auth")) != n {
			t.Errorf("%s: the function ran", c.mode)
		}
	}

	// Public routes never run the authorizer.
	set("deny")
	n := len(inv.called("authorizer"))
	req := newReq(t, "POST", srv.URL+"/api/v1/auth/token", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer junk")
	if resp, _ := do(t, req); resp.StatusCode != 200 || len(inv.called("authorizer")) != n {
		t.Errorf("public route: %d, authorizer calls %d -> %d", resp.StatusCode, n, len(inv.called("authorizer")))
	}
}

func TestFallbackToDefaultRoute(t *testing.T) {
	inv := &fakeInvoker{fns: map[string]func([]byte) ([]byte, error){
		"health": func(p []byte) ([]byte, error) {
			return []byte(`{"statusCode":404,"headers":{"Content-Type":"application/json"},"body":"{\"error\":{\"code\":\"ROUTE_NOT_FOUND\",\"message\":\"no route\"}}"}`), nil
		},
	}}
	srv := newGateway(t, inv, nil)
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"POST", "/health"}, {"DELETE", "/api/v1/orgs"}} {
		resp, b := do(t, newReq(t, c.method, srv.URL+c.path, nil))
		if resp.StatusCode != 404 || !strings.Contains(string(b), "ROUTE_NOT_FOUND") {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, b)
		}
		ev := lastEvent(t, inv, "health")
		if ev.RouteKey != "$default" || ev.RequestContext.HTTP.Method != c.method || ev.RawPath != c.path || ev.PathParameters != nil {
			t.Errorf("%s %s: event %+v", c.method, c.path, ev)
		}
	}
	if len(inv.called("authorizer")) != 0 {
		t.Error("$default is public")
	}
}

func TestResponses(t *testing.T) {
	var out []byte
	var outErr error
	var mu sync.Mutex
	inv := &fakeInvoker{fns: map[string]func([]byte) ([]byte, error){
		"health": func([]byte) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			return out, outErr
		},
	}}
	srv := newGateway(t, inv, nil)
	set := func(b string, err error) { mu.Lock(); out, outErr = []byte(b), err; mu.Unlock() }
	get := func(hdr ...string) (*http.Response, []byte) {
		req := newReq(t, "GET", srv.URL+"/health", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return do(t, req)
	}

	set(`{"statusCode":201,"headers":{"X-One":"1","Content-Type":"text/plain"},"multiValueHeaders":{"X-Multi":["a","b"]},"cookies":["a=1; Path=/","b=2"],"body":"aGVsbG8=","isBase64Encoded":true}`, nil)
	resp, b := get()
	if resp.StatusCode != 201 || string(b) != "hello" || resp.Header.Get("X-One") != "1" || resp.Header.Get("Content-Type") != "text/plain" ||
		!reflect.DeepEqual(resp.Header.Values("X-Multi"), []string{"a", "b"}) ||
		!reflect.DeepEqual(resp.Header.Values("Set-Cookie"), []string{"a=1; Path=/", "b=2"}) || resp.Header.Get("Apigw-Requestid") == "" {
		t.Errorf("proxy response: %d %q %v", resp.StatusCode, b, resp.Header)
	}

	// Without statusCode, payload 2.0 means 200 with the output as a JSON body.
	set(`{"status":"ok"}`, nil)
	if resp, b = get(); resp.StatusCode != 200 || string(b) != `{"status":"ok"}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("non-proxy object: %d %s %v", resp.StatusCode, b, resp.Header)
	}
	set(`"hello"`, nil)
	if resp, b = get(); resp.StatusCode != 200 || string(b) != "hello" {
		t.Errorf("non-proxy string: %d %s", resp.StatusCode, b)
	}

	// Failures become 502 in the contract's shape with X-Request-Id.
	for _, c := range []struct {
		name string
		out  string
		err  error
	}{
		{"function error", "", invokeErr{"function_error", "pq: password authentication failed"}},
		{"crash", "", invokeErr{"crash", "died"}},
		{"timeout", "", invokeErr{"timeout", "Task timed out after 15.00 seconds"}},
		{"malformed", "not json", nil},
	} {
		set(c.out, c.err)
		resp, b = get()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 502 || e.Error.Code != "INTERNAL_ERROR" || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: %d %s %v", c.name, resp.StatusCode, b, resp.Header)
		}
		if strings.Contains(string(b), "password") {
			t.Errorf("%s: the error text leaked: %s", c.name, b)
		}
	}
	set("", invokeErr{"crash", "died"})
	const id = "0b0d6c2e-7a51-4a0e-9d5e-1f0f2a3b4c5d"
	if resp, _ = get("X-Request-Id", id); resp.Header.Get("X-Request-Id") != id {
		t.Errorf("X-Request-Id %q, want the client's %q", resp.Header.Get("X-Request-Id"), id)
	}
}

type blockingInvoker struct{}

func (blockingInvoker) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	select {} // never answers, ignores ctx: the gateway must still answer
}

func TestNeverHangs(t *testing.T) {
	g := gateway.New(gateway.Config{Invoker: blockingInvoker{}, Timeout: func(string) time.Duration { return -9900 * time.Millisecond }})
	srv := httptest.NewServer(g)
	defer srv.Close()
	start := time.Now()
	resp, b := do(t, newReq(t, "GET", srv.URL+"/health", nil))
	if resp.StatusCode != 502 || time.Since(start) > 2*time.Second {
		t.Errorf("hung invoke: %d %s after %s", resp.StatusCode, b, time.Since(start))
	}
}

func TestAccessLog(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	inv := &fakeInvoker{fns: map[string]func([]byte) ([]byte, error){"health": ok200(`{"status":"ok"}`)}}
	srv := newGateway(t, inv, &lockedWriter{w: &logs, mu: &mu})
	resp, _ := do(t, newReq(t, "GET", srv.URL+"/health", nil))
	mu.Lock()
	line := logs.String()
	mu.Unlock()
	var entry map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &entry); err != nil {
		t.Fatalf("access log %q: %v", line, err)
	}
	for _, k := range []string{"method", "path", "status", "latency_ms", "function", "request_id"} {
		if _, ok := entry[k]; !ok {
			t.Errorf("access log lacks %q: %s", k, line)
		}
	}
	if entry["status"].(float64) != 200 || entry["function"] != "health" || entry["request_id"] != resp.Header.Get("Apigw-Requestid") {
		t.Errorf("access log %s", line)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestIsText(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "text/html; charset=utf-8": true, "application/vnd.api+json": true,
		"application/xml": true, "application/x-www-form-urlencoded": true,
		"multipart/form-data; boundary=x": false, "application/octet-stream": false, "": false, "image/png": false,
	} {
		if gateway.IsText(ct) != want {
			t.Errorf("IsText(%q) = %v", ct, !want)
		}
	}
}
