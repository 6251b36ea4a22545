// Command migrate is a stand-in of functions/migrate: it creates one table
// readable by the application role and seeds the root user from the root secret.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mad-bio/mad/scripts/devstack/testdata/functions/fake"
)

func handle(ctx context.Context, ev json.RawMessage) (map[string]any, error) {
	cfg := fake.AWS(ctx)
	conn, err := fake.DB(ctx, cfg, os.Getenv("MAD_DB_ADMIN_SECRET_ID"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var root struct{ Email, Password string }
	if err := fake.Secret(ctx, cfg, os.Getenv("MAD_ROOT_SECRET_ID"), &root); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS fake_root (email text PRIMARY KEY, password text NOT NULL);
		GRANT SELECT ON fake_root TO mad_app`); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `INSERT INTO fake_root VALUES ($1, $2) ON CONFLICT (email) DO UPDATE SET password = EXCLUDED.password`, root.Email, root.Password); err != nil {
		return nil, err
	}
	return map[string]any{"event": ev, "seeded": root.Email}, nil
}

func main() { lambda.Start(handle) }
