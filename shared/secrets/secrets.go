// Package secrets is the Secrets Manager adapter: a read-through cache of
// secret values by id and version stage (or version id), and the parsing
// of RDS database credentials.
//
// Values are cached per container for a TTL, so a Lambda reads each secret
// about once per TTL rather than once per request, and concurrent misses
// of one entry share a single GetSecretValue call. Secret values never
// reach logs: Secret and DBCredentials print redacted under fmt, slog and
// encoding/json.
package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/singleflight"
)

// Version stages Secrets Manager maintains during rotation.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// DefaultTTL is how long a value is served from the cache when New is
// given no TTL.
const DefaultTTL = 5 * time.Minute

// fetchTimeout bounds one shared GetSecretValue call. The call runs
// detached from the first caller's cancellation (others may be waiting on
// it), so it needs its own deadline.
const fetchTimeout = 10 * time.Second

// ErrNotFound is wrapped by errors for a secret, stage or version that
// does not exist (or has no value yet, like a pending version before its
// rotation step wrote one).
var ErrNotFound = errors.New("secret not found")

// API is the part of *secretsmanager.Client the cache uses.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ API = (*secretsmanager.Client)(nil)

// Secret is one version of a secret. Its value is reachable only through
// Value and Binary; every printed or logged form is redacted.
type Secret struct {
	ARN       string
	Name      string
	VersionID string
	Stages    []string
	// v is a pointer so that even reflection-based printing of a struct
	// holding a Secret in an unexported field (where fmt cannot call
	// Format) shows an address, not the value.
	v *value
}

type value struct {
	s string
	b []byte
}

// NewSecret returns a secret holding value, for tests and fakes of code
// that consumes secrets.
func NewSecret(name, versionID, v string, stages ...string) Secret {
	return Secret{Name: name, VersionID: versionID, Stages: stages, v: &value{s: v}}
}

// Value returns the SecretString.
func (s Secret) Value() string {
	if s.v == nil {
		return ""
	}
	return s.v.s
}

// Binary returns a copy of the SecretBinary (nil for string secrets).
func (s Secret) Binary() []byte {
	if s.v == nil {
		return nil
	}
	return append([]byte(nil), s.v.b...)
}

// HasStage reports whether the version carries stage.
func (s Secret) HasStage(stage string) bool {
	for _, st := range s.Stages {
		if st == stage {
			return true
		}
	}
	return false
}

// String prints the secret without its value.
func (s Secret) String() string {
	return fmt.Sprintf("secret{name=%s version=%s stages=%v value=[REDACTED]}", s.Name, s.VersionID, s.Stages)
}

// Format makes %v, %+v, %#v and %s print String, never the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue makes slog log the secret's identity only.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", s.Name), slog.String("version", s.VersionID))
}

// MarshalJSON encodes the secret's identity only.
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"name": s.Name, "version_id": s.VersionID, "stages": s.Stages, "value": "[REDACTED]"})
}

// Cache reads secrets through a per-container cache. It is safe for
// concurrent use.
type Cache struct {
	api API
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[entryKey]entry
	// gens counts invalidations per secret id: a fetch that started before
	// Invalidate must not store its (possibly stale) result afterwards.
	gens map[string]uint64
	sf   singleflight.Group
}

type entryKey struct {
	id       string
	selector string // "s:<stage>" or "v:<version id>"
}

type entry struct {
	s       Secret
	expires time.Time
}

// New returns a cache over api (a *secretsmanager.Client in functions).
// ttl <= 0 means DefaultTTL.
func New(api API, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Cache{api: api, ttl: ttl, now: time.Now, entries: map[entryKey]entry{}, gens: map[string]uint64{}}
}

// Get returns the AWSCURRENT version of secret id (name or ARN).
func (c *Cache) Get(ctx context.Context, id string) (Secret, error) {
	return c.GetStage(ctx, id, StageCurrent)
}

// GetStage returns the version of secret id that carries stage
// (StageCurrent, StagePrevious, StagePending or a custom label). Errors
// wrap ErrNotFound when no version carries it.
func (c *Cache) GetStage(ctx context.Context, id, stage string) (Secret, error) {
	if stage == "" {
		stage = StageCurrent
	}
	return c.get(ctx, entryKey{id: id, selector: "s:" + stage}, &secretsmanager.GetSecretValueInput{SecretId: &id, VersionStage: &stage})
}

// GetVersion returns version versionID of secret id. Errors wrap
// ErrNotFound when there is no such version.
func (c *Cache) GetVersion(ctx context.Context, id, versionID string) (Secret, error) {
	if versionID == "" {
		return Secret{}, errors.New("secrets: empty version id")
	}
	return c.get(ctx, entryKey{id: id, selector: "v:" + versionID}, &secretsmanager.GetSecretValueInput{SecretId: &id, VersionId: &versionID})
}

// Invalidate drops every cached version of secret id, so the next read
// goes to Secrets Manager (after a rotation, or when a database rejects
// the cached password).
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gens[id]++
	for k := range c.entries {
		if k.id == id {
			delete(c.entries, k)
		}
	}
}

func (c *Cache) get(ctx context.Context, k entryKey, in *secretsmanager.GetSecretValueInput) (Secret, error) {
	if k.id == "" {
		return Secret{}, errors.New("secrets: empty secret id")
	}
	c.mu.Lock()
	e, ok := c.entries[k]
	gen := c.gens[k.id]
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.s, nil
	}
	// The generation is part of the flight key: callers after an
	// Invalidate start a fresh call instead of joining an older one.
	flight := k.id + "\x00" + k.selector + "\x00" + strconv.FormatUint(gen, 10)
	ch := c.sf.DoChan(flight, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		s, err := c.fetch(fctx, in)
		if err != nil {
			return Secret{}, err
		}
		c.mu.Lock()
		if c.gens[k.id] == gen {
			c.entries[k] = entry{s: s, expires: c.now().Add(c.ttl)}
		}
		c.mu.Unlock()
		return s, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Secret{}, r.Err
		}
		return r.Val.(Secret), nil
	case <-ctx.Done():
		return Secret{}, fmt.Errorf("read secret %s: %w", k.id, ctx.Err())
	}
}

