// Command auth is a stand-in of functions/auth: the root secret's
// credentials get the token "good".
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/scripts/devstack/testdata/functions/fake"
)

func handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	switch ev.RouteKey {
	case "GET /api/v1/me":
		return fake.JSON(200, map[string]any{"user_id": ev.RequestContext.Authorizer.Lambda["sub"], "roles": ev.RequestContext.Authorizer.Lambda["roles"]}), nil
	case "POST /api/v1/auth/token":
		var in struct{ Email, Password string }
		_ = json.Unmarshal([]byte(ev.Body), &in)
		conn, err := fake.DB(ctx, fake.AWS(ctx), os.Getenv("MAD_DB_SECRET_ID"))
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		defer conn.Close(ctx)
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fake_root WHERE email = $1 AND password = $2)`, in.Email, in.Password).Scan(&ok); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		if !ok {
			return fake.JSON(401, map[string]any{"error": map[string]string{"code": "AUTH_INVALID_CREDENTIALS", "message": "invalid credentials"}}), nil
		}
		r := fake.JSON(200, map[string]any{"access_token": "good", "refresh_token": "refresh", "token_type": "bearer", "expires_in": 900})
		r.Headers["Cache-Control"] = "no-store"
		return r, nil
	}
	return fake.JSON(404, map[string]any{"error": map[string]string{"code": "ROUTE_NOT_FOUND", "message": "no route"}}), nil
}

func main() { lambda.Start(handle) }
