package openapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
)

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// doc decodes the embedded document into generic JSON values.
func doc(t *testing.T) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(Document, &d); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return d
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// resolve follows a local JSON pointer ("#/components/...").
func resolve(d map[string]any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("%q is not a local reference", ref)
	}
	var cur any = d
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%q: no member %q", ref, tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%q: bad index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q: cannot descend into %T at %q", ref, cur, tok)
		}
	}
	return cur, nil
}

// deref returns v itself, or what its $ref points at (following chains).
func deref(t *testing.T, d map[string]any, v any) map[string]any {
	t.Helper()
	for range 10 {
		m := obj(v)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		target, err := resolve(d, ref)
		if err != nil {
			t.Fatal(err)
		}
		v = target
	}
	t.Fatalf("reference chain too long at %v", v)
	return nil
}

// operation is one method of one path of the document.
type operation struct {
	method, path string
	op           map[string]any
}

func (o operation) key() string { return strings.ToUpper(o.method) + " " + o.path }

func operations(t *testing.T, d map[string]any) []operation {
	t.Helper()
	var out []operation
	for path, item := range obj(d["paths"]) {
		for _, m := range httpMethods {
			if op := obj(obj(item)[m]); op != nil {
				out = append(out, operation{method: m, path: path, op: op})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

var greedy = regexp.MustCompile(`\{([^}]+)\+\}`)

// docPath turns a route table path into OpenAPI syntax: {x+} -> {x}.
func docPath(p string) string { return greedy.ReplaceAllString(p, "{$1}") }

func routeByDocKey(t *testing.T) map[string]routes.Route {
	t.Helper()
	m := map[string]routes.Route{}
	for _, r := range routes.Table {
		k := r.Method + " " + docPath(r.Path)
		if _, dup := m[k]; dup {
			t.Fatalf("route table has %s twice", k)
		}
		m[k] = r
	}
	return m
}

func TestDocumentIsOpenAPI31JSONWithResolvableRefs(t *testing.T) {
	d := doc(t)
	if v, _ := d["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	if v := obj(d["info"])["version"]; v != "1.0.0" {
		t.Errorf("info.version = %v, want 1.0.0", v)
	}
	var refs int
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				refs++
				if _, err := resolve(d, ref); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
			for k, c := range x {
				walk(where+"/"+k, c)
			}
		case []any:
			for i, c := range x {
				walk(where+"/"+strconv.Itoa(i), c)
			}
		}
	}
	walk("#", d)
	if refs == 0 {
		t.Fatal("no $ref found: the walk is broken")
	}
}

func TestDocumentHasExactlyTheRoutesOfTheRouteTable(t *testing.T) {
	d := doc(t)
	table := routeByDocKey(t)
	documented := map[string]bool{}
	for _, o := range operations(t, d) {
		documented[o.key()] = true
		if _, ok := table[o.key()]; !ok {
			t.Errorf("the document has %s, which is not in routes.Table", o.key())
		}
	}
	for k := range table {
		if !documented[k] {
			t.Errorf("routes.Table has %s, which the document does not describe", k)
		}
	}
}

func TestOperationsAreWellFormed(t *testing.T) {
	d := doc(t)
	placeholder := regexp.MustCompile(`\{([^}]+)\}`)
	ids := map[string]string{}
	for _, o := range operations(t, d) {
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", o.key())
		} else if prev, dup := ids[id]; dup {
			t.Errorf("operationId %s used by %s and %s", id, prev, o.key())
		}
		ids[id] = o.key()
		if s, _ := o.op["summary"].(string); s == "" {
			t.Errorf("%s has no summary", o.key())
		}
		if tags, _ := o.op["tags"].([]any); len(tags) == 0 {
			t.Errorf("%s has no tags", o.key())
		}
		declared := map[string]bool{}
		for _, p := range o.op["parameters"].([]any) {
			pm := deref(t, d, p)
			if pm["in"] == "path" {
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", o.key(), pm["name"])
				}
				declared[pm["name"].(string)] = true
			}
		}
		var want []string
		for _, m := range placeholder.FindAllStringSubmatch(o.path, -1) {
			want = append(want, m[1])
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", o.key(), m[1])
			}
		}
		for name := range declared {
			if !slices.Contains(want, name) {
				t.Errorf("%s declares path parameter %s that is not in the path", o.key(), name)
			}
		}
	}
}

func TestPublicRoutesAloneOptOutOfBearerAuthAndPermissionsMatchTheTable(t *testing.T) {
	d := doc(t)
	scheme := obj(obj(obj(d["components"])["securitySchemes"])["bearerAuth"])
	if scheme["type"] != "http" || scheme["scheme"] != "bearer" || scheme["bearerFormat"] != "JWT" {
		t.Fatalf("bearerAuth = %v, want an HTTP bearer JWT scheme", scheme)
	}
	global, _ := d["security"].([]any)
	if len(global) != 1 || obj(global[0])["bearerAuth"] == nil {
		t.Fatalf("global security = %v, want [{bearerAuth: []}]", d["security"])
	}
	table := routeByDocKey(t)
	for _, o := range operations(t, d) {
		r, ok := table[o.key()]
		if !ok {
			continue // reported by TestDocumentHasExactlyTheRoutesOfTheRouteTable
		}
		sec, has := o.op["security"]
		list, _ := sec.([]any)
		public := has && list != nil && len(list) == 0
		if public != r.Public {
			t.Errorf("%s: security %v but the table says Public=%v", o.key(), sec, r.Public)
		}
		if has && !public {
			t.Errorf("%s overrides security with %v; protected routes use the global bearerAuth", o.key(), sec)
		}
		perm, hasPerm := o.op["x-mad-permission"]
		switch {
		case r.Public && hasPerm:
			t.Errorf("%s is public but has x-mad-permission %v", o.key(), perm)
		case !r.Public && perm != string(r.Permission):
			t.Errorf("%s: x-mad-permission = %v, the table says %q", o.key(), perm, r.Permission)
		}
	}
}

