// Package gateway is the local stand-in for API Gateway (HTTP API, payload
// format 2.0, Lambda authorizer with simple responses): it routes with the
// shared route table, runs the authorizer for non-public routes, builds the
// exact event API Gateway sends, invokes the function and writes its
// response back, answering with API Gateway's own bodies where API Gateway
// answers by itself.
//
// Where API Gateway's behaviour is not obvious it is followed as observed
// in AWS: HTTP APIs hand the function a URL-decoded rawPath and decoded
// path and query parameters, while rawQueryString stays encoded; routing
// happens on the encoded path, so "%2F" stays inside one segment.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/routes"
)

// Invoker invokes a function by name with a JSON payload.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// FunctionError is implemented by invoke errors that say how the invoke
// failed (rie.InvokeError does).
type FunctionError interface {
	error
	// KindName is "function_error", "timeout", "crash" or "unavailable".
	KindName() string
	// ErrorMessage is the runtime's errorMessage, if any.
	ErrorMessage() string
}

// MaxBody is API Gateway's request payload limit (10 MB).
const MaxBody = 10 << 20

// Config configures a Gateway.
type Config struct {
	Invoker   Invoker
	AccountID string // default "123456789012"
	Region    string // default "us-east-1"
	APIID     string // default "local"
	// Authorizer is the authorizer function's name (default "authorizer").
	Authorizer string
	// Fallback serves $default, i.e. requests no route matches (default "health").
	Fallback string
	// Timeout bounds one function invoke (default 35s); the invoker bounds
	// it too, this is the gateway's own guarantee never to hang.
	Timeout func(function string) time.Duration
	// AccessLog receives one line per request (nil: discard).
	AccessLog *slog.Logger
	MaxBody   int64
	Now       func() time.Time
}

// Gateway is an http.Handler.
type Gateway struct{ c Config }

// New returns a gateway.
func New(c Config) *Gateway {
	if c.AccountID == "" {
		c.AccountID = "123456789012"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.APIID == "" {
		c.APIID = "local"
	}
	if c.Authorizer == "" {
		c.Authorizer = routes.FnAuthorizer
	}
	if c.Fallback == "" {
		c.Fallback = routes.FnHealth
	}
	if c.Timeout == nil {
		c.Timeout = func(string) time.Duration { return 35 * time.Second }
	}
	if c.AccessLog == nil {
		c.AccessLog = slog.New(slog.DiscardHandler)
	}
	if c.MaxBody <= 0 {
		c.MaxBody = MaxBody
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Gateway{c: c}
}

// accessEntry collects what the access log line reports.
type accessEntry struct {
	function string
	status   int
	errKind  string
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.c.Now()
	reqID := newUUID()
	w.Header().Set("Apigw-Requestid", reqID)
	var e accessEntry
	g.serve(w, r, reqID, start, &e)
	attrs := []any{
		"method", r.Method, "path", r.URL.Path, "status", e.status,
		"latency_ms", time.Since(start).Milliseconds(), "function", e.function, "request_id", reqID,
	}
	if e.errKind != "" {
		attrs = append(attrs, "error", e.errKind)
	}
	g.c.AccessLog.Info("request", attrs...)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, reqID string, start time.Time, e *accessEntry) {
	if r.ContentLength > g.c.MaxBody {
		e.status = writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.c.MaxBody+1))
	if err != nil {
		e.status = writeMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if int64(len(body)) > g.c.MaxBody {
		e.status = writeMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}

	route, rawParams, ok, _ := routes.Match(r.Method, r.URL.EscapedPath())
	routeKey, fn := routes.DefaultRouteKey, g.c.Fallback
	var params map[string]string
	if ok {
		routeKey, fn = route.Key(), route.Function
		params = map[string]string{}
		for k, v := range rawParams {
			if u, err := url.PathUnescape(v); err == nil {
				v = u
			}
			params[k] = v
		}
	}
	e.function = fn
	ev := g.event(r, body, routeKey, params, reqID, start)

	if ok && !route.Public {
		e.function = g.c.Authorizer
		authCtx, status, msg := g.authorize(r, ev, e)
		if status != 0 {
			e.status = writeMessage(w, status, msg)
			return
		}
		e.function = fn
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: authCtx}
	}

	payload, err := encodeEvent(ev)
	if err != nil {
		e.status = g.internalError(w, r, reqID, "could not encode the event")
		return
	}
	out, err := g.invoke(r.Context(), fn, payload)
	if err != nil {
		e.errKind = errorKind(err)
		e.status = g.internalError(w, r, reqID, fmt.Sprintf("the %s function failed (%s)", fn, e.errKind))
		return
	}
	e.status = g.writeResponse(w, r, reqID, out)
}

// invoke calls fn, detached from the client's connection (Lambda finishes an
// invoke whatever the client does) but bounded by the function's timeout.
func (g *Gateway) invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.c.Timeout(fn)+10*time.Second)
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		out, err := g.c.Invoker.Invoke(ctx, fn, payload)
		ch <- result{out, err}
	}()
	select {
	case res := <-ch:
		return res.out, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: %w", fn, ctx.Err())
	}
}

