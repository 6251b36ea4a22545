package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// txStore is a store on the test cluster's maintenance database, for the
// transaction mechanics alone (no schema needed).
func txStore(t *testing.T) *Store {
	t.Helper()
	u := os.Getenv("MAD_TEST_PG_URL")
	if u == "" {
		t.Fatal("MAD_TEST_PG_URL is not set: run the tests with `make test` (or scripts/testenv.sh go test ./...)")
	}
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return NewStore(pool)
}

func TestTxReportsAStatementErrorSwallowedByFnAsRolledBack(t *testing.T) {
	t.Parallel()
	s := txStore(t)
	ctx := context.Background()
	err := s.Tx(ctx, domain.OrgScope(domain.NewID()), func(tx app.Tx) error {
		_, _ = tx.(*txn).tx.Exec(ctx, "SELECT 1/0") // aborts the transaction; fn ignores it
		return nil
	})
	if !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("Tx after an ignored statement error: %v, want ErrTxCommitRollback (the writes are gone)", err)
	}
}

func TestTxSetsTheTenantForItsTransactionOnly(t *testing.T) {
	t.Parallel()
	s := txStore(t)
	ctx := context.Background()
	org := domain.NewID()
	var inside string
	if err := s.Tx(ctx, domain.OrgScope(org), func(tx app.Tx) error {
		return tx.(*txn).tx.QueryRow(ctx, "SELECT current_setting('app.org_id', true)").Scan(&inside)
	}); err != nil {
		t.Fatal(err)
	}
	if inside != org {
		t.Fatalf("app.org_id inside the transaction = %q, want %q", inside, org)
	}
	// Every connection of the pool, after a committed and a failed Tx, is
	// idle with no tenant set.
	boom := errors.New("boom")
	if err := s.Tx(ctx, domain.OrgScope(org), func(app.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Tx returned %v, want fn's error", err)
	}
	for range 3 {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var after string
		status := conn.Conn().PgConn().TxStatus()
		err = conn.QueryRow(ctx, "SELECT coalesce(current_setting('app.org_id', true), '')").Scan(&after)
		conn.Release()
		if err != nil || status != 'I' || after != "" {
			t.Fatalf("pooled connection: status %c, app.org_id %q, err %v; want idle with no tenant", status, after, err)
		}
	}
}

func TestTxWithACancelledContextLeavesNoTransactionOpen(t *testing.T) {
	t.Parallel()
	s := txStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Tx(ctx, domain.OrgScope(domain.NewID()), func(tx app.Tx) error {
		cancel()
		_, err := tx.(*txn).tx.Exec(ctx, "SELECT 1")
		return err
	})
	if err == nil {
		t.Fatal("Tx with a context cancelled mid-way succeeded")
	}
	bg := context.Background()
	conn, err := s.pool.Acquire(bg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if st := conn.Conn().PgConn().TxStatus(); st != 'I' {
		t.Fatalf("next connection from the pool has status %c, want idle", st)
	}
}

func TestReadScopesEveryStatementAndRefusesWrites(t *testing.T) {
	t.Parallel()
	s := txStore(t)
	ctx := context.Background()
	org := domain.NewID()
	err := s.Read(ctx, domain.OrgScope(org), func(tx app.Tx) error {
		q := tx.(*txn).tx
		for i := range 2 { // the second statement is scoped too: its own batch
			var got string
			if err := q.QueryRow(ctx, "SELECT current_setting('app.org_id', true)").Scan(&got); err != nil || got != org {
				t.Errorf("statement %d: app.org_id = %q (%v), want %q", i, got, err, org)
			}
		}
		rows, err := q.Query(ctx, "SELECT g FROM generate_series(1, 3) g WHERE current_setting('app.org_id', true) = $1", org)
		if err != nil {
			return err
		}
		n, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || len(n) != 3 {
			t.Errorf("Query in Read: %v, %v; want 3 rows", n, err)
		}
		var none int
		if err := q.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&none); !errors.Is(err, pgx.ErrNoRows) {
			t.Errorf("QueryRow of no rows: %v, want ErrNoRows", err)
		}
		_, err = q.Exec(ctx, "CREATE TEMP TABLE read_must_not_write (x int)")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "25006" {
			t.Errorf("a write in Read: %v, want read_only_sql_transaction (25006)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var after, ro string
	if err := conn.QueryRow(ctx, "SELECT coalesce(current_setting('app.org_id', true), ''), current_setting('transaction_read_only')").Scan(&after, &ro); err != nil {
		t.Fatal(err)
	}
	if after != "" || ro != "off" || conn.Conn().PgConn().TxStatus() != 'I' {
		t.Fatalf("after Read: app.org_id %q, read only %s, status %c; want no tenant, read-write, idle", after, ro, conn.Conn().PgConn().TxStatus())
	}
}

func TestPendingWritesGoWithTheNextStatementInOrder(t *testing.T) {
	t.Parallel()
	s := txStore(t)
	ctx := context.Background()
	err := s.Tx(ctx, domain.OrgScope(domain.NewID()), func(tx app.Tx) error {
		x := tx.(*txn)
		// pgx prepares a batch's statements before running them: the table
		// must exist before the batch, as the schema's tables always do.
		if _, err := x.tx.Exec(ctx, "CREATE TEMP TABLE writes_order (n int PRIMARY KEY) ON COMMIT DROP"); err != nil {
			return err
		}
		x.later("first", "INSERT INTO writes_order VALUES (1)")
		x.later("sees first", "INSERT INTO writes_order SELECT max(n) + 1 FROM writes_order")
		rows, err := x.tx.Query(ctx, "SELECT n FROM writes_order ORDER BY n")
		if err != nil {
			return err
		}
		if got, err := pgx.CollectRows(rows, pgx.RowTo[int32]); err != nil || len(got) != 2 || got[1] != 2 {
			t.Errorf("rows read after two pending writes: %v (%v), want [1 2]: each write sees the ones before it", got, err)
		}

		x.later("ok", "INSERT INTO writes_order VALUES (10)")
		x.later("duplicate", "INSERT INTO writes_order VALUES (1)")
		x.later("never", "INSERT INTO writes_order VALUES (11)")
		var n int
		err = x.tx.QueryRow(ctx, "SELECT count(*) FROM writes_order").Scan(&n)
		if err == nil || !strings.HasPrefix(err.Error(), "duplicate: ") || domain.ErrorCode(err) != domain.CodeConflict {
			t.Errorf("read after a failing pending write: %v, want the write's label %q and the mapped CONFLICT code", err, "duplicate")
		}
		return nil
	})
	// The failed write aborted the transaction; Tx reports it.
	if !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Fatalf("Tx after a failed pending write: %v, want ErrTxCommitRollback", err)
	}
}

// roundTrips counts what a connection sends: a statement or a batch is one.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func TestTrailingWritesGoWithTheCommitInOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("MAD_TEST_PG_URL"))
	if err != nil {
		t.Fatal(err)
	}
	trips := &roundTrips{}
	cfg.ConnConfig.Tracer = trips
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := NewStore(pool)
	table := "pending_" + strings.ReplaceAll(domain.NewID(), "-", "")
	if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP TABLE "+table) })

	write := func(ns ...int) error {
		return s.Tx(ctx, domain.OrgScope(domain.NewID()), func(tx app.Tx) error {
			x := tx.(*txn)
			var one int
			if err := x.tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				return err
			}
			for _, n := range ns {
				x.later(fmt.Sprintf("insert %d", n), "INSERT INTO "+table+" VALUES ($1)", n)
			}
			return nil
		})
	}
	if err := write(0); err != nil { // prepares the statements once
		t.Fatal(err)
	}
	before := trips.n.Load()
	if err := write(1, 2); err != nil {
		t.Fatal(err)
	}
	// BEGIN with the tenant, the SELECT, the two inserts with COMMIT.
	if got := trips.n.Load() - before; got != 3 {
		t.Errorf("a transaction of one read and two trailing writes took %d round trips, want 3", got)
	}

	err = write(3, 1)
	if !strings.HasPrefix(errMessage(err), "commit: insert 1: ") || domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("a trailing write that fails at COMMIT: %v, want it named and mapped to CONFLICT", err)
	}
	var got []int32
	rows, err := pool.Query(ctx, "SELECT n FROM "+table+" ORDER BY n")
	if err == nil {
		got, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	}
	if err != nil || fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("rows after the failed transaction: %v (%v), want [0 1 2]: none of its writes kept", got, err)
	}
}

func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPendingWritesInReadAreRefused(t *testing.T) {
	t.Parallel()
	s := txStore(t)
	ctx := context.Background()
	err := s.Read(ctx, domain.OrgScope(domain.NewID()), func(tx app.Tx) error {
		tx.(*txn).later("temp table", "CREATE TEMP TABLE read_batch_must_not_write (x int)")
		return nil
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" || !strings.HasPrefix(err.Error(), "temp table: ") {
		t.Fatalf("a pending write in Read: %v, want the label and read_only_sql_transaction (25006)", err)
	}
}
