// Package postgres is the Postgres adapter (pgx v5): the connection pool,
// migrations, and the repositories of shared/app. Every repository runs
// inside a transaction that first sets app.org_id with
// set_config(..., true), so row-level security scopes every statement to
// the transaction's org and the setting dies with the transaction; every
// statement also filters by org_id itself.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
)

// Credentials are what a new connection logs in with. A provider is asked
// before every new connection, so rotated passwords are picked up without
// restarting the function.
type Credentials struct {
	Host, User, Password, Database string
	Port                           int
}

// CredentialsFunc returns the current credentials (cached by the caller).
type CredentialsFunc func(ctx context.Context) (Credentials, error)

// PoolConfig sizes the pool for Lambda: one request at a time per
// container, so two connections are plenty (one spare for readiness).
type PoolConfig struct {
	URL         string          // used as is when set (tests, MAD_DATABASE_URL)
	Credentials CredentialsFunc // otherwise, asked before each new connection
	MaxConns    int32
	// Lazy skips the cold-start check: nothing is fetched or connected
	// until first use. Only readiness wants this, since reporting an
	// unreachable database is its job.
	Lazy bool
}

// NewPool builds a pool and checks it with one round trip, so a function
// with an unreachable database fails at cold start, not on a request.
func NewPool(ctx context.Context, pc PoolConfig) (*pgxpool.Pool, error) {
	url := pc.URL
	if url == "" {
		if pc.Credentials == nil {
			return nil, errors.New("postgres: neither URL nor credentials given")
		}
		if pc.Lazy {
			// Every field that matters is set by BeforeConnect.
			url = "postgres://localhost/postgres"
		} else {
			c, err := pc.Credentials(ctx)
			if err != nil {
				return nil, fmt.Errorf("database credentials: %w", err)
			}
			url = fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database URL: %w", err)
	}
	if pc.MaxConns > 0 {
		cfg.MaxConns = pc.MaxConns
	}
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.MaxConnLifetime = 30 * time.Minute
	cfg.HealthCheckPeriod = time.Minute
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "mad"
	// Set per connection rather than per role: Secrets Manager's
	// alternating-users rotation clones the login role without its settings.
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "15s"
	if pc.URL == "" {
		creds := pc.Credentials
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			c, err := creds(ctx)
			if err != nil {
				return fmt.Errorf("database credentials: %w", err)
			}
			retarget(cc, c.Host, uint16(c.Port))
			cc.User, cc.Password, cc.Database = c.User, c.Password, c.Database
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	if pc.Lazy {
		return pool, nil
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// retarget points a connection at host:port, fallbacks included: pgconn
// tries the TLS and plain-text variants of sslmode=prefer as fallbacks
// that carry the host they were parsed with, which rotated credentials
// (or a lazy pool's placeholder URL) may have changed.
func retarget(cc *pgx.ConnConfig, host string, port uint16) {
	old := cc.Host
	cc.Host, cc.Port = host, port
	if cc.TLSConfig != nil && cc.TLSConfig.ServerName == old {
		cc.TLSConfig.ServerName = host
	}
	for _, fb := range cc.Fallbacks {
		fb.Host, fb.Port = host, port
		if fb.TLSConfig != nil && fb.TLSConfig.ServerName == old {
			fb.TLSConfig.ServerName = host
		}
	}
}

// Store implements app.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

var _ app.Store = (*Store)(nil)

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool returns the underlying pool (benchmarks, tests).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks the database with one round trip.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", mapError(err))
	}
	return nil
}

// Tx runs fn in a transaction scoped to scope. set_config(..., true) is
// transaction-local: the org never leaks to the next user of the pooled
// connection, unlike a plain SET.
//
// BEGIN and set_config go to the server as one batch, one round trip
// instead of two: every request pays for this (the authorizer's whole
// cost is mostly round trips). A connection handed back in any state but
// idle (a failed COMMIT or ROLLBACK) is closed by the pool, never reused.
func (s *Store) Tx(ctx context.Context, scope domain.Scope, fn func(app.Tx) error) error {
	if scope.OrgID != "" && !domain.IsID(scope.OrgID) {
		return fmt.Errorf("postgres: scope org %q is not a UUID", scope.OrgID)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapError(fmt.Errorf("acquire connection: %w", err))
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT set_config('app.org_id', $1, true)", scope.OrgID)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		rollback(conn)
		return mapError(fmt.Errorf("begin and set tenant context: %w", err))
	}
	t := newTxn(conn, scope)
	if err := fn(t); err != nil {
		rollback(conn)
		return mapError(err)
	}
	// The writes fn left pending go with the COMMIT, in its round trip.
	tag, err := t.tx.Exec(ctx, "COMMIT")
	if err != nil {
		rollback(conn)
		return mapError(fmt.Errorf("commit: %w", err))
	}
	// COMMIT of a transaction aborted by a statement whose error fn did not
	// return answers ROLLBACK, not an error: its writes are gone.
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// rollback ends the transaction even when ctx is done; if it cannot, the
// connection is left non-idle and the pool closes it on release.
func rollback(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, "ROLLBACK")
}

// Read runs fn with every statement sent in one batch after the tenant
// setting: Postgres runs a batch (one Sync) as one implicit transaction, so
// set_config(..., true) holds for exactly that statement, and the read-only
// setting makes a write in fn fail. One round trip instead of Tx's three.
func (s *Store) Read(ctx context.Context, scope domain.Scope, fn func(app.Tx) error) error {
	if scope.OrgID != "" && !domain.IsID(scope.OrgID) {
		return fmt.Errorf("postgres: scope org %q is not a UUID", scope.OrgID)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return mapError(fmt.Errorf("acquire connection: %w", err))
	}
	defer conn.Release()
	t := newTxn(scopedStatements{conn: conn, org: scope.OrgID}, scope)
	if err := fn(t); err != nil {
		return mapError(err)
	}
	// A write left pending is refused here like any write in Read.
	return mapError(t.tx.flush(ctx))
}

// scopedStatements sends each statement in a batch behind the scope.
type scopedStatements struct {
	conn *pgxpool.Conn
	org  string
}

const scopeReadOnly = `SELECT set_config('app.org_id', $1, true), set_config('transaction_read_only', 'on', true)`

// behindScope sends the scope and then queries in one batch; the caller
// reads the queries' results from the returned batch and closes it.
func (q scopedStatements) behindScope(ctx context.Context, queries ...*pgx.QueuedQuery) (pgx.BatchResults, error) {
	var scope writes
	scope.add("set tenant context", scopeReadOnly, q.org)
	return scope.sendWith(ctx, q.conn, queries...)
}

func (q scopedStatements) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	return q.behindScope(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args})
}

