package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version  int
	Name     string
	SQL      string
	Checksum string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// LoadMigrations reads NNNN_name.sql files from fsys in version order.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: v, Name: m[2], SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// migrationLock is the advisory lock key that serializes concurrent
// migrators (two deploys, or parallel test packages).
const migrationLock = 0x6d61645f6d6967 // "mad_mig"

// Migrate applies the migrations of fsys not yet recorded in
// schema_migrations, each in its own transaction together with its
// version row, under an advisory lock. Applied migrations whose file
// changed are an error: history is never rewritten. It returns the
// versions it applied.
func Migrate(ctx context.Context, conn *pgx.Conn, fsys fs.FS, log *slog.Logger) ([]int, error) {
	migs, err := LoadMigrations(fsys)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]string{}
	rows, err := conn.Query(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("scan schema_migrations: %w", err)
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	var done []int
	for _, m := range migs {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum {
				return done, fmt.Errorf("migration %04d_%s was changed after it was applied (checksum %s, recorded %s)", m.Version, m.Name, m.Checksum[:12], sum[:12])
			}
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, m.Version, m.Name, m.Checksum)
			return err
		})
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				return done, fmt.Errorf("apply migration %04d_%s: %s (SQLSTATE %s, position %d)", m.Version, m.Name, pe.Message, pe.Code, pe.Position)
			}
			return done, fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if log != nil {
			log.Info("migration applied", "version", m.Version, "name", m.Name)
		}
		done = append(done, m.Version)
	}
	return done, nil
}

// EnsureAppRoles creates, when missing, the NOLOGIN group role that holds
// the application's grants and the application's login user as a member
// of it. When setPassword is true the login user's password is (re)set to
// password; in AWS, where Secrets Manager rotation owns the password after
// the first deploy, the migrate function sets it only on creation. Names
// and password are quoted by the server (format %I/%L), never spliced.
func EnsureAppRoles(ctx context.Context, conn *pgx.Conn, group, user, password string, setPassword bool) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)+1); err != nil {
		return fmt.Errorf("take role lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock)+1)
	}()
	exists := func(name string) (bool, error) {
		var ok bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&ok)
		return ok, err
	}
	run := func(format string, args ...any) error {
		var stmt string
		if err := conn.QueryRow(ctx, `SELECT format(`+format+`)`, args...).Scan(&stmt); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, stmt)
		return err
	}
	ok, err := exists(group)
	if err != nil {
		return fmt.Errorf("look up role %s: %w", group, err)
	}
	if !ok {
		if err := run(`'CREATE ROLE %I NOLOGIN NOINHERIT NOBYPASSRLS', $1::text`, group); err != nil {
			return fmt.Errorf("create role %s: %w", group, err)
		}
	}
	ok, err = exists(user)
	if err != nil {
		return fmt.Errorf("look up role %s: %w", user, err)
	}
	if !ok {
		if err := run(`'CREATE ROLE %I LOGIN INHERIT NOBYPASSRLS PASSWORD %L IN ROLE %I', $1::text, $2::text, $3::text`, user, password, group); err != nil {
			return fmt.Errorf("create role %s: %w", user, err)
		}
	} else if setPassword {
		if err := run(`'ALTER ROLE %I PASSWORD %L', $1::text, $2::text`, user, password); err != nil {
			return fmt.Errorf("set password of %s: %w", user, err)
		}
	}
	// The application's statements are short; a runaway query must not
	// hold a pooled connection (and a Lambda) hostage.
	if err := run(`'ALTER ROLE %I SET statement_timeout = %L', $1::text, '15s'`, user); err != nil {
		return fmt.Errorf("set statement_timeout of %s: %w", user, err)
	}
	return nil
}
