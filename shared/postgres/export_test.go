package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/shared/app"
)

// RawQuery runs sql on a Tx's or Read's connection, bypassing the
// repositories: for tests that prove row-level security alone.
func RawQuery(ctx context.Context, tx app.Tx, sql string, args ...any) (pgx.Rows, error) {
	return tx.(*txn).tx.Query(ctx, sql, args...)
}