// authorize runs the Lambda authorizer. A non-zero status is API Gateway's
// own answer: 401 without the identity source, 403 when not authorized,
// 500 when the authorizer fails.
func (g *Gateway) authorize(r *http.Request, ev events.APIGatewayV2HTTPRequest, e *accessEntry) (map[string]any, int, string) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, http.StatusUnauthorized, "Unauthorized"
	}
	req := events.APIGatewayV2CustomAuthorizerV2Request{
		Version:               "2.0",
		Type:                  "REQUEST",
		RouteArn:              g.routeArn(r.Method, ev.RawPath),
		IdentitySource:        []string{authz},
		RouteKey:              ev.RouteKey,
		RawPath:               ev.RawPath,
		RawQueryString:        ev.RawQueryString,
		Cookies:               ev.Cookies,
		Headers:               ev.Headers,
		QueryStringParameters: ev.QueryStringParameters,
		RequestContext:        ev.RequestContext,
		PathParameters:        ev.PathParameters,
		StageVariables:        ev.StageVariables,
	}
	payload, err := encodeEvent(req)
	if err != nil {
		return nil, http.StatusInternalServerError, "Internal Server Error"
	}
	out, err := g.invoke(r.Context(), g.c.Authorizer, payload)
	if err != nil {
		e.errKind = errorKind(err)
		// As with API Gateway's Lambda authorizers, an authorizer that fails
		// with exactly the message "Unauthorized" means 401.
		var fe FunctionError
		if errors.As(err, &fe) && fe.KindName() == "function_error" && fe.ErrorMessage() == "Unauthorized" {
			return nil, http.StatusUnauthorized, "Unauthorized"
		}
		return nil, http.StatusInternalServerError, "Internal Server Error"
	}
	var resp struct {
		IsAuthorized *bool          `json:"isAuthorized"`
		Context      map[string]any `json:"context"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.IsAuthorized == nil {
		e.errKind = "invalid_authorizer_response"
		return nil, http.StatusInternalServerError, "Internal Server Error"
	}
	if !*resp.IsAuthorized {
		return nil, http.StatusForbidden, "Forbidden"
	}
	if resp.Context == nil {
		resp.Context = map[string]any{}
	}
	return resp.Context, 0, ""
}

func (g *Gateway) routeArn(method, path string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/$default/%s%s", g.c.Region, g.c.AccountID, g.c.APIID, method, path)
}

// event builds the payload format 2.0 request.
func (g *Gateway) event(r *http.Request, body []byte, routeKey string, params map[string]string, reqID string, now time.Time) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		if lk == "cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lk] = strings.Join(vs, ",")
	}
	host := r.Host
	headers["host"] = host
	if _, sent := headers["content-length"]; sent || len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	sourceIP := clientIP(r)
	headers["x-forwarded-for"] = appendForwarded(headers["x-forwarded-for"], sourceIP)
	port := "80"
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = p
	}
	headers["x-forwarded-port"] = port
	headers["x-forwarded-proto"] = "http"

	var query map[string]string
	if r.URL.RawQuery != "" {
		q := parseQuery(r.URL.RawQuery)
		if len(q) > 0 {
			query = map[string]string{}
			for k, vs := range q {
				query[k] = strings.Join(vs, ",")
			}
		}
	}
	domain := hostOnly(host)
	prefix := domain
	if i := strings.IndexByte(domain, '.'); i > 0 && net.ParseIP(domain) == nil {
		prefix = domain[:i]
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    g.c.AccountID,
			Stage:        "$default",
			RequestID:    reqID,
			APIID:        g.c.APIID,
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if IsText(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// encodeEvent marshals an event without requestContext.authentication:
// the SDK type always renders an empty client certificate, while API
// Gateway sends that block only with mutual TLS, which is never local.
func encodeEvent(ev any) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	var rc map[string]json.RawMessage
	if err := json.Unmarshal(top["requestContext"], &rc); err != nil {
		return nil, err
	}
	delete(rc, "authentication")
	if top["requestContext"], err = json.Marshal(rc); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}

// IsText applies API Gateway's rule for which request bodies reach the
// function as text; everything else (multipart/form-data, octet-stream,
// images, no content type) is base64-encoded.
func IsText(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"):
		return true
	case mt == "application/json", mt == "application/xml", mt == "application/javascript",
		mt == "application/x-www-form-urlencoded", mt == "application/graphql", mt == "application/yaml":
		return true
	case strings.HasPrefix(mt, "application/") && (strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")):
		return true
	}
	return false
}

// parseQuery decodes a query string keeping key order irrelevant and
// tolerating bad escapes (kept raw, like API Gateway).
func parseQuery(raw string) map[string][]string {
	out := map[string][]string{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		out[k] = append(out[k], v)
	}
	return out
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func appendForwarded(prev, ip string) string {
	if prev == "" {
		return ip
	}
	return prev + ", " + ip
}

func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// writeResponse applies API Gateway's payload 2.0 response rules.
func (g *Gateway) writeResponse(w http.ResponseWriter, r *http.Request, reqID string, out []byte) int {
	trimmed := bytes.TrimSpace(out)
	if !json.Valid(trimmed) {
		return g.internalError(w, r, reqID, "the function returned a malformed response")
	}
	var probe map[string]json.RawMessage
	isObject := json.Unmarshal(trimmed, &probe) == nil
	if _, hasStatus := probe["statusCode"]; !isObject || !hasStatus {
		// No statusCode: API Gateway answers 200 with the output as a JSON body
		// (a JSON string becomes the body's text).
		body := trimmed
		var s string
		if json.Unmarshal(trimmed, &s) == nil {
			body = []byte(s)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return http.StatusOK
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(trimmed, &resp); err != nil || resp.StatusCode < 100 || resp.StatusCode > 599 {
		return g.internalError(w, r, reqID, "the function returned a malformed response")
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return g.internalError(w, r, reqID, "the function returned a malformed base64 body")
		}
		body = b
	}
	h := w.Header()
	keys := make([]string, 0, len(resp.MultiValueHeaders))
	for k := range resp.MultiValueHeaders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.MultiValueHeaders[k] {
			h.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	h.Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return resp.StatusCode
}

// writeMessage writes one of API Gateway's own answers: {"message": "..."}.
func writeMessage(w http.ResponseWriter, status int, msg string) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
	return status
}

// internalError answers 502 in the contract's error shape: the function
// died, failed, timed out or answered garbage.
func (g *Gateway) internalError(w http.ResponseWriter, r *http.Request, reqID, msg string) int {
	id := r.Header.Get("X-Request-Id")
	if !isUUID(id) {
		id = reqID
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", id)
	w.WriteHeader(http.StatusBadGateway)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "INTERNAL_ERROR", "message": msg}})
	_, _ = w.Write(b)
	return http.StatusBadGateway
}

// errorKind names an invoke error for logs without leaking its text.
func errorKind(err error) string {
	var k FunctionError
	if errors.As(err, &k) {
		return k.KindName()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "invoke_failed"
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}
