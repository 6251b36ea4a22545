package apitest

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/domain"
)

// LoadAPIEvent loads the API Gateway sample event events/<rel> into the
// exact type an API function receives, as it is in the file.
func LoadAPIEvent(t testing.TB, rel string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	return LoadEvent[events.APIGatewayV2HTTPRequest](t, rel)
}

// APIEvent loads an API Gateway sample event like LoadAPIEvent, replaces
// the sample's fixed ids (old, new pairs, as strings.NewReplacer takes
// them), puts p's authorizer context in (nil: as in the file) and gives
// it a fresh x-request-id.
func APIEvent(t testing.TB, rel string, p *domain.Principal, replace ...string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b := ReadEvent(t, rel)
	if len(replace) > 0 {
		b = []byte(strings.NewReplacer(replace...).Replace(string(b)))
	}
	var ev events.APIGatewayV2HTTPRequest
	decodeEvent(t, rel, b, &ev)
	if p != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: apigw.PrincipalContext(*p)}
	}
	ev.Headers["x-request-id"] = domain.NewID()
	return ev
}

// SetBody replaces ev's body with body, not base64-encoded, and its
// content-length header to match.
func SetBody(ev *events.APIGatewayV2HTTPRequest, body string) {
	ev.Body, ev.IsBase64Encoded = body, false
	ev.Headers["content-length"] = strconv.Itoa(len(body))
}

// SetJSON replaces ev's body with v in JSON (see SetBody).
func SetJSON(t testing.TB, ev *events.APIGatewayV2HTTPRequest, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	SetBody(ev, string(b))
}

// SetQuery replaces ev's query string with q, both the parsed parameters
// and the raw query string.
func SetQuery(ev *events.APIGatewayV2HTTPRequest, q map[string]string) {
	v := url.Values{}
	for k, x := range q {
		v.Set(k, x)
	}
	ev.QueryStringParameters, ev.RawQueryString = q, v.Encode()
}

// LoadEvent loads the sample event events/<rel> strictly (Decode) into
// T, the aws-lambda-go type of the function that receives it, e.g.
// events.SQSEvent for sqs/jobs-message.json.
func LoadEvent[T any](t testing.TB, rel string) T {
	t.Helper()
	var ev T
	decodeEvent(t, rel, ReadEvent(t, rel), &ev)
	return ev
}

// decodeEvent decodes the bytes b of sample event rel strictly into v.
func decodeEvent(t testing.TB, rel string, b []byte, v any) {
	t.Helper()
	if err := Decode(b, v); err != nil {
		t.Fatalf("events/%s into %T: %v", rel, v, err)
	}
}
