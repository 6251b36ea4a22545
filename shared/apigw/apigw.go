// Package apigw adapts API Gateway HTTP API (payload 2.0) events to MAD's
// handlers: one wrapper owns request ids, logging, panic recovery, the
// principal from the authorizer's context, the route's permission check,
// body limits, strict JSON decoding and the mapping of domain errors to
// the contract's error responses.
package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
)

// HandlerFunc serves one route.
type HandlerFunc func(ctx context.Context, r *Request) (*Response, error)

// Request is what a handler sees: the validated principal, the route and
// helpers to read the event safely.
type Request struct {
	Event     *events.APIGatewayV2HTTPRequest
	Route     routes.Route
	Principal domain.Principal
	RequestID string
	body      []byte
}

// Response is what a handler returns.
type Response struct {
	Status  int
	Body    any // encoded as JSON unless RawBody is set
	RawBody []byte
	Headers map[string]string
}

// JSON returns a JSON response.
func JSON(status int, body any) *Response { return &Response{Status: status, Body: body} }

// NoContent returns 204.
func NoContent() *Response { return &Response{Status: http.StatusNoContent} }

// Found returns a 302 to url.
func Found(url string) *Response {
	return &Response{Status: http.StatusFound, Headers: map[string]string{"Location": url}}
}

// Mux dispatches a function's routes by API Gateway route key.
type Mux struct {
	function string
	handlers map[string]HandlerFunc
	log      *slog.Logger
}

// NewMux returns a mux for function fn.
func NewMux(fn string, log *slog.Logger) *Mux {
	return &Mux{function: fn, handlers: map[string]HandlerFunc{}, log: log}
}

// Handle registers h for a route key of the route table. Registering a key
// the table does not give to this function panics at cold start: a route
// and its handler cannot drift apart silently.
func (m *Mux) Handle(routeKey string, h HandlerFunc) {
	if routeKey != routes.DefaultRouteKey {
		r, ok := routes.ByKey(routeKey)
		if !ok || r.Function != m.function {
			panic(fmt.Sprintf("apigw: route %q is not served by %s in the route table", routeKey, m.function))
		}
	}
	m.handlers[routeKey] = h
}

