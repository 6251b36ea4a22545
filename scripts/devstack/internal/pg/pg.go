// Package pg runs the local stack's Postgres: a persistent cluster in the
// state directory, started as a child process that listens on 127.0.0.1
// only (as a non-root OS user when devstack runs as root, since Postgres
// refuses root), and creates the owner role and the application database.
package pg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mad-bio/mad/scripts/devstack/internal/proc"
)

// OwnerRole owns the application database and runs migrations.
const OwnerRole = "mad_owner"

// Options configure a cluster.
type Options struct {
	Dir     string // data directory
	Port    int
	LogPath string
	// Ephemeral clusters (tests) trade durability for speed (fsync=off).
	Ephemeral bool
	// SuperPassword is the password of the "postgres" superuser, set at initdb.
	SuperPassword string
}

// Cluster is a running Postgres server started by devstack.
type Cluster struct {
	opts   Options
	cmd    *exec.Cmd
	exited chan struct{}
}

// BinDir finds the directory holding initdb and postgres.
func BinDir() (string, error) {
	if ds, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(ds) > 0 {
		for i := len(ds) - 1; i >= 0; i-- {
			if _, err := os.Stat(filepath.Join(ds[i], "postgres")); err == nil {
				return ds[i], nil
			}
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("Postgres binaries not found (apt-get install postgresql), or set DATABASE_URL")
}

// osUser returns the credential to run Postgres with: nil when not root;
// under root the "postgres" user, or a system user "madpg" created on
// first use.
func osUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		if u, err = user.Lookup("madpg"); err != nil {
			out, cerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "madpg").CombinedOutput()
			if cerr != nil {
				return nil, fmt.Errorf("create OS user madpg for Postgres: %v: %s", cerr, out)
			}
			if u, err = user.Lookup("madpg"); err != nil {
				return nil, err
			}
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func asUser(cmd *exec.Cmd, cred *syscall.Credential) {
	proc.Prepare(cmd)
	if cred != nil {
		cmd.SysProcAttr.Credential = cred
	}
}

// Start initializes the cluster on first use and starts it.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := osUser()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		// The OS user must reach the data directory through its parents.
		for d := filepath.Dir(o.Dir); d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("Postgres runs as uid %d and cannot traverse %s (mode %s): chmod o+x it", cred.Uid, d, st.Mode().Perm())
			}
		}
		if err := os.Chown(o.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(o.Dir, "PG_VERSION")); err != nil {
		if err := initdb(ctx, bin, o, cred); err != nil {
			return nil, err
		}
	}
	stopStale(bin, o.Dir, cred)
	args := []string{"-D", o.Dir, "-p", strconv.Itoa(o.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + o.Dir,
		"-c", "max_connections=300",
	}
	if o.Ephemeral {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	lf, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	asUser(cmd, cred)
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &Cluster{opts: o, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); lf.Close(); close(c.exited) }()
	if err := c.waitReady(ctx, 60*time.Second); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(o.LogPath, 15))
	}
	return c, nil
}

func initdb(ctx context.Context, bin string, o Options, cred *syscall.Credential) error {
	pw, err := os.CreateTemp("", "mad-pgpw-*")
	if err != nil {
		return err
	}
	defer os.Remove(pw.Name())
	fmt.Fprintln(pw, o.SuperPassword)
	pw.Close()
	if err := os.Chmod(pw.Name(), 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", o.Dir, "-U", "postgres", "--pwfile="+pw.Name(),
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
	asUser(cmd, cred)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// stopStale stops a server left running on dir by an earlier devstack that
// was killed without cleaning up.
func stopStale(bin, dir string, cred *syscall.Credential) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return
	}
	cmd := exec.Command(filepath.Join(bin, "pg_ctl"), "-D", dir, "-m", "fast", "-w", "-t", "30", "stop")
	asUser(cmd, cred)
	_ = cmd.Run()
}

func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := pgx.Connect(ctx, c.SocketURL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-c.exited:
			return errors.New("postgres exited during start-up")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SocketURL is the superuser's URL over the cluster's Unix socket (trust).
func (c *Cluster) SocketURL(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, url.QueryEscape(c.opts.Dir), c.opts.Port)
}

// Port returns the TCP port.
func (c *Cluster) Port() int { return c.opts.Port }

// Stop shuts the server down (fast shutdown) and waits for it.
func (c *Cluster) Stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		proc.KillTree(c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
}

// StopFast stops the server the way `pg_ctl stop -m fast` does (it runs
// pg_ctl, as the cluster's OS user): open transactions are rolled back and
// clients disconnected. It waits for the process to exit. Fault injection
// uses it; Start with the same Options brings the cluster back.
func (c *Cluster) StopFast(ctx context.Context) error {
	if c == nil || c.cmd.Process == nil {
		return errors.New("no cluster")
	}
	select {
	case <-c.exited:
		return nil
	default:
	}
	bin, err := BinDir()
	if err != nil {
		return err
	}
	cred, err := osUser()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pg_ctl"), "-D", c.opts.Dir, "-m", "fast", "-w", "-t", "30", "stop")
	asUser(cmd, cred)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, strings.TrimSpace(string(out)))
	}
	select {
	case <-c.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Options returns the options the cluster was started with.
func (c *Cluster) Options() Options { return c.opts }

// Exited is closed when the server process ends.
func (c *Cluster) Exited() <-chan struct{} { return c.exited }

// EnsureOwner creates (or re-passwords) the owner role and creates the
// database owned by it, connecting with superURL.
func EnsureOwner(ctx context.Context, superURL, ownerPassword, dbName string) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer conn.Close(ctx)
	run := func(format string, args ...any) error {
		var stmt string
		if err := conn.QueryRow(ctx, `SELECT format(`+format+`)`, args...).Scan(&stmt); err != nil {
			return err
		}
		_, err := conn.Exec(ctx, stmt)
		return err
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, OwnerRole).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if err := run(`'CREATE ROLE %I LOGIN CREATEROLE PASSWORD %L', $1::text, $2::text`, OwnerRole, ownerPassword); err != nil {
			return fmt.Errorf("create role %s: %w", OwnerRole, err)
		}
	} else if err := run(`'ALTER ROLE %I LOGIN CREATEROLE PASSWORD %L', $1::text, $2::text`, OwnerRole, ownerPassword); err != nil {
		return fmt.Errorf("alter role %s: %w", OwnerRole, err)
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbName).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if err := run(`'CREATE DATABASE %I OWNER %I', $1::text, $2::text`, dbName, OwnerRole); err != nil {
			return fmt.Errorf("create database %s: %w", dbName, err)
		}
	}
	return nil
}

// Conn is the parts of a Postgres URL the RDS-style secrets carry.
type Conn struct {
	Host     string
	Port     int
	User     string
	Password string
	DBName   string
}

// URL renders c as a postgres:// URL.
func (c Conn) URL() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.User, c.Password),
		Host: fmt.Sprintf("%s:%d", c.Host, c.Port), Path: "/" + c.DBName, RawQuery: "sslmode=disable"}
	return u.String()
}

// ParseURL reads a postgres:// URL (DATABASE_URL).
func ParseURL(s string) (Conn, error) {
	cfg, err := pgx.ParseConfig(s)
	if err != nil {
		return Conn{}, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return Conn{Host: cfg.Host, Port: int(cfg.Port), User: cfg.User, Password: cfg.Password, DBName: cfg.Database}, nil
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