func (q scopedStatements) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return execNext(q.send(ctx, sql, args))
}

func (q scopedStatements) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return queryNext(q.send(ctx, sql, args))
}

// execNext reads the statement br is positioned at and closes br.
func execNext(br pgx.BatchResults, err error) (pgconn.CommandTag, error) {
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// queryNext returns the rows of the statement br is positioned at; closing
// them closes br.
func queryNext(br pgx.BatchResults, err error) (pgx.Rows, error) {
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return batchRows{Rows: rows, br: br}, nil
}

func (q scopedStatements) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return firstRow{rows}
}

// batchRows closes its batch with the rows.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

// firstRow is QueryRow's contract on rows: the first row or ErrNoRows.
type firstRow struct{ rows pgx.Rows }

func (r firstRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// SendBatch sends b behind the scope in the same round trip; the scope's
// result is read here, so the caller reads b's results as its own.
func (q scopedStatements) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return batchOrError(q.behindScope(ctx, b.QueuedQueries...))
}

// batchOrError is SendBatch's contract on a batch whose prefix failed:
// every read answers the error.
func batchOrError(br pgx.BatchResults, err error) pgx.BatchResults {
	if err != nil {
		return failedBatch{err: err}
	}
	return br
}

// failedBatch is a batch already closed by the error that ended it.
type failedBatch struct{ err error }

func (b failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b failedBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b failedBatch) QueryRow() pgx.Row                { return errRow{b.err} }
func (b failedBatch) Close() error                     { return b.err }
func (b failedBatch) Tx() pgx.Tx                       { return nil }

// querier is what repositories use of a transaction's connection.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// writes are statements whose results nothing reads but their errors:
// sent together they cost one round trip instead of one each. Each sees
// the effects of the ones before it, as separate statements would.
type writes struct {
	batch  pgx.Batch
	labels []string
}

func (w *writes) add(label, sql string, args ...any) {
	w.batch.Queue(sql, args...)
	w.labels = append(w.labels, label)
}

// take empties w and returns what it held: pending writes are sent once,
// whether or not they succeed.
func (w *writes) take() writes {
	taken := *w
	*w = writes{}
	return taken
}

// read reads the writes' results from br in order and reports the first
// that failed, by its label; the ones after it did not run.
func (w *writes) read(br pgx.BatchResults) error {
	for _, label := range w.labels {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("%s: %w", label, mapError(err))
		}
	}
	return nil
}

// sendWith sends the writes and then extra in one batch, reads the
// writes' results and returns the batch positioned at extra's.
func (w *writes) sendWith(ctx context.Context, q querier, extra ...*pgx.QueuedQuery) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: append(w.batch.QueuedQueries, extra...)}
	br := q.SendBatch(ctx, b)
	if err := w.read(br); err != nil {
		_ = br.Close()
		return nil, err
	}
	return br, nil
}

// pendingFirst is a transaction's connection that sends the writes left
// pending ahead of the next statement, in the same round trip.
type pendingFirst struct {
	q querier
	w *writes
}

// withPending sends the pending writes, then queries, in one batch.
func (p pendingFirst) withPending(ctx context.Context, queries ...*pgx.QueuedQuery) (pgx.BatchResults, error) {
	w := p.w.take()
	return w.sendWith(ctx, p.q, queries...)
}

func (p pendingFirst) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(p.w.labels) == 0 {
		return p.q.Exec(ctx, sql, args...)
	}
	return execNext(p.withPending(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args}))
}

