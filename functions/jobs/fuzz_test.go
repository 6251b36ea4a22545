package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

// The seeds run as ordinary tests under `make test` (Postgres and moto);
// scripts/fuzz.sh explores from them.

// FuzzJobsBodies sends arbitrary bodies, content types, Idempotency-Key
// headers and ?use_cache= values to every POST route of the jobs function
// (pipelines as an org admin; jobs of the built-in pipeline and cancel as
// a standard user), through its real mux and use cases (Postgres, S3 and
// SQS on moto). A valid body creates a pipeline or queues a job (nothing
// runs it); garbage gets a 4xx in the contract's shape, never a 5xx or a
// leak.
func FuzzJobsBodies(f *testing.F) {
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	org, admin := env.NewOrg(f)
	u := env.NewUser(f, admin, domain.RoleStandard)
	mol := func(name, format, file string) domain.Molecule {
		b, err := os.ReadFile("../../shared/testdata/1iep/" + file)
		if err != nil {
			f.Fatal(err)
		}
		m, err := env.Molecules.CreateMolecule(context.Background(), u.Principal, app.NewMoleculeInput{Name: name, Format: format, Content: b})
		if err != nil {
			f.Fatal(err)
		}
		return m
	}
	receptor := mol("receptor", "pdbqt", "1iep_receptor.pdbqt")
	ligand := mol("ligand", "pdbqt", "1iep_ligand.pdbqt")
	sdf := mol("ligand sdf", "sdf", "1iep_ligand.sdf")
	mux := newMux(handler{jobs: env.Jobs}, apigw.NewMux(routes.FnJobs, apptest.Quiet))
	rts := []fzRoute{
		{key: "POST /api/v1/pipelines", principal: &admin.Principal},
		{key: "POST /api/v1/pipelines/{pipeline_id}/jobs", params: map[string]string{"pipeline_id": domain.BuiltinPipelineID}, principal: &u.Principal},
		{key: "POST /api/v1/jobs/{job_id}/cancel", params: map[string]string{"job_id": domain.NewID()}, principal: &u.Principal},
	}
	// Seeds name this process's molecules by placeholder: the fuzzing
	// coordinator and its workers each run this setup, with their own
	// database, and share only the corpus.
	placeholders := strings.NewReplacer("$RECEPTOR", receptor.ID, "$LIGAND", ligand.ID, "$SDF", sdf.ID,
		"$URI", ligand.URI(), "$ORG", org.ID)
	const job = `{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"center":[15.19,53.903,16.917],"size":[20,20,20],"exhaustiveness":1,"num_modes":3,"seed":42}}`
	seeds := [][]string{
		{`{"name":"vina-quick","engine":"vina","version":"1.2.3","defaults":{"exhaustiveness":4,"num_modes":5}}`,
			`{"name":"vina-quick","engine":"vina","version":"1.2.3-rc.1+b7","defaults":{}}`,
			`{"name":"vina","engine":"vina","version":"1"}`, `{"name":"\u0041","engine":"\u0076ina","version":"\u0031"}`, `{"name":"p","engine":"gnina","version":"1"}`,
			`{"name":"p","engine":"vina","version":"v1"}`, `{"name":"p","engine":"vina","version":"1","defaults":{"center":[1,2]}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"exhaustiveness":0,"seed":0,"timeout_seconds":-1}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"energy_range":1e308,"size":[1e308,1e308,1e308]}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"num_modes":2147483648}}`,
			`{"name":"p","engine":"vina","version":"1","defaults":{"cpu":4}}`},
		{job, strings.Replace(job, `"seed":42`, `"seed":0`, 1), strings.Replace(job, "$LIGAND", "$SDF", 1),
			strings.Replace(job, "$LIGAND", "$URI", 1), strings.Replace(job, "$LIGAND", "$RECEPTOR", 1),
			strings.Replace(job, "$LIGAND", "mad://org/$ORG/molecules/$LIGAND.pdb", 1),
			strings.Replace(job, "$LIGAND", "mad://org/"+domain.NewID()+"/molecules/$LIGAND.pdbqt", 1),
			strings.Replace(job, "$RECEPTOR", domain.NewID(), 1), strings.Replace(job, "$RECEPTOR", "../../x", 1),
			`{"pipeline_version":"9.9.9","inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"}}`,
			`{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"center":[1,2,3],"size":[0,0,0]}}`,
			`{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"center":[1e308,1,1],"size":[126,126,126],"exhaustiveness":1000}}`,
			`{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND"},"params":{"seed":9223372036854775807,"timeout_seconds":86400000}}`,
			`{"pipeline_version":"\u0031","inputs":{"receptor":"\u0041$RECEPTOR","ligand":"\u006dad://org/$ORG/molecules/$LIGAND.pdbqt"}}`,
			`{"inputs":{}}`, `{"inputs":null,"params":null}`, `{"inputs":{"receptor":1}}`, `{"inputs":{"receptor":"$RECEPTOR","ligand":"$LIGAND","extra":1}}`},
		{`{}`, ``, `{"reason":"x"}`},
	}
	common := []string{`{}`, `null`, `[]`, `"x"`, `{"name":`, `{} {}`, `{}]`, `{"unknown":1}`, strings.Repeat("[", 1000)}
	for i, r := range rts {
		if _, ok := routes.ByKey(r.key); !ok {
			f.Fatalf("route %s is not in the table", r.key)
		}
		for _, s := range append(seeds[i], common...) {
			f.Add(uint8(i), "application/json", false, []byte(s), "", "")
		}
		f.Add(uint8(i), "text/plain", false, []byte(`{}`), "", "")
		f.Add(uint8(i), "application/json", true, []byte(`{"name":"x"}`), "", "")
		f.Add(uint8(i), "", false, []byte("\xff{}"), "", "")
	}
	for _, k := range []string{domain.NewID(), "k", strings.Repeat("k", 255), strings.Repeat("k", 256), "a b", "\x00", "ключ", "\x7f"} {
		f.Add(uint8(1), "application/json", false, []byte(job), k, "")
	}
	for _, c := range []string{"true", "false", "TRUE", "1", "maybe", "\x00"} {
		f.Add(uint8(1), "application/json", false, []byte(job), "", c)
	}

	f.Fuzz(func(t *testing.T, route uint8, ctype string, b64 bool, body []byte, idemKey, useCache string) {
		r := rts[int(route)%len(rts)]
		body = []byte(placeholders.Replace(string(body)))
		ev := fzEvent(r, ctype, b64, body)
		if idemKey != "" {
			ev.Headers["idempotency-key"] = idemKey
		}
		if useCache != "" {
			ev.QueryStringParameters = map[string]string{"use_cache": useCache}
		}
		resp := mux.Serve(context.Background(), ev)
		fzCheck(t, r.key, body, resp)
	})
}

