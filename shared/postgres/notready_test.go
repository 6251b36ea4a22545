package postgres_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/postgres"
)

func TestUnreachableDatabaseIsNotReadyNotInternal(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	pool, err := pgxpool.New(context.Background(), fmt.Sprintf("postgres://mad:x@127.0.0.1:%d/mad?sslmode=disable&connect_timeout=2", port))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = postgres.NewStore(pool).Tx(ctx, domain.OrgScope(domain.NewID()), func(tx app.Tx) error {
		_, err := tx.Jobs().CountActiveJobs(ctx)
		return err
	})
	de, ok := domain.AsError(err)
	if !ok || de.Code != domain.CodeNotReady || de.RetryAfter <= 0 {
		t.Fatalf("error %v: want NOT_READY with Retry-After", err)
	}
}