func (p pendingFirst) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(p.w.labels) == 0 {
		return p.q.Query(ctx, sql, args...)
	}
	return queryNext(p.withPending(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args}))
}

func (p pendingFirst) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if len(p.w.labels) == 0 {
		return p.q.QueryRow(ctx, sql, args...)
	}
	rows, err := p.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return firstRow{rows}
}

func (p pendingFirst) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if len(p.w.labels) == 0 {
		return p.q.SendBatch(ctx, b)
	}
	return batchOrError(p.withPending(ctx, b.QueuedQueries...))
}

// flush sends the pending writes now.
func (p pendingFirst) flush(ctx context.Context) error {
	if len(p.w.labels) == 0 {
		return nil
	}
	br, err := p.withPending(ctx)
	if err != nil {
		return err
	}
	return br.Close()
}

// txn is one transaction and its scope; repositories are thin views of it.
type txn struct {
	tx    pendingFirst // the connection, pending writes first
	scope domain.Scope
}

func newTxn(q querier, scope domain.Scope) *txn {
	return &txn{tx: pendingFirst{q: q, w: &writes{}}, scope: scope}
}

// later queues a write whose result nothing reads: it reaches the server
// with the transaction's next statement (at the latest its COMMIT), so a
// use case's trailing writes (a job's rows, its audit entry) cost no round
// trip of their own. A failure surfaces from that statement, labeled.
func (t *txn) later(label, sql string, args ...any) {
	t.tx.w.add(label, sql, args...)
}

func (t *txn) Orgs() app.OrgRepository                       { return orgRepo{t} }
func (t *txn) Users() app.UserRepository                     { return userRepo{t} }
func (t *txn) Directory() app.DirectoryRepository            { return directoryRepo{t} }
func (t *txn) ServiceAccounts() app.ServiceAccountRepository { return serviceAccountRepo{t} }
func (t *txn) Tokens() app.TokenRepository                   { return tokenRepo{t} }
func (t *txn) Throttle() app.LoginThrottle                   { return throttleRepo{t} }
func (t *txn) Audit() app.AuditRepository                    { return auditRepo{t} }
func (t *txn) Molecules() app.MoleculeRepository             { return moleculeRepo{t} }
func (t *txn) Uploads() app.UploadRepository                 { return uploadRepo{t} }
func (t *txn) Pipelines() app.PipelineRepository             { return pipelineRepo{t} }
func (t *txn) Jobs() app.JobRepository                       { return jobRepo{t} }

// errNoOrg is returned by tenant repositories used in the global scope: a
// programming error, never a client's.
var errNoOrg = errors.New("postgres: tenant repository used without an org scope")

// org returns the scope's org or errNoOrg.
func (t *txn) org() (string, error) {
	if t.scope.OrgID == "" {
		return "", errNoOrg
	}
	return t.scope.OrgID, nil
}

// nullableOrg is the scope's org as a nullable parameter, for tables that
// also hold org-less rows.
func (t *txn) nullableOrg() *string {
	if t.scope.OrgID == "" {
		return nil
	}
	o := t.scope.OrgID
	return &o
}

// mapError turns driver errors a client may cause into domain errors by
// SQLSTATE, never by message text. Everything else passes through and
// becomes INTERNAL_ERROR at the edge.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := domain.AsError(err); ok {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return &domain.Error{Code: domain.CodeConflict, Message: "a resource with the same unique fields already exists"}
		case pe.Code == "22021", pe.Code == "22P05": // character_not_in_repertoire, untranslatable_character
			// A client's string Postgres cannot store (U+0000): their input, not our failure.
			return domain.InvalidField("body", "contains a character that cannot be stored (such as U+0000)")
		case pe.Code == "40001", pe.Code == "40P01": // serialization_failure, deadlock_detected
			return fmt.Errorf("transient database conflict: %w", err)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"): // connection exception, shutdown
			return notReady(err)
		}
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return notReady(err)
	}
	return err
}

// notReady reports a database that cannot be reached as the contract's
// 503 NOT_READY, with a hint to retry; the cause stays in the logs.
func notReady(cause error) error {
	return &notReadyError{cause: cause}
}

type notReadyError struct{ cause error }

func (e *notReadyError) Error() string { return "database unavailable: " + e.cause.Error() }
func (e *notReadyError) Unwrap() error { return e.cause }
func (e *notReadyError) As(target any) bool {
	if de, ok := target.(**domain.Error); ok {
		*de = &domain.Error{Code: domain.CodeNotReady, Message: "the database is unavailable; retry shortly", RetryAfter: 5 * time.Second}
		return true
	}
	return false
}

// notFound maps pgx.ErrNoRows to the given domain code.
func notFound(err error, code domain.Code, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Errorf(code, "%s not found", what)
	}
	return err
}

// limit bounds a page size defensively (the edge already validated it).
func limit(p app.Page) int {
	if p.Limit <= 0 || p.Limit > 200 {
		return 50
	}
	return p.Limit
}

// after returns the keyset cursor as a UUID parameter, or nil.
func after(p app.Page) *string {
	if p.After == "" {
		return nil
	}
	a := p.After
	return &a
}