func (c *Cache) fetch(ctx context.Context, in *secretsmanager.GetSecretValueInput) (Secret, error) {
	out, err := c.api.GetSecretValue(ctx, in)
	if err != nil {
		return Secret{}, fmt.Errorf("read secret %s: %w", describe(in), notFound(err))
	}
	if out.SecretString == nil && out.SecretBinary == nil {
		return Secret{}, fmt.Errorf("read secret %s: no value: %w", describe(in), ErrNotFound)
	}
	s := Secret{Stages: out.VersionStages, v: &value{b: out.SecretBinary}}
	if out.ARN != nil {
		s.ARN = *out.ARN
	}
	if out.Name != nil {
		s.Name = *out.Name
	}
	if out.VersionId != nil {
		s.VersionID = *out.VersionId
	}
	if out.SecretString != nil {
		s.v.s = *out.SecretString
	}
	return s, nil
}

func describe(in *secretsmanager.GetSecretValueInput) string {
	d := deref(in.SecretId)
	if in.VersionStage != nil {
		d += " stage " + *in.VersionStage
	}
	if in.VersionId != nil {
		d += " version " + *in.VersionId
	}
	return d
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// notFound adds ErrNotFound to the error chain of a Secrets Manager
// "not found" answer, so callers test with errors.Is instead of SDK types.
func notFound(err error) error {
	var rnf *types.ResourceNotFoundException
	if errors.As(err, &rnf) {
		return errors.Join(ErrNotFound, err)
	}
	return err
}

// IsNotFound reports whether err is a Secrets Manager "not found" error,
// raw from the SDK or wrapped by this package.
func IsNotFound(err error) bool {
	var rnf *types.ResourceNotFoundException
	return errors.Is(err, ErrNotFound) || errors.As(err, &rnf)
}

// DBCredentials are database credentials in the JSON format of RDS-managed
// and RDS-rotated secrets. Printing or logging them never shows Password.
type DBCredentials struct {
	Engine   string
	Host     string
	Port     int
	Username string
	Password string
	DBName   string
}

// String prints the credentials without the password.
func (d DBCredentials) String() string {
	return fmt.Sprintf("db{engine=%s host=%s port=%d user=%s dbname=%s password=[REDACTED]}", d.Engine, d.Host, d.Port, d.Username, d.DBName)
}

// Format makes every fmt verb print String.
func (d DBCredentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(d.String())) }

// LogValue makes slog log everything but the password.
func (d DBCredentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", d.Host), slog.Int("port", d.Port),
		slog.String("user", d.Username), slog.String("dbname", d.DBName))
}

// MarshalJSON encodes everything but the password.
func (d DBCredentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"engine": d.Engine, "host": d.Host, "port": d.Port,
		"username": d.Username, "dbname": d.DBName, "password": "[REDACTED]"})
}

// DBCredentials reads the AWSCURRENT version of secret id and parses it
// with ParseDBCredentials.
func (c *Cache) DBCredentials(ctx context.Context, id string) (DBCredentials, error) {
	s, err := c.Get(ctx, id)
	if err != nil {
		return DBCredentials{}, err
	}
	d, err := ParseDBCredentials(s.Value())
	if err != nil {
		return DBCredentials{}, fmt.Errorf("secret %s: %w", id, err)
	}
	return d, nil
}

// ParseDBCredentials parses the RDS secret format
// {"engine","host","port","username","password","dbname"}. The port may be
// a JSON number or a string (both occur in the wild; the RDS console
// writes numbers, some tools strings) and defaults to 5432; dbname may be
// absent. Errors never quote the secret.
func ParseDBCredentials(value string) (DBCredentials, error) {
	var raw struct {
		Engine   string          `json:"engine"`
		Host     string          `json:"host"`
		Port     json.RawMessage `json:"port"`
		Username string          `json:"username"`
		Password string          `json:"password"`
		DBName   string          `json:"dbname"`
	}
	if err := json.Unmarshal([]byte(value), &raw); err != nil {
		// json's messages can quote input bytes; say only where it broke.
		return DBCredentials{}, errors.New("database credentials are not a JSON object")
	}
	d := DBCredentials{Engine: raw.Engine, Host: raw.Host, Port: 5432, Username: raw.Username,
		Password: raw.Password, DBName: raw.DBName}
	if len(raw.Port) > 0 && string(raw.Port) != "null" {
		n, err := parsePort(raw.Port)
		if err != nil {
			return DBCredentials{}, err
		}
		d.Port = n
	}
	var missing []string
	if d.Host == "" {
		missing = append(missing, "host")
	}
	if d.Username == "" {
		missing = append(missing, "username")
	}
	if d.Password == "" {
		missing = append(missing, "password")
	}
	if len(missing) > 0 {
		return DBCredentials{}, fmt.Errorf("database credentials: missing %s", strings.Join(missing, ", "))
	}
	return d, nil
}

func parsePort(raw json.RawMessage) (int, error) {
	errPort := errors.New("database credentials: port is not a number in 1..65535")
	var text string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, errPort
		}
	} else {
		var num json.Number
		if err := json.Unmarshal(raw, &num); err != nil {
			return 0, errPort
		}
		text = num.String()
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < 1 || n > 65535 {
		return 0, errPort
	}
	return n, nil
}