// Check returns an error naming every route of the table this function
// serves but has no handler for.
func (m *Mux) Check() error {
	var missing []string
	for _, r := range routes.ForFunction(m.function) {
		if _, ok := m.handlers[r.Key()]; !ok {
			missing = append(missing, r.Key())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("apigw: %s has no handler for %s", m.function, strings.Join(missing, ", "))
	}
	return nil
}

// requestID echoes a client's X-Request-Id when it is a UUID, otherwise
// uses API Gateway's id when it is one, otherwise makes one.
func requestID(ev *events.APIGatewayV2HTTPRequest) string {
	if v := header(ev, "x-request-id"); v != "" && domain.IsID(v) {
		return v // echoed as sent: the client correlates by its own spelling
	}
	if id, err := domain.ParseID(ev.RequestContext.RequestID); err == nil {
		return id
	}
	return domain.NewID()
}

func header(ev *events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := ev.Headers[name]; ok {
		return v
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Lambda is the function's Lambda handler.
func (m *Mux) Lambda(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return m.Serve(ctx, &ev), nil
}

// Serve runs one request through the wrapper and never returns an error:
// every failure is an HTTP response in the contract's shape.
func (m *Mux) Serve(ctx context.Context, ev *events.APIGatewayV2HTTPRequest) (out events.APIGatewayV2HTTPResponse) {
	start := time.Now()
	rid := requestID(ev)
	ctx = obs.With(ctx, obs.Fields{RequestID: rid})
	req := &Request{Event: ev, RequestID: rid}
	var status int
	defer func() {
		if p := recover(); p != nil {
			m.log.ErrorContext(ctx, "panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out = m.errorResponse(ctx, rid, domain.Errorf(domain.CodeInternal, "internal error"))
		}
		status = out.StatusCode
		m.log.InfoContext(ctx, "request", "route", ev.RouteKey, "method", ev.RequestContext.HTTP.Method,
			"status", status, "duration_ms", time.Since(start).Milliseconds())
	}()

	resp, err := m.serve(ctx, req)
	if err != nil {
		return m.errorResponse(ctx, rid, err)
	}
	return m.encode(ctx, rid, resp)
}

func (m *Mux) serve(ctx context.Context, req *Request) (*Response, error) {
	ev := req.Event
	h, ok := m.handlers[ev.RouteKey]
	if !ok {
		return nil, domain.Errorf(domain.CodeRouteNotFound, "no route for %s", truncate(ev.RouteKey, 80))
	}
	if ev.RouteKey != routes.DefaultRouteKey {
		req.Route, _ = routes.ByKey(ev.RouteKey)
		if !req.Route.Public {
			p, err := principalFrom(ev)
			if err != nil {
				return nil, err
			}
			req.Principal = p
			ctx = obs.With(ctx, obs.Fields{OrgID: p.OrgID, UserID: p.SubjectID})
			if err := p.Authorize(req.Route.Permission); err != nil {
				return nil, err
			}
		}
	}
	body, err := decodeBody(ev, req.Route.MaxBodyFor())
	if err != nil {
		return nil, err
	}
	req.body = body
	return h(ctx, req)
}

// Authorizer context keys (simple responses, payload 2.0).
const (
	CtxSubject     = "sub"
	CtxSubjectType = "sub_type"
	CtxOrgID       = "org_id"
	CtxRoles       = "roles"
	CtxScopes      = "scopes"
	CtxTokenID     = "jti"
	// CtxAuthError carries the authorizer's refusal: the authorizer lets
	// the request through so the function can answer in the contract's
	// shape (API Gateway would answer a bare 403 otherwise).
	CtxAuthError   = "auth_error"
	CtxAuthMessage = "auth_message"
)

// principalFrom builds the principal from the authorizer's context, the
// only source of identity: the token itself is never read again.
func principalFrom(ev *events.APIGatewayV2HTTPRequest) (domain.Principal, error) {
	if ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.Lambda == nil {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "authentication required")
	}
	c := ev.RequestContext.Authorizer.Lambda
	str := func(k string) string {
		if v, ok := c[k].(string); ok {
			return v
		}
		return ""
	}
	if code := str(CtxAuthError); code != "" {
		msg := str(CtxAuthMessage)
		switch domain.Code(code) {
		case domain.CodeOrgForbidden:
			return domain.Principal{}, domain.Errorf(domain.CodeOrgForbidden, "%s", orDefault(msg, "organization is suspended"))
		case domain.CodeNotReady:
			return domain.Principal{}, &domain.Error{Code: domain.CodeNotReady, Message: orDefault(msg, "a dependency is unavailable; retry shortly"), RetryAfter: 5 * time.Second}
		default:
			return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "%s", orDefault(msg, "invalid or expired token"))
		}
	}
	p := domain.Principal{SubjectID: str(CtxSubject), SubjectType: domain.SubjectType(str(CtxSubjectType)),
		OrgID: str(CtxOrgID), TokenID: str(CtxTokenID)}
	if !domain.IsCanonicalID(p.SubjectID) || (p.OrgID != "" && !domain.IsCanonicalID(p.OrgID)) ||
		(p.SubjectType != domain.SubjectUser && p.SubjectType != domain.SubjectServiceAccount) {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "authentication required")
	}
	for _, s := range splitList(str(CtxRoles)) {
		r, err := domain.ParseRole(s)
		if err != nil {
			return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "authentication required")
		}
		p.Roles = append(p.Roles, r)
	}
	for _, s := range splitList(str(CtxScopes)) {
		p.Scopes = append(p.Scopes, domain.Permission(s))
	}
	if len(p.Roles) == 0 {
		return domain.Principal{}, domain.Errorf(domain.CodeUnauthorized, "authentication required")
	}
	return p, nil
}

// PrincipalContext is the authorizer context for p (used by the
// authorizer function, and by tests that build events).
func PrincipalContext(p domain.Principal) map[string]any {
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	scopes := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		scopes[i] = string(s)
	}
	return map[string]any{
		CtxSubject: p.SubjectID, CtxSubjectType: string(p.SubjectType), CtxOrgID: p.OrgID,
		CtxRoles: strings.Join(roles, ","), CtxScopes: strings.Join(scopes, ","), CtxTokenID: p.TokenID,
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func decodeBody(ev *events.APIGatewayV2HTTPRequest, max int64) ([]byte, error) {
	if ev.Body == "" {
		return nil, nil
	}
	raw := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if int64(base64.StdEncoding.DecodedLen(len(ev.Body))) > max+3 {
			return nil, tooLarge(max)
		}
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, domain.InvalidField("body", "is not valid base64")
		}
		raw = b
	}
	if int64(len(raw)) > max {
		return nil, tooLarge(max)
	}
	return raw, nil
}

func tooLarge(max int64) error {
	return domain.Errorf(domain.CodePayloadTooLarge, "request body is larger than %d bytes", max)
}

