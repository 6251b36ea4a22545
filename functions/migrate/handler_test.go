package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/migrations"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/password"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/stack"
	"github.com/mad-bio/mad/shared/testenv"
	"github.com/mad-bio/mad/shared/testenv/apitest"
	"github.com/mad-bio/mad/shared/testenv/apptest"
)

func readEvent(t testing.TB, rel string) []byte {
	t.Helper()
	b := apitest.ReadEvent(t, rel)
	if !json.Valid(b) {
		t.Fatalf("events/%s is not JSON", rel)
	}
	return b
}

// newHandler wires migrate against ownerURL, as main.go does with
// MAD_DATABASE_ADMIN_URL and MAD_ROOT_EMAIL / MAD_ROOT_PASSWORD.
func newHandler(t *testing.T, ownerURL string, root RootUser) handler {
	t.Helper()
	hasher, err := password.NewWithParams(apptest.TestHashParams)
	if err != nil {
		t.Fatal(err)
	}
	return handler{
		adminURL: func(context.Context) (string, error) { return ownerURL, nil },
		// The application login exists cluster-wide (testenv made it);
		// migrate never resets an existing login's password.
		appLogin: func(context.Context) (Login, error) {
			return Login{User: stack.AppDBUser, Password: "not-used-for-an-existing-login"}, nil
		},
		rootUser:   func(context.Context) (RootUser, bool, error) { return root, root.Email != "", nil },
		migrations: migrations.FS,
		hasher:     hasher,
		log:        apptest.Quiet,
	}
}

// appStore connects to the migrated database as the application role.
func appStore(t *testing.T, ownerURL string) *postgres.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.AppURLFor(ownerURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.NewStore(pool)
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ownerURL := testenv.FreshDatabase(t)
	root := RootUser{Email: apptest.NewEmail("root"), Password: apptest.TestPassword}
	h := newHandler(t, ownerURL, root)

	all, err := postgres.LoadMigrations(migrations.FS)
	if err != nil || len(all) == 0 {
		t.Fatalf("migrations: %v", err)
	}
	var versions []int
	for _, m := range all {
		versions = append(versions, m.Version)
	}

	// First run (the trigger's Create): every migration, and the root user.
	res, err := h.handle(ctx, json.RawMessage(readEvent(t, "migrate/create.json")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Applied, versions) || !res.RootCreated {
		t.Fatalf("first run = %+v, want applied %v and the root created", res, versions)
	}

	// Second run, through the Lambda runtime with the trigger's payload:
	// nothing to apply, the root exists.
	out, err := lambda.NewHandler(h.handle).Invoke(ctx, readEvent(t, "migrate/trigger.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"applied":[],"root_created":false}` {
		t.Fatalf("second run = %s", out)
	}

	// The schema works for the application role, and the root user exists
	// once and can log in.
	store := appStore(t, ownerURL)
	var u domain.User
	if err := store.Tx(ctx, domain.GlobalScope(), func(tx app.Tx) error {
		var err error
		u, err = tx.Users().FindUserByEmail(ctx, root.Email)
		return err
	}); err != nil {
		t.Fatalf("root user: %v", err)
	}
	if !slices.Equal(u.Roles, []domain.Role{domain.RoleRoot}) || u.OrgID != "" || !u.Enabled || !h.hasher.Verify(u.PasswordHash, root.Password) {
		t.Fatalf("root user %+v", u)
	}
	var pipelines []domain.Pipeline
	org := domain.Org{ID: domain.NewID(), Status: domain.OrgActive, Quotas: domain.DefaultQuotas, CreatedAt: time.Now().UTC()}
	org.Name = "org-" + org.ID
	if err := store.Tx(ctx, domain.OrgScope(org.ID), func(tx app.Tx) error {
		if err := tx.Orgs().CreateOrg(ctx, org); err != nil {
			return err
		}
		var err error
		pipelines, err = tx.Pipelines().FindPipelines(ctx, app.Page{Limit: 10})
		return err
	}); err != nil || !slices.ContainsFunc(pipelines, func(p domain.Pipeline) bool { return p.ID == domain.BuiltinPipelineID }) {
		t.Fatalf("built-in pipeline after migration: %v (%v)", pipelines, err)
	}

	// A later run with a changed root password (a rotated secret) creates
	// nothing and never resets the password the root has.
	other := newHandler(t, ownerURL, RootUser{Email: root.Email, Password: "another password entirely"})
	if res, err := other.handle(ctx, json.RawMessage(`{}`)); err != nil || res.RootCreated || len(res.Applied) != 0 {
		t.Fatalf("third run = %+v, %v", res, err)
	}
	if err := store.Tx(ctx, domain.GlobalScope(), func(tx app.Tx) error {
		var err error
		u, err = tx.Users().FindUserByEmail(ctx, root.Email)
		return err
	}); err != nil || !h.hasher.Verify(u.PasswordHash, root.Password) {
		t.Fatalf("root password changed by a later run (%v)", err)
	}
}

func TestMigrateWithoutRoot(t *testing.T) {
	t.Parallel()
	res, err := newHandler(t, testenv.FreshDatabase(t), RootUser{}).handle(context.Background(), json.RawMessage(readEvent(t, "migrate/create.json")))
	if err != nil || len(res.Applied) == 0 || res.RootCreated {
		t.Fatalf("run without a root user = %+v, %v", res, err)
	}
}

func TestMigrateFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	payload := json.RawMessage(readEvent(t, "migrate/create.json"))

	h := newHandler(t, "", RootUser{})
	h.adminURL = func(context.Context) (string, error) { return "", errors.New("secret not found") }
	if _, err := h.handle(ctx, payload); err == nil || !strings.Contains(err.Error(), "admin credentials") {
		t.Fatalf("missing admin secret: %v", err)
	}

	// A root password the contract would refuse fails the deploy rather
	// than seeding a weak root.
	h = newHandler(t, testenv.FreshDatabase(t), RootUser{Email: apptest.NewEmail("root"), Password: "short"})
	if res, err := h.handle(ctx, payload); err == nil || res.RootCreated {
		t.Fatalf("weak root password: %+v, %v", res, err)
	}
}
