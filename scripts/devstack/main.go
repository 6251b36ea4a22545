// Command devstack runs MAD's serverless stack on one machine without
// Docker: Postgres, moto (or LocalStack) as the AWS endpoint, every
// function's Linux bootstrap under the Lambda Runtime Interface Emulator,
// a local API Gateway (HTTP API) on 127.0.0.1:3000, SQS pollers in place
// of Lambda's event source mappings and a scheduler in place of EventBridge.
//
//	go run ./scripts/devstack up                      # make dev
//	go run ./scripts/devstack env [function]          # exports for the aws CLI / a function binary
//	go run ./scripts/devstack e2e [go test flags]     # fresh stack on free ports + go test ./scripts/e2e
//	go run ./scripts/devstack invoke FUNCTION EVENT.json   # one invoke through a fresh emulator
//	go run ./scripts/devstack rotate-keys             # rotate the JWT signing key like Secrets Manager
//	go run ./scripts/devstack backup [DIR]            # Postgres dump + S3 objects + secrets of the running stack
//	go run ./scripts/devstack restore DIR             # put a backup back into the running stack
//
// Settings (environment): PORT (3000), MAD_STAGE (local), DATABASE_URL
// (use this Postgres as owner instead of .state/pg), AWS_ENDPOINT_URL (use
// this endpoint, e.g. LocalStack, when it answers), MAD_ROOT_EMAIL and
// MAD_ROOT_PASSWORD (root@mad.local / mad-root-password-change-me),
// MAD_LOCAL_STATE_DIR (.state), MAD_LOCAL_PG_PORT (54329),
// MAD_LOCAL_AWS_PORT (45660), MAD_LOCAL_CONCURRENCY (2 instances per
// function), MAD_LOCAL_VISIBILITY_TIMEOUT (seconds, all queues),
// MAD_LOCAL_SWEEP_SECONDS (sweeper period), MAD_LOCAL_FUNCTIONS (package
// directory of the functions, ./functions), MAD_LOG_LEVEL.
//
// Test hooks, all off by default: MAD_LOCAL_VINA (a vina stand-in for the
// engine, e.g. a build of ./scripts/fakevina; FAKEVINA_* then reach the
// engine), MAD_LOCAL_FAULTS=1 (fault admin API with Postgres stop/start,
// and each function's emulator and runtime pids in runtime.json, kept
// current), MAD_LOCAL_S3_FAULTS=engine[,fn...] (those functions reach the
// AWS endpoint through a fault-injecting proxy; implies MAD_LOCAL_FAULTS).
// See internal/faults. MAD_LOCAL_BUILD_DIR: build the functions there
// instead of build/local. MAD_LOCAL_EPHEMERAL=1: a throwaway stack (fsync
// off, no S3 snapshot at exit), as tests use.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: devstack <command> [args]

commands:
  up                        run the local stack until Ctrl-C (make dev)
  env [FUNCTION]            print export lines for the running stack (aws CLI, a function binary)
  e2e [GO TEST FLAGS...]    start a throwaway stack on free ports, run go test ./scripts/e2e, tear down
  invoke FUNCTION EVENT     invoke one function once with EVENT (a JSON file, or - for stdin)
  rotate-keys               rotate the JWT signing key through the rotate function's four steps
  backup [DIR]              back up the running stack (pg_dump, S3 objects, secrets) into DIR (backups/<time>)
  restore DIR               restore a backup into the running stack (replaces the database and objects)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	code := 0
	switch os.Args[1] {
	case "up":
		err = cmdUp(ctx)
	case "env":
		err = cmdEnv(os.Args[2:])
	case "e2e":
		code, err = cmdE2E(ctx, os.Args[2:])
	case "invoke":
		code, err = cmdInvoke(ctx, os.Args[2:])
	case "rotate-keys":
		err = cmdRotateKeys(ctx)
	case "backup":
		err = cmdBackup(ctx, os.Args[2:])
	case "restore":
		err = cmdRestore(ctx, os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
