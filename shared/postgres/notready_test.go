package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/testenv"
)

// closedPort returns a loopback port nothing listens on any more.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestUnreachableDatabaseIsNotReadyNotInternal(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
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

// A lazy pool starts without its database or its credentials, reports
// the outage on use, and connects once the credentials name a live server:
// fallbacks (sslmode=prefer's TLS and plain-text attempts) included.
func TestLazyPoolStartsWithoutTheDatabaseAndConnectsWhenItAppears(t *testing.T) {
	t.Parallel()
	d := testenv.DB(t)
	live, err := pgx.ParseConfig(d.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	deadPort := closedPort(t)

	var (
		mu    sync.Mutex
		asked int
		up    bool
	)
	creds := func(context.Context) (postgres.Credentials, error) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		c := postgres.Credentials{Host: "127.0.0.1", Port: deadPort, User: live.User, Password: live.Password, Database: live.Database}
		if up {
			c.Host, c.Port = live.Host, int(live.Port)
		}
		return c, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.NewPool(ctx, postgres.PoolConfig{Credentials: creds, MaxConns: 2, Lazy: true})
	if err != nil {
		t.Fatalf("lazy pool with the database down: %v", err)
	}
	defer pool.Close()
	if asked != 0 {
		t.Fatalf("a lazy pool asked for credentials %d times before its first use", asked)
	}
	store := postgres.NewStore(pool)
	if err := store.Ping(ctx); domain.ErrorCode(err) != domain.CodeNotReady {
		t.Fatalf("ping with the database down: %v, want NOT_READY", err)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	if err := store.Ping(ctx); err != nil {
		t.Fatalf("ping once the credentials name the live server: %v", err)
	}
	var who string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != live.User {
		t.Fatalf("connected as %q (%v), want %q", who, err, live.User)
	}
}

func TestEagerPoolRefusesToStartWithoutTheDatabase(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := postgres.NewPool(ctx, postgres.PoolConfig{URL: fmt.Sprintf("postgres://mad:x@127.0.0.1:%d/mad?connect_timeout=2", port)})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("eager pool with the database down: %v; want an error naming the address", err)
	}
}