func (m *Mux) errorResponse(ctx context.Context, rid string, err error) events.APIGatewayV2HTTPResponse {
	de, ok := domain.AsError(err)
	if !ok || de.Code == domain.CodeInternal {
		// Never leak internals: the log has the error, the client a request id.
		m.log.ErrorContext(ctx, "internal error", "err", err.Error())
		de = domain.Errorf(domain.CodeInternal, "internal error; quote request id %s", rid)
	} else if de.Code == domain.CodeUnauthorized || de.Code == domain.CodeInvalidCredentials || de.Code == domain.CodeForbidden || de.Code == domain.CodeOrgForbidden {
		m.log.WarnContext(ctx, "request refused", "code", de.Code, "reason", de.Message)
		obs.Metric(m.function, "AuthFailures", 1, "Count", map[string]string{"Code": string(de.Code)})
	}
	if de.Code == domain.CodeRateLimited {
		obs.Metric(m.function, "Throttles", 1, "Count", nil)
	}
	if de.Code == domain.CodeNotReady {
		m.log.WarnContext(ctx, "dependency unavailable", "err", err.Error())
	}
	body := ErrorBody{Error: ErrorDetail{Code: de.Code, Message: de.Message}}
	if len(de.Fields) > 0 {
		body.Error.Details = map[string]any{"fields": de.Fields}
	}
	resp := &Response{Status: StatusOf(de.Code), Body: body}
	if de.RetryAfter > 0 {
		resp.Headers = map[string]string{"Retry-After": strconv.Itoa(int((de.RetryAfter + time.Second - 1) / time.Second))}
	}
	return m.encode(ctx, rid, resp)
}

func (m *Mux) encode(ctx context.Context, rid string, r *Response) events.APIGatewayV2HTTPResponse {
	h := map[string]string{
		"X-Request-Id":           rid,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range r.Headers {
		h[k] = v
	}
	out := events.APIGatewayV2HTTPResponse{StatusCode: r.Status, Headers: h}
	switch {
	case r.RawBody != nil:
		out.Body = string(r.RawBody)
	case r.Body != nil:
		b, err := json.Marshal(r.Body)
		if err != nil {
			m.log.ErrorContext(ctx, "encode response", "err", err)
			out.StatusCode = http.StatusInternalServerError
			b = []byte(`{"error":{"code":"INTERNAL_ERROR","message":"internal error"}}`)
		}
		out.Body = string(b)
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = "application/json"
		}
	}
	return out
}

// truncate cuts s to at most n bytes at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// Body returns the decoded request body.
func (r *Request) Body() []byte { return r.body }

// Header returns a request header (case-insensitive).
func (r *Request) Header(name string) string { return header(r.Event, name) }

// PathID returns a path parameter that must be a UUID; anything else is a
// VALIDATION_FAILED naming the parameter.
func (r *Request) PathID(name string) (string, error) {
	v := r.Event.PathParameters[name]
	id, err := domain.ParseID(v)
	if err != nil {
		return "", domain.InvalidField(name, "must be a UUID")
	}
	return id, nil
}

// PathParam returns a raw path parameter.
func (r *Request) PathParam(name string) string { return r.Event.PathParameters[name] }

// Query returns a query parameter.
func (r *Request) Query(name string) string { return r.Event.QueryStringParameters[name] }

// Page reads ?limit= (default 50, 1..200) and ?cursor=.
func (r *Request) Page() (app.Page, error) {
	p := app.Page{Limit: 50}
	if v, ok := r.Event.QueryStringParameters["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return p, domain.InvalidField("limit", "must be an integer between 1 and 200")
		}
		p.Limit = n
	}
	after, err := app.DecodeCursor(r.Event.QueryStringParameters["cursor"])
	if err != nil {
		return p, err
	}
	p.After = after
	return p, nil
}

// DecodeJSON decodes the body strictly into v: JSON content type, one
// value, no unknown fields (no mass assignment). Errors name the field.
func (r *Request) DecodeJSON(v any) error {
	ct := strings.ToLower(r.Header("content-type"))
	if ct != "" && !strings.HasPrefix(ct, "application/json") {
		return domain.InvalidField("Content-Type", "must be application/json")
	}
	if len(r.body) == 0 {
		return domain.InvalidField("body", "a JSON object is required")
	}
	return DecodeStrict(r.body, v)
}

// DecodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data, and turns decoding errors into VALIDATION_FAILED naming
// the field.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// Anything after the value, even a stray ] or }, is refused.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.InvalidField("body", "must contain exactly one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return domain.InvalidField(field, fmt.Sprintf("must be %s", jsonKind(te.Type.Kind().String())))
	case errors.As(err, &se):
		return domain.InvalidField("body", fmt.Sprintf("is not valid JSON (at byte %d)", se.Offset))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this; the name is quoted.
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil || name == "" {
			return domain.InvalidField("body", "has a member that is not an accepted field")
		}
		return domain.InvalidField(truncate(name, 64), "is not an accepted field")
	case errors.Is(err, errors.New("EOF")) || err.Error() == "EOF" || err.Error() == "unexpected EOF":
		return domain.InvalidField("body", "is not valid JSON (truncated)")
	}
	return domain.InvalidField("body", "is not valid JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int32", "int64", "uint", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}
