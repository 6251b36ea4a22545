package apigw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/wire"
)

// These targets need no services: the seeds run under plain `go test`,
// and `scripts/fuzz.sh` explores from them.

var fzQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fzAdmin is an org admin's principal: it holds user.list.
var fzAdmin = domain.Principal{SubjectID: domain.NewID(), SubjectType: domain.SubjectUser, OrgID: domain.NewID(),
	Roles: []domain.Role{domain.RoleAdmin}, TokenID: domain.NewID()}

// fzEvent is an API Gateway v2 event of the admin function's
// "GET /api/v1/users" route carrying p's authorizer context.
func fzEvent(ctx map[string]any) *events.APIGatewayV2HTTPRequest {
	ev := &events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET /api/v1/users", RawPath: "/api/v1/users",
		Headers: map[string]string{"x-request-id": domain.NewID()},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "fuzz", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/api/v1/users"},
		},
	}
	if ctx != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: ctx}
	}
	return ev
}

// fzError checks the contract's error shape and returns it.
func fzError(t *testing.T, resp events.APIGatewayV2HTTPResponse) apigw.ErrorDetail {
	t.Helper()
	var body struct {
		Error struct {
			Code    domain.Code `json:"code"`
			Message string      `json:"message"`
			Details *struct {
				Fields map[string]string `json:"fields"`
			} `json:"details"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Error.Code == "" || body.Error.Message == "" ||
		resp.Headers["Content-Type"] != "application/json" || apigw.StatusOf(body.Error.Code) != resp.StatusCode {
		t.Fatalf("%d %s is not in the contract's error shape (%v)", resp.StatusCode, resp.Body, err)
	}
	d := apigw.ErrorDetail{Code: body.Error.Code, Message: body.Error.Message}
	if body.Error.Details != nil {
		d.Details = map[string]any{}
		for k, v := range body.Error.Details.Fields {
			d.Details[k] = v
		}
	}
	return d
}

// fzValidation checks that err is VALIDATION_FAILED naming exactly one of
// fields, with a bounded message that does not quote input.
func fzValidation(t *testing.T, err error, input string, fields ...string) {
	t.Helper()
	de, ok := domain.AsError(err)
	if !ok || de.Code != domain.CodeValidation || len(de.Fields) != 1 {
		t.Fatalf("error %v, want VALIDATION_FAILED naming one of %v", err, fields)
	}
	for f, msg := range de.Fields {
		found := false
		for _, want := range fields {
			found = found || f == want
		}
		if !found {
			t.Fatalf("error names %q, want one of %v", f, fields)
		}
		if len(msg) > 100 || (len(input) > 12 && strings.Contains(msg, input)) {
			t.Fatalf("field message %q", msg)
		}
	}
}

// FuzzPageParams feeds ?limit= and ?cursor= to Request.Page directly and
// through a mux: only success (1 <= limit <= 200, a canonical cursor key)
// or VALIDATION_FAILED naming limit or cursor, answered 400 in the
// contract's shape.
func FuzzPageParams(f *testing.F) {
	obs.SetMetricsOutput(io.Discard)
	id := domain.NewID()
	for _, s := range []struct {
		limit     string
		hasLimit  bool
		cursor    string
		hasCursor bool
	}{
		{"", false, "", false}, {"50", true, "", false}, {"1", true, app.EncodeCursor(id), true},
		{"200", true, "", true}, {"0", true, "", false}, {"201", true, "", false}, {"-1", true, "", false},
		{"", true, "", false}, {"+7", true, "", false}, {"007", true, "", false}, {"1e2", true, "", false},
		{"9223372036854775808", true, "", false}, {"99999999999999999999999", true, "", false},
		{" 5", true, "", false}, {"5 ", true, "", false}, {"0x10", true, "", false}, {"٣", true, "", false},
		{"10", true, app.EncodeCursor(strings.ToUpper(id)), true}, {"10", true, app.EncodeCursor(id) + "=", true},
		{"10", true, app.EncodeCursor("not-an-id"), true}, {"10", true, "v1:" + id, true},
		{"10", true, strings.Repeat("A", 8<<10), true}, {"10", true, "\x00", true}, {"10", true, "djE6", true},
	} {
		f.Add(s.limit, s.hasLimit, s.cursor, s.hasCursor)
	}
	mux := apigw.NewMux("admin", fzQuiet)
	mux.Handle("GET /api/v1/users", func(_ context.Context, r *apigw.Request) (*apigw.Response, error) {
		p, err := r.Page()
		if err != nil {
			return nil, err
		}
		return apigw.JSON(http.StatusOK, map[string]any{"limit": p.Limit, "after": p.After}), nil
	})
	pctx := apigw.PrincipalContext(fzAdmin)

	f.Fuzz(func(t *testing.T, limit string, hasLimit bool, cursor string, hasCursor bool) {
		ev := fzEvent(pctx)
		ev.QueryStringParameters = map[string]string{}
		if hasLimit {
			ev.QueryStringParameters["limit"] = limit
		}
		if hasCursor {
			ev.QueryStringParameters["cursor"] = cursor
		}
		p, err := (&apigw.Request{Event: ev}).Page()
		resp := mux.Serve(context.Background(), ev)
		if err != nil {
			fzValidation(t, err, limit+cursor, "limit", "cursor")
			if resp.StatusCode != http.StatusBadRequest || fzError(t, resp).Code != domain.CodeValidation {
				t.Fatalf("mux answered %d %s", resp.StatusCode, resp.Body)
			}
			return
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Page accepted, mux answered %d %s", resp.StatusCode, resp.Body)
		}
		if p.Limit < 1 || p.Limit > 200 || (!hasLimit && p.Limit != 50) {
			t.Fatalf("limit %q (given %v) -> %d", limit, hasLimit, p.Limit)
		}
		if hasLimit {
			if n, err := strconv.Atoi(limit); err != nil || n != p.Limit {
				t.Fatalf("limit %q -> %d", limit, p.Limit)
			}
		}
		if (p.After == "") != (!hasCursor || cursor == "") {
			t.Fatalf("cursor %q -> after %q", cursor, p.After)
		}
		if p.After != "" {
			if id, err := domain.ParseID(p.After); err != nil || id != p.After {
				t.Fatalf("cursor %q -> non-canonical after %q", cursor, p.After)
			}
			if back, err := app.DecodeCursor(app.EncodeCursor(p.After)); err != nil || back != p.After {
				t.Fatalf("cursor of %q does not round-trip: %q %v", p.After, back, err)
			}
		}
	})
}

// FuzzPathID feeds path parameters to Request.PathID: only a canonical
// (lowercase) UUID spelling the same id, or VALIDATION_FAILED naming the
// parameter.
func FuzzPathID(f *testing.F) {
	id := domain.NewID()
	for _, s := range []string{id, strings.ToUpper(id), "{" + id + "}", "urn:uuid:" + id, id[:35], id + "0",
		strings.ReplaceAll(id, "-", ""), strings.Replace(id, "-", "_", 1), " " + id[1:], id[:35] + "\x00",
		"00000000-0000-0000-0000-000000000000", "gggggggg-gggg-gggg-gggg-gggggggggggg", "..", "%2e%2e",
		"", strings.Repeat("a", 8<<10), "ÿÿÿÿÿÿÿÿ-ÿÿÿÿ-ÿÿÿÿ-ÿÿÿÿ-ÿÿÿÿ"} {
		f.Add(s, true)
	}
	f.Add("", false)
	f.Fuzz(func(t *testing.T, v string, present bool) {
		ev := fzEvent(nil)
		if present {
			ev.PathParameters = map[string]string{"user_id": v}
		}
		got, err := (&apigw.Request{Event: ev}).PathID("user_id")
		if err != nil {
			fzValidation(t, err, v, "user_id")
			return
		}
		if !present || len(v) != 36 || got != strings.ToLower(v) || !domain.IsID(got) {
			t.Fatalf("path %q (present %v) -> id %q", v, present, got)
		}
		for i, c := range got {
			if (i == 8 || i == 13 || i == 18 || i == 23) != (c == '-') || (c != '-' && !strings.ContainsRune("0123456789abcdef", c)) {
				t.Fatalf("path %q -> non-canonical id %q", v, got)
			}
		}
	})
}

// FuzzPrincipalContext feeds authorizer contexts to a mux route that
// needs user.list: a request reaches the handler only with a well-formed
// principal (UUID subject, known subject type, UUID or no org, known
// roles) that holds the permission in an org; everything else is 401 or
// 403 in the contract's shape, ORG_FORBIDDEN only when the authorizer
// said so or an org-less principal calls an org route, and 503 NOT_READY
// with Retry-After only when the authorizer could not reach the database.
func FuzzPrincipalContext(f *testing.F) {
	obs.SetMetricsOutput(io.Discard)
	a := fzAdmin
	for _, s := range [][8]string{
		{a.SubjectID, "user", a.OrgID, "admin", "", a.TokenID, "", ""},
		{a.SubjectID, "user", a.OrgID, "admin", "user.list", a.TokenID, "", ""},
		{a.SubjectID, "user", a.OrgID, "admin", "job.view", a.TokenID, "", ""},
		{a.SubjectID, "service_account", a.OrgID, "operator", "", "", "", ""},
		{a.SubjectID, "user", a.OrgID, "viewer,admin", "", "", "", ""},
		{a.SubjectID, "user", a.OrgID, "admin,", "", "", "", ""},
		{a.SubjectID, "user", a.OrgID, " admin", "", "", "", ""},
		{a.SubjectID, "user", a.OrgID, "ADMIN", "", "", "", ""},
		{a.SubjectID, "user", "", "root", "", "", "", ""},
		{a.SubjectID, "user", a.OrgID, "root", "", "", "", ""},
		{a.SubjectID, "system", a.OrgID, "admin", "", "", "", ""},
		{strings.ToUpper(a.SubjectID), "user", a.OrgID, "admin", "", "", "", ""},
		{"", "user", a.OrgID, "admin", "", "", "", ""},
		{a.SubjectID, "user", "*", "admin", "", "", "", ""},
		{a.SubjectID, "user", a.OrgID, "", "", "", "", ""},
		{a.SubjectID, "user", a.OrgID, "admin", "", "", "AUTH_UNAUTHORIZED", "invalid or expired token"},
		{a.SubjectID, "user", a.OrgID, "admin", "", "", "ORG_FORBIDDEN", ""},
		{a.SubjectID, "user", a.OrgID, "admin", "", "", "NOT_READY", ""},
		{"", "", "", "", "", "", "INTERNAL_ERROR", "boom"},
		{"", "", "", "", "", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
	}
	var seen domain.Principal
	mux := apigw.NewMux("admin", fzQuiet)
	mux.Handle("GET /api/v1/users", func(_ context.Context, r *apigw.Request) (*apigw.Response, error) {
		seen = r.Principal
		return apigw.NoContent(), nil
	})

	f.Fuzz(func(t *testing.T, sub, subType, org, roles, scopes, jti, authErr, authMsg string) {
		c := map[string]any{apigw.CtxSubject: sub, apigw.CtxSubjectType: subType, apigw.CtxOrgID: org,
			apigw.CtxRoles: roles, apigw.CtxScopes: scopes, apigw.CtxTokenID: jti}
		if authErr != "" {
			c[apigw.CtxAuthError], c[apigw.CtxAuthMessage] = authErr, authMsg
		}
		seen = domain.Principal{}
		resp := mux.Serve(context.Background(), fzEvent(c))
		switch resp.StatusCode {
		case http.StatusNoContent:
			p := seen
			if authErr != "" || !domain.IsID(p.SubjectID) || p.SubjectID != sub || string(p.SubjectType) != subType ||
				(p.SubjectType != domain.SubjectUser && p.SubjectType != domain.SubjectServiceAccount) ||
				p.OrgID != org || !domain.IsID(p.OrgID) || len(p.Roles) == 0 || !p.Can(domain.PermUserList) {
				t.Fatalf("context %v reached the handler as %+v", c, p)
			}
			for _, r := range p.Roles {
				if _, err := domain.ParseRole(string(r)); err != nil {
					t.Fatalf("context %v: principal holds role %q", c, r)
				}
			}
		case http.StatusUnauthorized, http.StatusForbidden:
			d := fzError(t, resp)
			switch {
			case authErr == string(domain.CodeOrgForbidden):
				if d.Code != domain.CodeOrgForbidden {
					t.Fatalf("authorizer said ORG_FORBIDDEN, function answered %s", d.Code)
				}
			case authErr != "":
				if d.Code != domain.CodeUnauthorized {
					t.Fatalf("authorizer said %q, function answered %s", authErr, d.Code)
				}
			case d.Code == domain.CodeOrgForbidden && org != "":
				t.Fatalf("ORG_FORBIDDEN for a principal in org %q: %s", org, resp.Body)
			}
		case http.StatusServiceUnavailable:
			// The authorizer could not reach the database: 503 to retry.
			if d := fzError(t, resp); authErr != string(domain.CodeNotReady) || d.Code != domain.CodeNotReady ||
				resp.Headers["Retry-After"] == "" {
				t.Fatalf("context %v: %d %s (Retry-After %q)", c, resp.StatusCode, resp.Body, resp.Headers["Retry-After"])
			}
		default:
			t.Fatalf("context %v: %d %s", c, resp.StatusCode, resp.Body)
		}
	})
}

// fzBody is a request body type with every shape the functions' body
// types use: strings, pointers to strings, slices, pointers to slices,
// nested and pointed-to structs, fixed arrays of floats, 64-bit integers,
// booleans.
type fzBody struct {
	Name    string          `json:"name"`
	Email   *string         `json:"email"`
	Roles   []string        `json:"roles"`
	Scopes  *[]string       `json:"scopes"`
	Enabled *bool           `json:"enabled"`
	Size    int64           `json:"size_bytes"`
	Params  wire.VinaParams `json:"params"`
	Quotas  *struct {
		MaxActiveJobs   *int   `json:"max_active_jobs"`
		MaxStorageBytes *int64 `json:"max_storage_bytes"`
	} `json:"quotas"`
	Inputs struct {
		Receptor string `json:"receptor"`
		Ligand   string `json:"ligand"`
	} `json:"inputs"`
}

// FuzzDecodeStrict checks DecodeStrict against encoding/json: it accepts
// exactly the bodies that are one valid JSON value decodable into the
// type without unknown fields, and refuses everything else with
// VALIDATION_FAILED naming one field of bounded length.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"x","email":"a@b.c","roles":["admin"],"scopes":null,"enabled":true,"size_bytes":5}`,
		`{"params":{"center":[1,2,3],"size":[20,20,20],"exhaustiveness":8,"seed":-1}}`,
		`{"quotas":{"max_active_jobs":3,"max_storage_bytes":9223372036854775807}}`,
		`{"quotas":{"max_storage_bytes":9223372036854775808}}`, `{"params":{"center":[1,2]}}`,
		`{"params":{"center":[1,2,3,4]}}`, `{"params":{"energy_range":1e400}}`, `{"inputs":{"receptor":7}}`,
		`{"name":"x"} `, `{"name":"x"}]`, `{"name":"x"}}`, `{} {}`, `{}x`, `null`, `[]`, `"s"`, `1`, ``, ` `,
		`{"name":"x","name":"y"}`, `{"Name":"x"}`, `{"NAME":"x"}`, `{"nam\u0065":"x"}`, `{"unknown":1}`,
		`{"` + strings.Repeat("k", 200) + `":1}`, `{"a\"b":1}`, "{\"\xff\":1}", `{"name":"\u0000"}`,
		"{\"name\":\"\xff\"}", `{"name":"\ud800"}`, strings.Repeat("[", 10000), `{"roles":[` + strings.Repeat(`"a",`, 100) + `"a"]}`,
		`{"enabled":"true"}`, `{"size_bytes":1.5}`, `{"size_bytes":-0}`, `{"size_bytes":1e3}`,
		"\ufeff{}", `{"name":"x"`, `{"name":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v fzBody
		err := apigw.DecodeStrict(b, &v)

		var ref fzBody
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		refOK := json.Valid(b) && dec.Decode(&ref) == nil
		if err == nil {
			if !refOK {
				t.Fatalf("DecodeStrict accepted %q, encoding/json refuses it", b)
			}
			// Accepted bodies decode to what encoding/json decodes.
			x, _ := json.Marshal(v)
			y, _ := json.Marshal(ref)
			if !bytes.Equal(x, y) {
				t.Fatalf("%q decodes to %s, encoding/json to %s", b, x, y)
			}
			return
		}
		if refOK {
			t.Fatalf("DecodeStrict refused %q (%v), encoding/json accepts it", b, err)
		}
		de, ok := domain.AsError(err)
		if !ok || de.Code != domain.CodeValidation || len(de.Fields) != 1 {
			t.Fatalf("%q: error %v, want VALIDATION_FAILED naming one field", b, err)
		}
		for field, msg := range de.Fields {
			if field == "" || len(field) > 64+len("...") || len(msg) > 100 {
				t.Fatalf("%q: field %q message %q", b, field, msg)
			}
		}
	})
}
