package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mad-bio/mad/shared/apigw"
	"github.com/mad-bio/mad/shared/app"
	"github.com/mad-bio/mad/shared/domain"
	"github.com/mad-bio/mad/shared/routes"
)

// jwksSource publishes the token verification keys.
type jwksSource interface {
	JWKS(ctx context.Context) ([]byte, error)
}

// Dependencies the readiness checks probe.
type (
	pinger interface {
		Ping(ctx context.Context) error
	}
	depther interface {
		Depth(ctx context.Context) (int, int, error)
	}
	keyLoader interface {
		Load(ctx context.Context) error
	}
	bucketHead interface {
		HeadBucket(ctx context.Context, in *s3.HeadBucketInput, optFns ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	}
)

// newReadiness builds the checks of /ready: the database, the jobs queue,
// the artifacts bucket and the signing-key secret, each bounded to 2 s.
func newReadiness(db pinger, queue depther, s3c bucketHead, bucket string, keys keyLoader, log *slog.Logger) *app.Readiness {
	return &app.Readiness{Timeout: 2 * time.Second, Log: log, Checks: map[string]app.Check{
		"db": db.Ping,
		"queue": func(ctx context.Context) error {
			_, _, err := queue.Depth(ctx)
			return err
		},
		"storage": func(ctx context.Context) error {
			if _, err := s3c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
				return fmt.Errorf("head bucket: %w", err)
			}
			return nil
		},
		"secrets": keys.Load,
	}}
}

// handler serves the public operational routes and the catch-all route.
type handler struct {
	ready   *app.Readiness
	jwks    jwksSource
	openapi []byte
}

func newMux(h handler, mux *apigw.Mux) *apigw.Mux {
	mux.Handle("GET /health", h.health)
	mux.Handle("GET /ready", h.readyz)
	mux.Handle("GET /openapi.json", h.spec)
	mux.Handle("GET /.well-known/jwks.json", h.keys)
	mux.Handle(routes.DefaultRouteKey, h.fallback)
	return mux
}

func (h handler) health(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	return apigw.JSON(http.StatusOK, map[string]string{"status": "ok"}), nil
}

type readyJSON struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (h handler) readyz(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	checks, ok := h.ready.Ready(ctx)
	if !ok {
		return apigw.JSON(http.StatusServiceUnavailable, readyJSON{Status: "not_ready", Checks: checks}), nil
	}
	return apigw.JSON(http.StatusOK, readyJSON{Status: "ready", Checks: checks}), nil
}

func (h handler) spec(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	return &apigw.Response{Status: http.StatusOK, RawBody: h.openapi,
		Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "public, max-age=300"}}, nil
}

func (h handler) keys(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	b, err := h.jwks.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, domain.Errorf(domain.CodeInternal, "invalid key set")
	}
	// Short max-age: a key published before it signs reaches clients well
	// within one rotation period.
	return &apigw.Response{Status: http.StatusOK, RawBody: b,
		Headers: map[string]string{"Content-Type": "application/jwk-set+json", "Cache-Control": "public, max-age=300"}}, nil
}

// fallback answers API Gateway's $default route: 405 when the path exists
// under another method, 404 otherwise, in the contract's shape.
func (h handler) fallback(ctx context.Context, r *apigw.Request) (*apigw.Response, error) {
	method := r.Event.RequestContext.HTTP.Method
	path := r.Event.RawPath
	if _, _, ok, known := routes.Match(method, path); known && !ok {
		return nil, domain.Errorf(domain.CodeMethodNotAllowed, "method %s is not allowed on this path", truncate(method, 10))
	}
	return nil, domain.Errorf(domain.CodeRouteNotFound, "no route for %s %s", truncate(method, 10), truncate(path, 100))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
