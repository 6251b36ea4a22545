package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/stack"
)

// Login is a database login.
type Login struct{ User, Password string }

// RootUser is the bootstrap root account.
type RootUser struct{ Email, Password string }

// handler applies migrations as the owner, makes sure the application's
// role and login exist, and seeds the bootstrap root user. It runs once
// per deploy (CDK trigger) and on every local stack start; every step is
// idempotent.
type handler struct {
	adminURL   func(ctx context.Context) (string, error)
	appLogin   func(ctx context.Context) (Login, error)
	rootUser   func(ctx context.Context) (RootUser, bool, error)
	migrations fs.FS
	hasher     app.PasswordHasher
	log        *slog.Logger
}

// Result reports what a run did.
type Result struct {
	Applied     []int `json:"applied"`
	RootCreated bool  `json:"root_created"`
}

func (h handler) handle(ctx context.Context, _ json.RawMessage) (Result, error) {
	var res Result
	url, err := h.adminURL(ctx)
	if err != nil {
		return res, fmt.Errorf("admin credentials: %w", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return res, fmt.Errorf("connect as owner: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	login, err := h.appLogin(ctx)
	if err != nil {
		return res, fmt.Errorf("application credentials: %w", err)
	}
	// The login is created with the secret's password only when missing:
	// after that, Secrets Manager rotation owns the password.
	if err := postgres.EnsureAppRoles(ctx, conn, stack.AppDBRole, login.User, login.Password, false); err != nil {
		return res, err
	}
	if res.Applied, err = postgres.Migrate(ctx, conn, h.migrations, h.log); err != nil {
		return res, err
	}
	if res.Applied == nil {
		res.Applied = []int{}
	}
	root, ok, err := h.rootUser(ctx)
	if err != nil {
		return res, fmt.Errorf("root user: %w", err)
	}
	if ok {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return res, err
		}
		defer pool.Close()
		res.RootCreated, err = app.SeedRoot(ctx, postgres.NewStore(pool), h.hasher, root.Email, root.Password, nil)
		if err != nil {
			return res, err
		}
	}
	h.log.InfoContext(ctx, "migrate done", "applied", res.Applied, "root_created", res.RootCreated)
	return res, nil
}
