// Command health is a stand-in of functions/health.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/scripts/devstack/testdata/functions/fake"
)

func handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	switch ev.RouteKey {
	case "GET /health":
		return fake.JSON(200, map[string]string{"status": "ok"}), nil
	case "GET /ready":
		checks := fake.Ready(ctx)
		for _, v := range checks {
			if v != "ok" {
				return fake.JSON(503, map[string]any{"status": "not_ready", "checks": checks}), nil
			}
		}
		return fake.JSON(200, map[string]any{"status": "ready", "checks": checks}), nil
	}
	return fake.JSON(404, map[string]any{"error": map[string]string{"code": "ROUTE_NOT_FOUND", "message": "no route " + ev.RawPath}}), nil
}

func main() { lambda.Start(handle) }