// FuzzJobsFields fills the string fields of well-formed pipeline and job
// requests (and the Idempotency-Key header and ?use_cache=) with
// arbitrary strings (control characters, NUL, invalid UTF-8, huge), so
// the use cases and the database see values that raw-byte mutation of
// JSON rarely produces. Same assertions as FuzzJobsBodies.
func FuzzJobsFields(f *testing.F) {
	obs.SetMetricsOutput(io.Discard)
	env := apptest.New(f, apptest.Options{})
	_, admin := env.NewOrg(f)
	u := env.NewUser(f, admin, domain.RoleStandard)
	b, err := os.ReadFile("../../shared/testdata/1iep/1iep_ligand.pdbqt")
	if err != nil {
		f.Fatal(err)
	}
	ligand, err := env.Molecules.CreateMolecule(context.Background(), u.Principal, app.NewMoleculeInput{Name: "l", Format: "pdbqt", Content: b})
	if err != nil {
		f.Fatal(err)
	}
	mux := newMux(handler{jobs: env.Jobs}, apigw.NewMux(routes.FnJobs, apptest.Quiet))
	pipelines := fzRoute{key: "POST /api/v1/pipelines", principal: &admin.Principal}
	jobs := fzRoute{key: "POST /api/v1/pipelines/{pipeline_id}/jobs", params: map[string]string{"pipeline_id": domain.BuiltinPipelineID}, principal: &u.Principal}
	params := map[string]any{"center": []float64{15.19, 53.903, 16.917}, "size": []int{20, 20, 20}, "exhaustiveness": 1}
	forms := []struct {
		r    fzRoute
		body func(a, b, c string) any
	}{
		{pipelines, func(a, b, c string) any { return map[string]any{"name": a, "engine": b, "version": c} }},
		{jobs, func(a, b, c string) any {
			return map[string]any{"pipeline_version": a, "inputs": map[string]string{"receptor": b, "ligand": c}, "params": params}
		}},
		{jobs, nil}, // a valid job; a and b are the Idempotency-Key and ?use_cache=
	}
	for i := range forms {
		for _, s := range [][3]string{{"vina-x", "vina", "1.0.0"}, {"", "$LIGAND", "$LIGAND"}, {domain.NewID(), "true", ""},
			{"", "", ""}, {"\x01", "\x01", "\x01"}} {
			f.Add(uint8(i), s[0], s[1], s[2])
		}
	}
	f.Fuzz(func(t *testing.T, form uint8, a, b, c string) {
		fm := forms[int(form)%len(forms)]
		var v any
		if fm.body != nil {
			v = fm.body(strings.ReplaceAll(a, "$LIGAND", ligand.ID), strings.ReplaceAll(b, "$LIGAND", ligand.ID),
				strings.ReplaceAll(c, "$LIGAND", ligand.ID))
		} else {
			v = map[string]any{"inputs": map[string]string{"receptor": ligand.ID, "ligand": ligand.ID}, "params": params}
		}
		body, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		ev := fzEvent(fm.r, "application/json", false, body)
		if fm.body == nil {
			ev.Headers["idempotency-key"] = a
			ev.QueryStringParameters = map[string]string{"use_cache": b}
		}
		resp := mux.Serve(context.Background(), ev)
		fzCheck(t, fm.r.key, body, resp)
	})
}

