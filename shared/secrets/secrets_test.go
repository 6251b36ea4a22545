package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/testenv"
)

// countingAPI counts GetSecretValue calls that reach Secrets Manager.
type countingAPI struct {
	API
	calls atomic.Int64
	delay time.Duration
}

func (c *countingAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.calls.Add(1)
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	return c.API.GetSecretValue(ctx, in, opts...)
}

func newClient(t *testing.T) *secretsmanager.Client {
	t.Helper()
	return secretsmanager.NewFromConfig(testenv.AWSConfig(t))
}

// newSecret creates a secret with a random name holding value.
func newSecret(t *testing.T, sm *secretsmanager.Client, value string) string {
	t.Helper()
	name := "mad/test/" + domain.NewID()
	_, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	return name
}

func TestCacheServesWithinTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sm := newClient(t)
	id := newSecret(t, sm, "v1")
	api := &countingAPI{API: sm}
	c := New(api, time.Minute)
	now := time.Now()
	c.now = func() time.Time { return now }

	for i := range 3 {
		s, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Value() != "v1" || s.VersionID == "" || !s.HasStage(StageCurrent) {
			t.Fatalf("read %d: %v value %q", i, s, s.Value())
		}
	}
	if n := api.calls.Load(); n != 1 {
		t.Fatalf("%d GetSecretValue calls within the TTL, want 1", n)
	}
	now = now.Add(time.Minute + time.Second)
	if _, err := c.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := api.calls.Load(); n != 2 {
		t.Fatalf("%d calls after the TTL, want 2", n)
	}
}

func TestStagesAfterNewVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sm := newClient(t)
	id := newSecret(t, sm, "v1")
	api := &countingAPI{API: sm}
	c := New(api, 0)
	first, err := c.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetStage(ctx, id, StagePrevious); !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("AWSPREVIOUS of a one-version secret: err = %v, want not found", err)
	}
	if _, err := c.GetStage(ctx, id, StagePending); !IsNotFound(err) {
		t.Fatalf("AWSPENDING: err = %v, want not found", err)
	}

	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	// Within the TTL the cache still serves v1: that is the staleness
	// callers accept, bounded by the TTL or ended by Invalidate.
	if s, _ := c.Get(ctx, id); s.Value() != "v1" {
		t.Fatalf("cached current = %q, want v1", s.Value())
	}
	c.Invalidate(id)
	cur, err := c.Get(ctx, id)
	if err != nil || cur.Value() != "v2" {
		t.Fatalf("current after invalidate = %q, %v; want v2", cur.Value(), err)
	}
	prev, err := c.GetStage(ctx, id, StagePrevious)
	if err != nil || prev.Value() != "v1" || prev.VersionID != first.VersionID {
		t.Fatalf("previous = %v %q, %v; want v1 of version %s", prev, prev.Value(), err, first.VersionID)
	}
	byID, err := c.GetVersion(ctx, id, first.VersionID)
	if err != nil || byID.Value() != "v1" {
		t.Fatalf("by version id = %q, %v", byID.Value(), err)
	}
	if _, err := c.GetVersion(ctx, id, domain.NewID()); !IsNotFound(err) {
		t.Fatalf("unknown version: err = %v, want not found", err)
	}

	// A pending version (what a rotation's createSecret writes).
	pendingToken := domain.NewID()
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, SecretString: aws.String("v3"),
		ClientRequestToken: &pendingToken, VersionStages: []string{StagePending}}); err != nil {
		t.Fatal(err)
	}
	pend, err := c.GetStage(ctx, id, StagePending)
	if err != nil || pend.Value() != "v3" || pend.VersionID != pendingToken {
		t.Fatalf("pending = %v %q, %v", pend, pend.Value(), err)
	}
	if s, _ := c.Get(ctx, id); s.Value() != "v2" {
		t.Fatalf("a pending version changed AWSCURRENT to %q", s.Value())
	}
}

func TestSingleFlight(t *testing.T) {
	t.Parallel()
	sm := newClient(t)
	id := newSecret(t, sm, "shared")
	api := &countingAPI{API: sm, delay: 100 * time.Millisecond}
	c := New(api, time.Minute)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if s, err := c.Get(context.Background(), id); err != nil || s.Value() != "shared" {
				t.Errorf("get: %q, %v", s.Value(), err)
			}
		})
	}
	wg.Wait()
	if n := api.calls.Load(); n != 1 {
		t.Fatalf("%d calls for 20 concurrent misses, want 1", n)
	}
}

func TestCancelledCallerDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	sm := newClient(t)
	id := newSecret(t, sm, "x")
	api := &countingAPI{API: sm, delay: 200 * time.Millisecond}
	c := New(api, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Get(ctx, id); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v", err)
	}
	if s, err := c.Get(context.Background(), id); err != nil || s.Value() != "x" {
		t.Fatalf("second caller: %q, %v", s.Value(), err)
	}
}

func TestUnknownSecret(t *testing.T) {
	t.Parallel()
	c := New(newClient(t), 0)
	_, err := c.Get(context.Background(), "mad/test/"+domain.NewID())
	if !IsNotFound(err) {
		t.Fatalf("err = %v, want not found", err)
	}
	if _, err := c.Get(context.Background(), ""); err == nil {
		t.Fatal("empty id accepted")
	}
}

func TestDBCredentialsFromSecretsManager(t *testing.T) {
	t.Parallel()
	sm := newClient(t)
	id := newSecret(t, sm, `{"engine":"postgres","host":"db.internal","port":5432,"username":"mad_api","password":"p@ss\"word","dbname":"mad"}`)
	c := New(sm, 0)
	d, err := c.DBCredentials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := DBCredentials{Engine: "postgres", Host: "db.internal", Port: 5432, Username: "mad_api", Password: `p@ss"word`, DBName: "mad"}
	if d != want {
		t.Fatalf("got %#v", d)
	}
}

func TestParseDBCredentials(t *testing.T) {
	t.Parallel()
	base := DBCredentials{Engine: "postgres", Host: "h", Port: 5432, Username: "u", Password: "pw", DBName: "mad"}
	tests := []struct {
		name    string
		in      string
		want    DBCredentials
		wantErr bool
	}{
		{"port number", `{"engine":"postgres","host":"h","port":5432,"username":"u","password":"pw","dbname":"mad"}`, base, false},
		{"port string", `{"engine":"postgres","host":"h","port":"5432","username":"u","password":"pw","dbname":"mad"}`, base, false},
		{"other port", `{"engine":"postgres","host":"h","port":6543,"username":"u","password":"pw","dbname":"mad"}`, func() DBCredentials { d := base; d.Port = 6543; return d }(), false},
		{"port absent defaults", `{"engine":"postgres","host":"h","username":"u","password":"pw","dbname":"mad"}`, base, false},
		{"port null defaults", `{"engine":"postgres","host":"h","port":null,"username":"u","password":"pw","dbname":"mad"}`, base, false},
		{"dbname absent", `{"host":"h","port":5432,"username":"u","password":"pw"}`, DBCredentials{Host: "h", Port: 5432, Username: "u", Password: "pw"}, false},
		{"extra fields ignored", `{"engine":"postgres","host":"h","port":5432,"username":"u","password":"pw","dbname":"mad","dbInstanceIdentifier":"x","masterarn":"arn"}`, base, false},
		{"port zero", `{"host":"h","port":0,"username":"u","password":"pw"}`, DBCredentials{}, true},
		{"port too big", `{"host":"h","port":70000,"username":"u","password":"pw"}`, DBCredentials{}, true},
		{"port fraction", `{"host":"h","port":5432.5,"username":"u","password":"pw"}`, DBCredentials{}, true},
		{"port word", `{"host":"h","port":"five","username":"u","password":"pw"}`, DBCredentials{}, true},
		{"port bool", `{"host":"h","port":true,"username":"u","password":"pw"}`, DBCredentials{}, true},
		{"missing password", `{"host":"h","port":5432,"username":"u"}`, DBCredentials{}, true},
		{"missing host", `{"port":5432,"username":"u","password":"pw"}`, DBCredentials{}, true},
		{"not json", `host=h password=topsecret`, DBCredentials{}, true},
		{"json array", `["h"]`, DBCredentials{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDBCredentials(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("error quotes the secret: %v", err)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestRedaction checks that no ordinary way of printing a secret or
// credentials shows the value.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const value = "hunter2-very-secret"
	s := NewSecret("mad/x", "v1", value, StageCurrent)
	d := DBCredentials{Host: "h", Port: 5432, Username: "u", Password: value}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("read", "secret", s, "db", d)
	js1, _ := json.Marshal(s)
	js2, _ := json.Marshal(d)
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s),
		fmt.Sprint(d), fmt.Sprintf("%v %+v %#v %s %q", d, d, d, d, d),
		fmt.Sprintf("%v", []any{s, d}), fmt.Sprintf("%+v", struct{ S Secret }{s}),
		fmt.Sprintf("%+v %#v", struct{ s Secret }{s}, struct{ s Secret }{s}),
		logs.String(), string(js1), string(js2),
	} {
		if strings.Contains(out, value) {
			t.Fatalf("value printed: %s", out)
		}
	}
	if s.Value() != value || d.Password != value {
		t.Fatal("accessors lost the value")
	}
}
