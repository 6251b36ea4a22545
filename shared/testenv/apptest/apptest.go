// Package apptest wires MAD's use cases for integration tests: the real
// Postgres store of testenv.DB, and the real S3, SQS and token adapters
// on moto resources made for the calling test (random names, cleaned up
// afterwards), with a clock the test can pin and move.
//
// It lives apart from testenv because it imports the adapters, whose
// internal tests import testenv.
package apptest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/jwtauth"
	"github.com/mad-bio/mad/shared/password"
	"github.com/mad-bio/mad/shared/s3store"
	"github.com/mad-bio/mad/shared/sqsqueue"
	"github.com/mad-bio/mad/shared/testenv"
)

// Clock is a settable clock shared by the use cases and the token
// verifier, so that a token's iat and the verifier's "now" agree. It
// starts at the current time truncated to the second (JWT times have
// one-second precision).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock pinned at the current second.
func NewClock() *Clock { return &Clock{t: time.Now().UTC().Truncate(time.Second)} }

// Now returns the pinned time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set pins the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t.UTC()
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// AWS holds one test's moto resources and the adapters built on them.
type AWS struct {
	KMSKeyARN string
	Buckets   testenv.Buckets
	Queues    testenv.Queues
	SecretID  string

	S3  *s3.Client  // straight to moto, path-style
	SQS *sqs.Client // straight to moto

	Objects *s3store.Store
	Queue   *sqsqueue.Queue
	Keys    *jwtauth.Keys
}

// DefaultMaxReceives is the redrive count of the test jobs queue.
const DefaultMaxReceives = 3

// NewAWS creates a KMS key, the two buckets (default SSE-KMS with that
// key), a jobs queue with its DLQ, and an HS256 token secret, and returns
// the adapters over them. The token keys read the time from clock (nil:
// time.Now).
func NewAWS(t testing.TB, clock func() time.Time, maxReceives int) *AWS {
	t.Helper()
	if maxReceives <= 0 {
		maxReceives = DefaultMaxReceives
	}
	a := &AWS{KMSKeyARN: testenv.NewKMSKey(t)}
	a.Buckets = testenv.NewBuckets(t, a.KMSKeyARN)
	a.Queues = testenv.NewJobsQueue(t, maxReceives)
	a.SecretID = testenv.NewJWTSecret(t)
	a.S3 = testenv.S3Client(t)
	a.SQS = testenv.SQSClient(t)
	a.Objects = s3store.New(a.S3, s3.NewPresignClient(a.S3), s3store.Config{
		ArtifactsBucket: a.Buckets.Artifacts, UploadsBucket: a.Buckets.Uploads, KMSKeyID: a.KMSKeyARN,
	})
	a.Queue = sqsqueue.New(a.SQS, a.Queues.URL)
	keys, err := jwtauth.New(jwtauth.Config{Alg: jwtauth.HS256, SecretID: a.SecretID, Clock: clock, Log: Quiet},
		testenv.SecretsClient(t), nil)
	if err != nil {
		t.Fatalf("token keys: %v", err)
	}
	if err := keys.Load(context.Background()); err != nil {
		t.Fatalf("load token keys: %v", err)
	}
	a.Keys = keys
	return a
}

// Quiet is a logger that drops everything; use cases log expected
// failures (a send that the sweeper will retry, a cancelled run) that
// would only clutter test output.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestHashParams are argon2id parameters for tests: 64 KiB and one pass
// instead of 19 MiB and two. The suites create and log in hundreds of
// users, many concurrently, on two cores; at the production cost that
// alone would take tens of seconds and hundreds of MiB. The parameters
// travel in each PHC hash, so Verify follows exactly the production code
// path, and the cost itself is the password package's to test.
var TestHashParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Options adjust New.
type Options struct {
	// Docker runs the engine's docking; nil fails every run with an
	// error saying no docker was configured.
	Docker app.Docker
	// MaxReceives is the jobs queue's maxReceiveCount and the engine's
	// last attempt; default DefaultMaxReceives.
	MaxReceives int
	// Sweeper timing; defaults 1 minute and 10 minutes.
	PendingAfter, StaleAfter time.Duration
	// Log receives the use cases' logs; default Quiet.
	Log *slog.Logger
}

// Env is one fully wired set of use cases.
type Env struct {
	DB     *testenv.Database
	AWS    *AWS
	Clock  *Clock
	Hasher *password.Hasher

	Auth        *app.Auth
	Authorizer  *app.Authorizer
	Admin       *app.Admin
	Molecules   *app.Molecules
	Jobs        *app.Jobs
	Engine      *app.Engine
	Sweeper     *app.Sweeper
	DeadLetters *app.DeadLetters
}

// PresignTTL is the presigned URL lifetime the use cases are given.
const PresignTTL = 15 * time.Minute

type noDocker struct{}

func (noDocker) Dock(context.Context, app.DockRequest) (app.DockResult, error) {
	return app.DockResult{}, errNoDocker
}

var errNoDocker = errors.New("apptest: no Docker configured (set Options.Docker or Env.Engine.Docker)")

