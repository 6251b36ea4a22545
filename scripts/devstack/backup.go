package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/build"
	"github.com/mad-bio/mad/scripts/devstack/internal/pg"
	"github.com/mad-bio/mad/scripts/devstack/internal/provision"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
	"github.com/mad-bio/mad/shared/stack"
)

// running returns the running stack's description, clients and resources.
func running(ctx context.Context) (state.Runtime, *awsx.Clients, *provision.Resources, error) {
	st, err := stateDir()
	if err != nil {
		return state.Runtime{}, nil, nil, err
	}
	rt, err := st.ReadRuntime()
	if err != nil {
		return rt, nil, nil, err
	}
	c, err := awsx.New(ctx, rt.AWSEndpoint, rt.Region)
	if err != nil {
		return rt, nil, nil, err
	}
	n := stack.Names{Stage: rt.Stage, Account: rt.Account, Region: rt.Region}
	return rt, c, &provision.Resources{Names: n, KeyARN: rt.KeyARN, ArtifactsBucket: n.ArtifactsBucket(), UploadsBucket: n.UploadsBucket()}, nil
}

// pgTool runs a Postgres client tool as the cluster's superuser (the owner
// is subject to the forced row-level security and cannot dump the rows),
// or, with DATABASE_URL, as that URL's user, which then must bypass RLS.
// A password goes through PGPASSWORD, not the command line.
func pgTool(ctx context.Context, tool string, rt state.Runtime, args ...string) error {
	bin, err := pg.BinDir()
	if err != nil {
		return err
	}
	target, pw := rt.SuperURL, ""
	if target == "" {
		c, err := pg.ParseURL(rt.AdminURL)
		if err != nil {
			return err
		}
		pw, c.Password = c.Password, ""
		target = c.URL()
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, tool), append(args, "--dbname="+target)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pw)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", tool, err)
	}
	return nil
}

func cmdBackup(ctx context.Context, args []string) error {
	rt, c, r, err := running(ctx)
	if err != nil {
		return err
	}
	dir := ""
	if len(args) > 0 {
		dir = args[0]
	} else {
		root, err := build.RepoRoot(".")
		if err != nil {
			return err
		}
		dir = filepath.Join(root, "backups", time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	t0 := time.Now()
	if err := pgTool(ctx, "pg_dump", rt, "--format=custom", "--file="+filepath.Join(dir, "db.dump")); err != nil {
		return err
	}
	snap, err := provision.TakeSnapshot(ctx, c, r, filepath.Join(dir, "aws"))
	if err != nil {
		return err
	}
	fmt.Printf("backup %s: database %s, %d objects, %d secrets (%s)\n", dir, stack.DatabaseName, len(snap.Objects), len(snap.Secrets), time.Since(t0).Round(time.Millisecond))
	return nil
}

func cmdRestore(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: devstack restore DIR (a directory written by devstack backup)")
	}
	dir := args[0]
	if _, err := os.Stat(filepath.Join(dir, "db.dump")); err != nil {
		return fmt.Errorf("%s is not a backup: %w", dir, err)
	}
	rt, c, r, err := running(ctx)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := pgTool(ctx, "pg_restore", rt, "--clean", "--if-exists", "--single-transaction", filepath.Join(dir, "db.dump")); err != nil {
		return err
	}
	objects, secrets, err := provision.RestoreBackup(ctx, c, r, filepath.Join(dir, "aws"))
	if err != nil {
		return err
	}
	fmt.Printf("restored %s: database %s, %d objects, %d secrets (%s)\n", dir, stack.DatabaseName, objects, secrets, time.Since(t0).Round(time.Millisecond))
	return nil
}
