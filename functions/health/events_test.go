package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/testenv/apitest"
)

// eventTypes says which aws-lambda-go type the files of each folder of
// events/ are. A folder missing here fails the test: a new kind of event
// must say what it is.
var eventTypes = map[string]func() any{
	"apigw":      func() any { return new(events.APIGatewayV2HTTPRequest) },
	"authorizer": func() any { return new(events.APIGatewayV2CustomAuthorizerV2Request) },
	"sqs":        func() any { return new(events.SQSEvent) },
	"schedule":   func() any { return new(events.EventBridgeEvent) },
	"rotate":     func() any { return new(events.SecretsManagerSecretRotationEvent) },
	// The migrate handler takes any JSON (json.RawMessage); CDK's Trigger
	// sends none. An object is all that can be checked.
	"migrate": func() any { return new(map[string]any) },
}

// sampleEvents returns every JSON file under events/, relative to it.
func sampleEvents(t *testing.T) []string {
	t.Helper()
	var files []string
	dir := apitest.EventsDir(t)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch filepath.Ext(rel) {
		case ".json":
			files = append(files, filepath.ToSlash(rel))
		case ".md", ".py":
		default:
			t.Errorf("events/%s: only .json events (plus README.md and generate.py) belong in events/", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no sample events found")
	}
	return files
}

func TestSampleEventsDecodeStrictly(t *testing.T) {
	t.Parallel()
	for _, rel := range sampleEvents(t) {
		t.Run(rel, func(t *testing.T) {
			b := apitest.ReadEvent(t, rel)
			if !json.Valid(b) {
				t.Fatalf("events/%s is not valid JSON", rel)
			}
			folder, _, _ := strings.Cut(rel, "/")
			newType, ok := eventTypes[folder]
			if !ok {
				t.Fatalf("events/%s: folder %q has no declared event type (see eventTypes)", rel, folder)
			}
			v := newType()
			if err := apitest.Decode(b, v); err != nil {
				t.Fatalf("events/%s does not decode strictly into %T: %v", rel, v, err)
			}
			switch ev := v.(type) {
			case *events.SQSEvent:
				checkSQS(t, rel, ev)
			case *events.APIGatewayV2CustomAuthorizerV2Request:
				if ev.Version != "2.0" || ev.Type != "REQUEST" || ev.RouteKey == "" {
					t.Fatalf("events/%s: not a payload 2.0 REQUEST authorizer event", rel)
				}
				if _, ok := routes.ByKey(ev.RouteKey); !ok {
					t.Fatalf("events/%s: route %q is not in the route table", rel, ev.RouteKey)
				}
			case *events.EventBridgeEvent:
				if ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" {
					t.Fatalf("events/%s: not a scheduled event", rel)
				}
			case *events.SecretsManagerSecretRotationEvent:
				if want := strings.TrimSuffix(filepath.Base(rel), ".json"); ev.Step != want {
					t.Fatalf("events/%s: Step %q, want %q", rel, ev.Step, want)
				}
			}
		})
	}
}

// checkSQS checks a batch of one and, for the uploads queue, that the
// body is an S3 notification as S3 sends it.
func checkSQS(t *testing.T, rel string, ev *events.SQSEvent) {
	t.Helper()
	if len(ev.Records) != 1 {
		t.Fatalf("events/%s: %d records; the event source mappings use batches of 1", rel, len(ev.Records))
	}
	r := ev.Records[0]
	if r.EventSource != "aws:sqs" || r.MessageId == "" || r.Attributes["ApproximateReceiveCount"] == "" {
		t.Fatalf("events/%s: not an SQS record with messageId and ApproximateReceiveCount", rel)
	}
	if strings.Contains(rel, "s3") {
		var s3 events.S3Event
		if err := apitest.Decode([]byte(r.Body), &s3); err != nil {
			t.Fatalf("events/%s: body does not decode strictly into events.S3Event: %v", rel, err)
		}
		if len(s3.Records) != 1 || s3.Records[0].EventName != "ObjectCreated:Put" || s3.Records[0].EventSource != "aws:s3" {
			t.Fatalf("events/%s: body is not one ObjectCreated:Put record", rel)
		}
		parts := strings.Split(s3.Records[0].S3.Object.Key, "/")
		if len(parts) != 3 || parts[1] != "uploads" {
			t.Fatalf("events/%s: key %q is not <org>/uploads/<upload>", rel, s3.Records[0].S3.Object.Key)
		}
		return
	}
	var msg map[string]string
	if err := apitest.Decode([]byte(r.Body), &msg); err != nil || len(msg) != 2 || msg["job_id"] == "" || msg["org_id"] == "" {
		t.Fatalf("events/%s: body %q is not {\"job_id\",\"org_id\"}", rel, r.Body)
	}
}

// apiEvents loads every API Gateway event, by file.
func apiEvents(t *testing.T) map[string]events.APIGatewayV2HTTPRequest {
	t.Helper()
	out := map[string]events.APIGatewayV2HTTPRequest{}
	for _, rel := range sampleEvents(t) {
		if !strings.HasPrefix(rel, "apigw/") {
			continue
		}
		out[rel] = apitest.LoadAPIEvent(t, rel)
	}
	return out
}