// sharedResponseStatus is the status each reusable error response belongs under.
var sharedResponseStatus = map[string]string{
	"ValidationFailed":   "400",
	"Unauthorized":       "401",
	"InvalidCredentials": "401",
	"Forbidden":          "403",
	"NotFound":           "404",
	"Conflict":           "409",
	"PayloadTooLarge":    "413",
	"TooManyRequests":    "429",
	"InternalError":      "500",
}

func TestEveryOperationDeclaresASuccessAndAContractErrorResponse(t *testing.T) {
	d := doc(t)
	const errorRef = "#/components/schemas/Error"
	for _, o := range operations(t, d) {
		resps := obj(o.op["responses"])
		var success, contractErr bool
		for status, resp := range resps {
			if ref, ok := obj(resp)["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/components/responses/")
				if want, known := sharedResponseStatus[name]; known && want != status {
					t.Errorf("%s: %s used under %s, it belongs under %s", o.key(), name, status, want)
				}
			}
			switch {
			case strings.HasPrefix(status, "2"), strings.HasPrefix(status, "3"):
				success = true
			case strings.HasPrefix(status, "4"):
				schema := obj(obj(obj(deref(t, d, resp)["content"])["application/json"])["schema"])
				if schema["$ref"] == errorRef {
					contractErr = true
				}
			}
			if status == "302" {
				h := obj(deref(t, d, resp)["headers"])
				if _, ok := h["Location"]; !ok {
					t.Errorf("%s: 302 without a Location header", o.key())
				}
			}
			if status == "204" && deref(t, d, resp)["content"] != nil {
				t.Errorf("%s: 204 with content", o.key())
			}
		}
		if !success {
			t.Errorf("%s declares no 2xx or 3xx response", o.key())
		}
		if !contractErr {
			t.Errorf("%s declares no 4xx response in the contract's Error shape", o.key())
		}
	}
}

func TestErrorSchemaHasTheContractShapeAndEveryCode(t *testing.T) {
	d := doc(t)
	schemas := obj(obj(d["components"])["schemas"])
	e := obj(schemas["Error"])
	if !slices.Equal(toStrings(e["required"]), []string{"error"}) {
		t.Errorf("Error.required = %v", e["required"])
	}
	inner := obj(obj(e["properties"])["error"])
	props := obj(inner["properties"])
	for _, f := range []string{"code", "message", "details"} {
		if props[f] == nil {
			t.Errorf("Error.error lacks %s", f)
		}
	}
	if !slices.Equal(toStrings(inner["required"]), []string{"code", "message"}) {
		t.Errorf("Error.error.required = %v, want [code message]", inner["required"])
	}
	codes := toStrings(deref(t, d, props["code"])["enum"])
	var want []string
	for _, c := range domain.Codes {
		want = append(want, string(c))
	}
	slices.Sort(codes)
	slices.Sort(want)
	if !slices.Equal(codes, want) {
		t.Errorf("Error code enum = %v, want the contract's codes %v", codes, want)
	}
}

func toStrings(v any) []string {
	var out []string
	xs, _ := v.([]any)
	for _, x := range xs {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func isObjectType(s map[string]any) bool {
	switch t := s["type"].(type) {
	case string:
		return t == "object"
	case []any:
		return slices.Contains(t, any("object"))
	}
	return false
}

func TestRequestBodyObjectsRejectUnknownFields(t *testing.T) {
	d := doc(t)
	checked := 0
	for _, o := range operations(t, d) {
		body := o.op["requestBody"]
		if body == nil {
			continue
		}
		for media, mt := range obj(deref(t, d, body)["content"]) {
			seen := map[string]bool{}
			var walk func(where string, v any)
			walk = func(where string, v any) {
				s := obj(v)
				if s == nil {
					return
				}
				if ref, ok := s["$ref"].(string); ok {
					if seen[ref] {
						return
					}
					seen[ref] = true
					walk(ref, deref(t, d, s))
				}
				if isObjectType(s) {
					checked++
					if s["additionalProperties"] != false {
						t.Errorf("%s %s: object schema at %s lacks additionalProperties: false", o.key(), media, where)
					}
				}
				for name, p := range obj(s["properties"]) {
					walk(where+"."+name, p)
				}
				walk(where+"[]", s["items"])
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					walk(where+"{}", ap)
				}
				for _, k := range []string{"oneOf", "anyOf", "allOf", "prefixItems"} {
					subs, _ := s[k].([]any)
					for i, sub := range subs {
						walk(fmt.Sprintf("%s/%s/%d", where, k, i), sub)
					}
				}
			}
			walk("body", obj(mt)["schema"])
		}
	}
	if checked == 0 {
		t.Fatal("no request body object schema found: the walk is broken")
	}
}
