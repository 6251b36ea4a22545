// Package bootstrap builds the adapters a Lambda main wires, once per
// container, from the configuration: the AWS SDK config, the secrets
// cache, the Postgres pool, token keys, storage and queue clients. It
// returns errors; only a main decides to exit (Exit).
package bootstrap

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/jwtauth"
	"github.com/mad-bio/mad/shared/obs"
	"github.com/mad-bio/mad/shared/postgres"
	"github.com/mad-bio/mad/shared/s3store"
	"github.com/mad-bio/mad/shared/secrets"
	"github.com/mad-bio/mad/shared/sqsqueue"
	"github.com/mad-bio/mad/shared/stack"
)

// Env is what every function starts from.
type Env struct {
	Config config.Config
	Log    *slog.Logger
	AWS    aws.Config
}

// Start loads and checks the configuration for the given needs, sets up
// JSON logging and loads the AWS config. Any problem is one error naming
// what is missing or wrong.
func Start(ctx context.Context, function string, needs ...config.Need) (*Env, error) {
	cfg, err := config.Load(os.Getenv)
	log := obs.Setup(cfg.LogLevel, function)
	if err != nil {
		return &Env{Log: log}, err
	}
	if err := cfg.Require(needs...); err != nil {
		return &Env{Config: cfg, Log: log}, err
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if cfg.AWSEndpoint != "" {
		// moto or LocalStack: one endpoint for every service.
		opts = append(opts, awsconfig.WithBaseEndpoint(cfg.AWSEndpoint))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return &Env{Config: cfg, Log: log}, fmt.Errorf("load AWS config: %w", err)
	}
	return &Env{Config: cfg, Log: log, AWS: ac}, nil
}

// Exit logs one line naming what failed and ends the process: a Lambda
// that cannot be configured must not half-start. Only mains call it.
func Exit(log *slog.Logger, what string, err error) {
	if log == nil {
		log = slog.Default()
	}
	log.Error("cold start failed: "+what, "err", err.Error())
	os.Exit(1)
}

// Secrets returns a Secrets Manager cache with the configured TTL.
func (e *Env) Secrets() *secrets.Cache {
	return secrets.New(secretsmanager.NewFromConfig(e.AWS), e.Config.DBSecretTTL)
}

// Postgres connects to the application database, with the credentials of
// the app secret (re-read on the cache's TTL, so rotated passwords reach
// new connections) or MAD_DATABASE_URL, and checks it with one round trip.
func (e *Env) Postgres(ctx context.Context, sec *secrets.Cache) (*postgres.Store, error) {
	return e.postgres(ctx, sec, false)
}

// PostgresLazy is Postgres without the cold-start check: the pool
// connects on first use. For readiness, whose job is to report an
// unreachable database rather than to fail to start without one.
func (e *Env) PostgresLazy(ctx context.Context, sec *secrets.Cache) (*postgres.Store, error) {
	return e.postgres(ctx, sec, true)
}

func (e *Env) postgres(ctx context.Context, sec *secrets.Cache, lazy bool) (*postgres.Store, error) {
	pc := postgres.PoolConfig{URL: e.Config.DatabaseURL, MaxConns: e.Config.DBMaxConns, Lazy: lazy}
	if pc.URL == "" {
		id, host, port := e.Config.DBSecretID, e.Config.DBHost, e.Config.DBPort
		pc.Credentials = func(ctx context.Context) (postgres.Credentials, error) {
			c, err := sec.DBCredentials(ctx, id)
			if err != nil {
				return postgres.Credentials{}, err
			}
			cr := postgres.Credentials{Host: c.Host, Port: c.Port, User: c.Username, Password: c.Password, Database: c.DBName}
			if host != "" {
				cr.Host = host
			}
			if port != 0 {
				cr.Port = port
			}
			if cr.Database == "" {
				cr.Database = stack.DatabaseName
			}
			return cr, nil
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pool, err := postgres.NewPool(cctx, pc)
	if err != nil {
		return nil, err
	}
	return postgres.NewStore(pool), nil
}

// Keys returns the token keys; nothing is fetched until first use.
func (e *Env) Keys() (*jwtauth.Keys, error) {
	jc := jwtauth.ConfigFrom(e.Config)
	jc.Log = e.Log
	return jwtauth.New(jc, secretsmanager.NewFromConfig(e.AWS), kms.NewFromConfig(e.AWS))
}

// Objects returns the S3 store.
func (e *Env) Objects() (*s3store.Store, error) {
	client := s3.NewFromConfig(e.AWS, func(o *s3.Options) {
		// moto and LocalStack serve buckets by path, not by host name.
		o.UsePathStyle = e.Config.AWSEndpoint != ""
	})
	cfg := s3store.Config{ArtifactsBucket: e.Config.ArtifactsBucket, UploadsBucket: e.Config.UploadsBucket, KMSKeyID: e.Config.KMSKeyID}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return s3store.New(client, s3.NewPresignClient(client), cfg), nil
}

// S3 returns a raw S3 client (readiness checks).
func (e *Env) S3() *s3.Client {
	return s3.NewFromConfig(e.AWS, func(o *s3.Options) { o.UsePathStyle = e.Config.AWSEndpoint != "" })
}

// SQS returns an SQS client.
func (e *Env) SQS() *sqs.Client { return sqs.NewFromConfig(e.AWS) }

// Queue returns the jobs queue.
func (e *Env) Queue() *sqsqueue.Queue { return sqsqueue.New(e.SQS(), e.Config.JobsQueueURL) }