// TestEveryRouteHasASampleEvent: a route added to the table without a
// sample event fails here.
func TestEveryRouteHasASampleEvent(t *testing.T) {
	t.Parallel()
	byKey := map[string][]string{}
	for rel, ev := range apiEvents(t) {
		byKey[ev.RouteKey] = append(byKey[ev.RouteKey], rel)
	}
	for _, r := range routes.Table {
		if len(byKey[r.Key()]) == 0 {
			t.Errorf("route %q (function %s) has no sample event in events/apigw/%s/", r.Key(), r.Function, r.Function)
		}
	}
	if len(byKey[routes.DefaultRouteKey]) == 0 {
		t.Errorf("no sample event for API Gateway's %s route", routes.DefaultRouteKey)
	}
}

// TestAPISampleEventsMatchTheirRoutes checks each API event against the
// route table the way API Gateway would route it, and runs it through the
// apigw wrapper of its function: a protected route's authorizer context
// must make a principal with the route's permission, the body must pass
// the size limit and decoding, and the handler must be reached.
func TestAPISampleEventsMatchTheirRoutes(t *testing.T) {
	t.Parallel()
	for rel, ev := range apiEvents(t) {
		t.Run(rel, func(t *testing.T) {
			fn := strings.Split(rel, "/")[1]
			rc := ev.RequestContext
			if ev.Version != "2.0" || rc.RouteKey != ev.RouteKey || rc.HTTP.Path != ev.RawPath {
				t.Fatalf("version %q, routeKey %q / requestContext.routeKey %q, rawPath %q / http.path %q",
					ev.Version, ev.RouteKey, rc.RouteKey, ev.RawPath, rc.HTTP.Path)
			}
			for k := range ev.Headers {
				if k != strings.ToLower(k) {
					t.Fatalf("header %q: payload 2.0 header names are lowercase", k)
				}
			}
			mux := apigw.NewMux(fn, quiet)
			reached := false
			handler := func(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
				reached = true
				return apigw.NoContent(), nil
			}
			_, authErr := contextOf(ev)["auth_error"]
			if ev.RouteKey == routes.DefaultRouteKey {
				if fn != routes.FnHealth {
					t.Fatalf("%s events belong to the health function", routes.DefaultRouteKey)
				}
				if _, _, ok, _ := routes.Match(rc.HTTP.Method, ev.RawPath); ok {
					t.Fatalf("%s %s matches a route; API Gateway would not send it to %s", rc.HTTP.Method, ev.RawPath, routes.DefaultRouteKey)
				}
				mux.Handle(ev.RouteKey, handler)
			} else {
				route, ok := routes.ByKey(ev.RouteKey)
				if !ok {
					t.Fatalf("route %q is not in the route table", ev.RouteKey)
				}
				if route.Function != fn {
					t.Fatalf("route %q is served by %s, but the event is under apigw/%s/", ev.RouteKey, route.Function, fn)
				}
				matched, params, ok, _ := routes.Match(rc.HTTP.Method, ev.RawPath)
				if !ok || matched.Key() != route.Key() {
					t.Fatalf("%s %s routes to %q, not %q", rc.HTTP.Method, ev.RawPath, matched.Key(), route.Key())
				}
				if got := ev.PathParameters; !maps.Equal(got, params) && !(len(got) == 0 && len(params) == 0) {
					t.Fatalf("pathParameters %v, the route gives %v", got, params)
				}
				if route.Public && rc.Authorizer != nil {
					t.Fatal("a public route's event carries an authorizer context; API Gateway sends none")
				}
				if !route.Public && (rc.Authorizer == nil || rc.Authorizer.Lambda == nil) {
					t.Fatal("a protected route's event needs requestContext.authorizer.lambda")
				}
				if rc.Authorizer != nil && rc.Authorizer.JWT != nil {
					t.Fatal("MAD uses a Lambda authorizer, not a JWT authorizer")
				}
				mux.Handle(ev.RouteKey, handler)
			}
			resp := mux.Serve(context.Background(), &ev)
			if authErr {
				if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
					t.Fatalf("an auth_error context answered %d, want 401/403: %s", resp.StatusCode, resp.Body)
				}
				if reached {
					t.Fatal("the handler ran for a refused token")
				}
				return
			}
			if !reached || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("the event did not reach its handler: %d %s", resp.StatusCode, resp.Body)
			}
		})
	}
}

func contextOf(ev events.APIGatewayV2HTTPRequest) map[string]any {
	if ev.RequestContext.Authorizer == nil {
		return nil
	}
	return ev.RequestContext.Authorizer.Lambda
}

// TestSampleEventsCoverEveryFunction: each function has at least one
// event it can be invoked with.
func TestSampleEventsCoverEveryFunction(t *testing.T) {
	t.Parallel()
	files := sampleEvents(t)
	has := func(prefix string) bool {
		return slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(f, prefix) })
	}
	want := map[string]string{
		routes.FnAuthorizer: "authorizer/", routes.FnEngine: "sqs/jobs-message", routes.FnDLQ: "sqs/jobs-dlq-message",
		routes.FnIngest: "sqs/uploads-s3-put", routes.FnSweeper: "schedule/", routes.FnMigrate: "migrate/",
		routes.FnRotate: "rotate/",
	}
	for _, fn := range routes.APIFunctions {
		want[fn] = "apigw/" + fn + "/"
	}
	for _, fn := range routes.AllFunctions {
		if p, ok := want[fn]; !ok || !has(p) {
			t.Errorf("function %s has no sample event (expected under events/%s)", fn, p)
		}
	}
}
