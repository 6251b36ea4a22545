package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mad-bio/mad/migrations"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/testenv"
)

// seedJob creates a molecule-free job row for org through the store.
func seedJob(t *testing.T, s *postgres.Store, org domain.Org) *domain.Job {
	t.Helper()
	ctx := context.Background()
	p := domain.Pipeline{ID: domain.BuiltinPipelineID, Version: domain.BuiltinPipelineVersion}
	j := domain.NewJob(domain.NewID(), org.ID, domain.NewID(), p,
		domain.JobInputs{Receptor: domain.NewID(), Ligand: domain.NewID()},
		domain.VinaParams{Center: [3]float64{1, 2, 3}, Size: [3]float64{20, 20, 20}, Exhaustiveness: 1, NumModes: 1, EnergyRange: 3, TimeoutSeconds: 60},
		"sig-"+domain.NewID(), time.Now().UTC())
	if err := s.Tx(ctx, domain.OrgScope(org.ID), func(tx app.Tx) error { return tx.Jobs().CreateJob(ctx, j) }); err != nil {
		t.Fatalf("create job: %v", err)
	}
	return j
}

func TestRLSHidesOtherOrgsJobsFromUnfilteredSelect(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	a, b := testenv.NewOrg(t, d), testenv.NewOrg(t, d)
	ja := seedJob(t, d.Store, a)
	jb := seedJob(t, d.Store, b)

	conn, err := pgx.Connect(ctx, d.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
		t.Fatal(err)
	}
	// No WHERE clause at all: only row-level security stands between org A
	// and org B's rows.
	rows, err := tx.Query(ctx, `SELECT id::text, org_id::text FROM jobs`)
	if err != nil {
		t.Fatal(err)
	}
	seenA := false
	for rows.Next() {
		var id, org string
		if err := rows.Scan(&id, &org); err != nil {
			t.Fatal(err)
		}
		if org != a.ID {
			t.Fatalf("SELECT * FROM jobs in org A's context returned a row of org %s (job %s)", org, id)
		}
		if id == jb.ID {
			t.Fatalf("org B's job %s visible to org A", jb.ID)
		}
		seenA = seenA || id == ja.ID
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !seenA {
		t.Fatalf("org A's own job %s not visible in its context", ja.ID)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Without any org context, tenant rows are invisible altogether.
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("jobs visible without app.org_id: %d", n)
	}
}

func TestRLSRefusesWritingAnotherOrgsRow(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	a, b := testenv.NewOrg(t, d), testenv.NewOrg(t, d)
	conn, err := pgx.Connect(ctx, d.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO molecules (id, org_id, name, format, size_bytes, sha256, created_by)
			VALUES ($1, $2, 'x', 'pdb', 1, repeat('a', 64), $1)`, domain.NewID(), b.ID)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Fatalf("insert of org B's row in org A's context: want RLS violation 42501, got %v", err)
	}
}

func TestSetConfigDoesNotLeakToTheNextTransaction(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	a := testenv.NewOrg(t, d)
	seedJob(t, d.Store, a)
	conn, err := pgx.Connect(ctx, d.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var setting string
	var n int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(current_setting('app.org_id', true), ''), (SELECT count(*) FROM jobs)`).Scan(&setting, &n); err != nil {
		t.Fatal(err)
	}
	if setting != "" || n != 0 {
		t.Fatalf("after commit, app.org_id=%q and %d jobs visible; want empty and 0", setting, n)
	}
}

func TestAuditLogIsAppendOnlyForTheAppRole(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	a := testenv.NewOrg(t, d)
	ev := domain.AuditEvent{ID: domain.NewID(), OrgID: a.ID, ActorID: "tester", ActorType: domain.SubjectUser,
		Action: domain.AuditOrgUpdated, Outcome: domain.OutcomeSuccess}
	if err := d.Store.Tx(ctx, domain.OrgScope(a.ID), func(tx app.Tx) error { return tx.Audit().AppendAudit(ctx, ev) }); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, d.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		`UPDATE audit_log SET outcome = 'failure' WHERE id = $1`,
		`DELETE FROM audit_log WHERE id = $1`,
	} {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, stmt, ev.ID)
			return err
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Fatalf("%s as the app role: want permission denied (42501), got %v", stmt, err)
		}
	}
	if _, err := conn.Exec(ctx, `TRUNCATE audit_log`); err == nil {
		t.Fatal("TRUNCATE audit_log as the app role succeeded")
	}

	// Even the owner, who has the privileges, is stopped by the trigger.
	oc, err := pgx.Connect(ctx, d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close(ctx)
	for _, stmt := range []string{`UPDATE audit_log SET outcome = 'failure' WHERE id = $1`, `DELETE FROM audit_log WHERE id = $1`} {
		err := pgx.BeginFunc(ctx, oc, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('app.org_id', $1, true)`, a.ID); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, stmt, ev.ID)
			if err == nil && tag.RowsAffected() == 0 {
				return errors.New("statement matched no row, so the trigger was never tested")
			}
			return err
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Fatalf("%s as the owner: want the append-only trigger to refuse (42501), got %v", stmt, err)
		}
	}
}

func TestAppRoleOwnsNothingAndCannotBypassRLS(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owned int
	var bypass, super bool
	err = conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
		  WHERE pg_has_role(current_user, r.oid, 'MEMBER') AND c.relnamespace = 'public'::regnamespace),
		(SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user),
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`).Scan(&owned, &bypass, &super)
	if err != nil {
		t.Fatal(err)
	}
	if owned != 0 || bypass || super {
		t.Fatalf("app role owns %d relations, bypassrls=%v, superuser=%v; want 0, false, false", owned, bypass, super)
	}
	// Every tenant table has RLS enabled and forced.
	rows, err := conn.Query(ctx, `SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname = ANY ($1)`,
		[]string{"users", "service_accounts", "refresh_tokens", "revoked_access_tokens", "molecules", "uploads",
			"pipelines", "jobs", "job_events", "job_results", "artifacts", "result_cache", "idempotency_keys", "audit_log"})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for rows.Next() {
		var name string
		var rls, force bool
		if err := rows.Scan(&name, &rls, &force); err != nil {
			t.Fatal(err)
		}
		count++
		if !rls || !force {
			t.Errorf("table %s: rowsecurity=%v force=%v, want both", name, rls, force)
		}
	}
	if count != 14 {
		t.Fatalf("found %d of 14 tenant tables", count)
	}
}

func TestMigrateIsIdempotentAndRecordsVersions(t *testing.T) {
	owner := testenv.FreshDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	first, err := postgres.Migrate(ctx, conn, migrations.FS, nil)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	all, _ := postgres.LoadMigrations(migrations.FS)
	if len(first) != len(all) || len(all) < 2 {
		t.Fatalf("first run applied %v of %d migrations", first, len(all))
	}
	second, err := postgres.Migrate(ctx, conn, migrations.FS, nil)
	if err != nil || len(second) != 0 {
		t.Fatalf("second run: applied %v, err %v; want nothing", second, err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(all) {
		t.Fatalf("schema_migrations has %d rows (err %v), want %d", n, err, len(all))
	}
	if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET checksum = 'x' || checksum WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(ctx, conn, migrations.FS, nil); err == nil {
		t.Fatal("a changed, already-applied migration went unnoticed")
	}
}

// The same unfiltered SELECT through the store's two ways in, as the
// application role: Tx (BEGIN and set_config batched) and Read (each
// statement batched behind set_config).
func TestRLSHidesOtherOrgsJobsThroughTxAndRead(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	a, b := testenv.NewOrg(t, d), testenv.NewOrg(t, d)
	ja := seedJob(t, d.Store, a)
	jb := seedJob(t, d.Store, b)
	ways := map[string]func(context.Context, domain.Scope, func(app.Tx) error) error{"Tx": d.Store.Tx, "Read": d.Store.Read}
	for name, run := range ways {
		var ids []string
		err := run(ctx, domain.OrgScope(a.ID), func(tx app.Tx) error {
			rows, err := postgres.RawQuery(ctx, tx, `SELECT id::text FROM jobs`)
			if err != nil {
				return err
			}
			ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		seenA := false
		for _, id := range ids {
			if id == jb.ID {
				t.Fatalf("%s: org B's job %s visible to org A", name, jb.ID)
			}
			seenA = seenA || id == ja.ID
		}
		if !seenA {
			t.Fatalf("%s: org A's own job %s not visible in its context (%v)", name, ja.ID, ids)
		}
	}
}