// FuzzJobsDecode decodes arbitrary bytes into each body type of the jobs
// function with apigw.DecodeStrict: every refusal is VALIDATION_FAILED
// naming one field of bounded length. No services.
func FuzzJobsDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","engine":"vina","version":"1","defaults":{"center":[1,2,3]}}`,
		`{"pipeline_version":"1","inputs":{"receptor":"r","ligand":"l"},"params":{"seed":1,"energy_range":3.5}}`,
		`{"params":{"center":[1,2,3,4]}}`, `{"params":{"size":"big"}}`, `{"defaults":{"exhaustiveness":1e10}}`,
		`{"inputs":{"receptor":[]}}`, `{"x":1}`, `{}]`, ``} {
		for k := range 2 {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		var v any = new(createPipelineRequest)
		if kind%2 == 1 {
			v = new(createJobRequest)
		}
		fzDecodeErr(t, b, apigw.DecodeStrict(b, v))
	})
}

// fzRoute is one POST/PATCH route of the function as the fuzzer calls it.
type fzRoute struct {
	key       string
	params    map[string]string
	principal *domain.Principal // nil: no authorizer context (public route)
}

// fzEvent builds the API Gateway v2 event of route r carrying body with
// content type ctype (none when empty), base64-encoded when b64 or when
// body is not UTF-8 (as API Gateway does for binary bodies).
func fzEvent(r fzRoute, ctype string, b64 bool, body []byte) *events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(r.key, " ")
	ev := &events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: r.key, RawPath: path, PathParameters: r.params,
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
	if r.principal != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			Lambda: apigw.PrincipalContext(*r.principal)}
	}
	return ev
}

// fzMaxField bounds the field names of VALIDATION_FAILED, in characters:
// a client's unknown field is named truncated to 64 bytes plus an
// ellipsis (a rune cut by the truncation reaches the client as U+FFFD).
const fzMaxField = 64 + len("...")

// fzLeaks are what no error response may carry unless the client sent it:
// panics, stack traces, SQL errors, driver and Go type names, fmt's
// complaints.
var fzLeaks = []string{"panic", "goroutine", "SQLSTATE", "pgx", "pgconn", "postgres", "runtime error",
	"nil pointer", "json: ", "Go value", "Go struct", "main.", "app.", "domain.", "apigw.", "wire.", "*string",
	"[]string", "int64", "float64", "map[", "struct {", "interface {", "%!", ".go:"}

// fzSent is everything the client sent in readable form: the raw body and
// every key and string value in it when it is JSON, so that an error that
// names a field the client invented is not taken for a leak.
func fzSent(body []byte) string {
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

// fzCheck asserts what every answer to a body must satisfy: never 5xx;
// the wrapper's headers; on 4xx the contract's error shape, field names of
// bounded length, and nothing leaked.
func fzCheck(t *testing.T, route string, body []byte, resp events.APIGatewayV2HTTPResponse) {
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
	var e struct {
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
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" ||
		resp.Headers["Content-Type"] != "application/json" || apigw.StatusOf(e.Error.Code) != resp.StatusCode {
		t.Fatalf("%s %q: %d %s is not in the contract's error shape (%v)", route, body, resp.StatusCode, resp.Body, err)
	}
	if e.Error.Code == domain.CodeValidation && (e.Error.Details == nil || len(e.Error.Details.Fields) == 0) {
		t.Fatalf("%s %q: VALIDATION_FAILED names no field: %s", route, body, resp.Body)
	}
	if e.Error.Details != nil {
		for f := range e.Error.Details.Fields {
			if utf8.RuneCountInString(f) > fzMaxField {
				t.Fatalf("%s %q: %d-byte field name %.100q", route, body, len(f), f)
			}
		}
	}
	sent := fzSent(body)
	for _, w := range fzLeaks {
		if strings.Contains(strings.ToLower(resp.Body), strings.ToLower(w)) && !strings.Contains(sent, strings.ToLower(w)) {
			t.Fatalf("%s %q: error response carries %q: %s", route, body, w, resp.Body)
		}
	}
}

// fzDecodeErr checks a DecodeStrict result: nil only for valid JSON,
// otherwise VALIDATION_FAILED naming one field of bounded length with a
// bounded message.
func fzDecodeErr(t *testing.T, b []byte, err error) {
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
		if utf8.RuneCountInString(field) > fzMaxField || len(msg) > 100 {
			t.Fatalf("%q: field %.100q message %.100q", b, field, msg)
		}
	}
}
