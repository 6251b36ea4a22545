// Package testenv connects integration tests to the real services that
// `make test` (scripts/testenv.sh) starts: a throwaway Postgres cluster and
// a moto server. Each test binary gets its own freshly migrated database,
// so packages run in parallel without sharing rows; inside a package, each
// test makes its own orgs with random ids.
//
// When the services are missing the tests fail with a message saying how
// to start them; they never skip silently.
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/migrations"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/stack"
)

// Test-cluster credentials. The cluster listens on loopback only and is
// deleted when the harness exits.
const (
	ownerRole     = "mad_owner"
	ownerPassword = "owner-test-password"
	appPassword   = "app-test-password"
)

// Database is one migrated test database.
type Database struct {
	Name     string
	OwnerURL string // migrations, RLS-bypassing checks: the table owner
	AppURL   string // the application role: no ownership, no BYPASSRLS
	App      *pgxpool.Pool
	Store    *postgres.Store
}

var (
	dbOnce sync.Once
	db     *Database
	dbErr  error
)

// PGURL returns the superuser URL of the test cluster.
func PGURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("MAD_TEST_PG_URL")
	if u == "" {
		t.Fatal("MAD_TEST_PG_URL is not set: run the tests with `make test` (or scripts/testenv.sh go test ./...), which starts Postgres and moto")
	}
	return u
}

// DB returns this test binary's database, creating and migrating it on
// first use.
func DB(t testing.TB) *Database {
	t.Helper()
	super := PGURL(t)
	dbOnce.Do(func() { db, dbErr = newDatabase(super) })
	if dbErr != nil {
		t.Fatalf("test database: %v", dbErr)
	}
	return db
}

func newDatabase(superURL string) (*Database, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	name := "mad_test_" + strings.ReplaceAll(domain.NewID()[24:], "-", "")
	su, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return nil, fmt.Errorf("connect as superuser: %w", err)
	}
	defer su.Close(ctx)
	// Roles are cluster-wide; serialize their creation across packages.
	if _, err := su.Exec(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		return nil, err
	}
	var exists bool
	if err := su.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, ownerRole).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN CREATEROLE PASSWORD '%s'`, ownerRole, ownerPassword)); err != nil {
			return nil, fmt.Errorf("create owner role: %w", err)
		}
	}
	// The lock is held until the app roles exist and the schema is
	// migrated: roles are cluster-wide, and the migration's own lock lives
	// in each database, so it cannot serialize two test binaries.
	defer su.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(4242)`)
	if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, name, ownerRole)); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	owner := withUser(superURL, ownerRole, ownerPassword, name)
	oc, err := pgx.Connect(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("connect as owner: %w", err)
	}
	defer oc.Close(ctx)
	if err := postgres.EnsureAppRoles(ctx, oc, stack.AppDBRole, stack.AppDBUser, appPassword, true); err != nil {
		return nil, err
	}
	if _, err := postgres.Migrate(ctx, oc, migrations.FS, nil); err != nil {
		return nil, err
	}
	appURL := withUser(superURL, stack.AppDBUser, appPassword, name)
	pool, err := postgres.NewPool(ctx, postgres.PoolConfig{URL: appURL, MaxConns: 16})
	if err != nil {
		return nil, err
	}
	return &Database{Name: name, OwnerURL: owner, AppURL: appURL, App: pool, Store: postgres.NewStore(pool)}, nil
}

// FreshDatabase creates an empty database (no migrations) owned by the
// owner role and returns the owner's URL; for migration tests.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	DB(t) // ensures the roles exist
	super := PGURL(t)
	ctx := context.Background()
	name := "mad_fresh_" + strings.ReplaceAll(domain.NewID()[24:], "-", "")
	su, err := pgx.Connect(ctx, super)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close(ctx)
	if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, name, ownerRole)); err != nil {
		t.Fatal(err)
	}
	return withUser(super, ownerRole, ownerPassword, name)
}

// AppURLFor returns the application role's URL for database URL u.
func AppURLFor(u string) string {
	pu, _ := url.Parse(u)
	return withUser(u, stack.AppDBUser, appPassword, strings.TrimPrefix(pu.Path, "/"))
}

func withUser(base, user, password, dbname string) string {
	u, _ := url.Parse(base)
	u.User = url.UserPassword(user, password)
	u.Path = "/" + dbname
	return u.String()
}

// AWSEndpoint returns moto's URL.
func AWSEndpoint(t testing.TB) string {
	t.Helper()
	e := os.Getenv("MAD_TEST_AWS_ENDPOINT")
	if e == "" {
		t.Fatal("MAD_TEST_AWS_ENDPOINT is not set: run the tests with `make test`, which starts moto")
	}
	return e
}

// AWSConfig returns an SDK config pointed at moto with static test keys.
func AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	ep := AWSEndpoint(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion("us-east-1"),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		awsconfig.WithBaseEndpoint(ep),
	)
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return cfg
}

// NewOrg inserts an active org with random id and name through the owner
// connection-free path (the application role may insert orgs).
func NewOrg(t testing.TB, d *Database) domain.Org {
	t.Helper()
	o := domain.Org{ID: domain.NewID(), Status: domain.OrgActive, Quotas: domain.DefaultQuotas, CreatedAt: time.Now().UTC()}
	o.Name = "org-" + o.ID
	err := d.Store.Tx(context.Background(), domain.GlobalScope(), func(tx appTx) error {
		return tx.Orgs().CreateOrg(context.Background(), o)
	})
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	return o
}