// New wires every use case over testenv.DB(t).Store and a fresh NewAWS.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.MaxReceives <= 0 {
		o.MaxReceives = DefaultMaxReceives
	}
	if o.PendingAfter == 0 {
		o.PendingAfter = time.Minute
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = Quiet
	}
	if o.Docker == nil {
		o.Docker = noDocker{}
	}
	db := testenv.DB(t)
	clock := NewClock()
	aws := NewAWS(t, clock.Now, o.MaxReceives)
	hasher, err := password.NewWithParams(TestHashParams)
	if err != nil {
		t.Fatal(err)
	}
	store := db.Store
	c := app.Clock(clock.Now)
	jobs := &app.Jobs{Store: store, Queue: aws.Queue, Objects: aws.Objects, Clock: c, PresignTTL: PresignTTL,
		Log: o.Log, Function: "test"}
	e := &Env{
		DB: db, AWS: aws, Clock: clock, Hasher: hasher,
		Auth: &app.Auth{Store: store, Signer: aws.Keys.Signer(), Verifier: aws.Keys.Verifier(), Hasher: hasher,
			Secrets: password.Secrets{}, Clock: c, AccessTTL: jwtauth.DefaultAccessTTL,
			RefreshTTL: jwtauth.DefaultRefreshTTL, Log: o.Log},
		Authorizer: &app.Authorizer{Store: store, Verifier: aws.Keys.Verifier()},
		Admin:      &app.Admin{Store: store, Hasher: hasher, Secrets: password.Secrets{}, Clock: c},
		Molecules:  &app.Molecules{Store: store, Objects: aws.Objects, Jobs: jobs, Clock: c, PresignTTL: PresignTTL, Log: o.Log},
		Jobs:       jobs,
		Engine: &app.Engine{Store: store, Objects: aws.Objects, Docker: o.Docker, Clock: c, ScratchDir: t.TempDir(),
			MaxReceives: o.MaxReceives, Log: o.Log, Function: "test"},
		Sweeper: &app.Sweeper{Store: store, Queue: aws.Queue, Clock: c, PendingAfter: o.PendingAfter,
			StaleAfter: o.StaleAfter, Log: o.Log},
		DeadLetters: &app.DeadLetters{Store: store, Clock: c, Log: o.Log},
	}
	return e
}

// TestPassword is the password of every user the fixtures create.
const TestPassword = "correct horse battery staple"

// Member is a user the fixtures created, with a principal obtained by a
// real login and authorization.
type Member struct {
	UserID    string
	Email     string
	OrgID     string
	Roles     []domain.Role
	Principal domain.Principal
	Tokens    app.TokenPair
}

// NewEmail returns a random address; throttling counts per email, so
// parallel tests never share one.
func NewEmail(prefix string) string {
	return prefix + "-" + domain.NewID()[24:] + "@example.org"
}

// NewRoot creates a root user (global, no org) and logs it in without an
// org.
func (e *Env) NewRoot(t testing.TB) Member {
	t.Helper()
	email := NewEmail("root")
	created, err := app.SeedRoot(context.Background(), e.DB.Store, e.Hasher, email, TestPassword, app.Clock(e.Clock.Now))
	if err != nil || !created {
		t.Fatalf("seed root %s: created=%v err=%v", email, created, err)
	}
	m := e.Login(t, email, "")
	return m
}

// NewOrg creates an org with its first admin through Admin.CreateOrg (as
// a fresh root) and returns the org and the logged-in admin.
func (e *Env) NewOrg(t testing.TB) (domain.Org, Member) {
	t.Helper()
	root := e.NewRoot(t)
	email := NewEmail("admin")
	org, _, err := e.Admin.CreateOrg(context.Background(), root.Principal, app.NewOrgInput{
		Name: "org-" + domain.NewID(), AdminEmail: email, AdminPassword: TestPassword,
	})
	if err != nil {
		t.Fatalf("create org: %v", err)
	}
	return org, e.Login(t, email, org.ID)
}

// NewUser creates a user with roles in admin's org and logs it in.
func (e *Env) NewUser(t testing.TB, admin Member, roles ...domain.Role) Member {
	t.Helper()
	rs := make([]string, len(roles))
	for i, r := range roles {
		rs[i] = string(r)
	}
	email := NewEmail(string(roles[0]))
	if _, err := e.Admin.CreateUser(context.Background(), admin.Principal, app.NewUserInput{
		Email: email, Password: TestPassword, Roles: rs,
	}); err != nil {
		t.Fatalf("create user %v: %v", roles, err)
	}
	return e.Login(t, email, admin.OrgID)
}

// Login logs in with TestPassword (orgID may be empty) and authorizes
// the access token, failing the test on any error.
func (e *Env) Login(t testing.TB, email, orgID string) Member {
	t.Helper()
	ctx := context.Background()
	pair, err := e.Auth.Login(ctx, app.PasswordLogin{Email: email, Password: TestPassword, OrgID: orgID})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	p, err := e.Authorizer.Authorize(ctx, "Bearer "+pair.AccessToken)
	if err != nil {
		t.Fatalf("authorize %s: %v", email, err)
	}
	return Member{UserID: p.SubjectID, Email: email, OrgID: p.OrgID, Roles: p.Roles, Principal: p, Tokens: pair}
}

// SetQuotas changes org's quotas as root would.
func (e *Env) SetQuotas(t testing.TB, orgID string, maxActiveJobs *int, maxStorageBytes *int64) {
	t.Helper()
	root := domain.Principal{SubjectID: domain.NewID(), SubjectType: domain.SubjectUser, Roles: []domain.Role{domain.RoleRoot}}
	if _, err := e.Admin.UpdateOrg(context.Background(), root, orgID, app.OrgPatch{
		MaxActiveJobs: maxActiveJobs, MaxStorageBytes: maxStorageBytes,
	}); err != nil {
		t.Fatalf("set quotas: %v", err)
	}
}
