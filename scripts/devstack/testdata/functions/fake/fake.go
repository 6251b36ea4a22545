// Package fake holds stand-in functions for exercising devstack up end to
// end before (or without) the real functions: they read the same
// configuration and touch the same resources, with trivial logic.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5"
)

// AWS loads the SDK config from the environment (AWS_ENDPOINT_URL included).
func AWS(ctx context.Context) aws.Config {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		panic(err)
	}
	return cfg
}

// Secret reads a JSON secret into v.
func Secret(ctx context.Context, cfg aws.Config, id string, v any) error {
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(aws.ToString(out.SecretString)), v)
}

// DB connects with an RDS-format secret.
func DB(ctx context.Context, cfg aws.Config, secretID string) (*pgx.Conn, error) {
	var s struct {
		Host     string `json:"host"`
		Port     int    `json:"port"`
		Username string `json:"username"`
		Password string `json:"password"`
		DBName   string `json:"dbname"`
	}
	if err := Secret(ctx, cfg, secretID, &s); err != nil {
		return nil, err
	}
	return pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", s.Username, s.Password, s.Host, s.Port, s.DBName))
}

// JSON answers a proxy response.
func JSON(status int, v any) events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(v)
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Body: string(b), Headers: map[string]string{"Content-Type": "application/json", "X-Request-Id": "00000000-0000-4000-8000-000000000000"}}
}

// Ready runs the four readiness checks.
func Ready(ctx context.Context) map[string]string {
	cfg := AWS(ctx)
	checks := map[string]string{}
	check := func(name string, err error) {
		if err != nil {
			checks[name] = err.Error()
		} else {
			checks[name] = "ok"
		}
	}
	conn, err := DB(ctx, cfg, os.Getenv("MAD_DB_SECRET_ID"))
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	check("db", err)
	_, err = sqs.NewFromConfig(cfg).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(os.Getenv("MAD_JOBS_QUEUE_URL"))})
	check("queue", err)
	_, err = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(os.Getenv("MAD_ARTIFACTS_BUCKET"))})
	check("storage", err)
	var k map[string]string
	err = Secret(ctx, cfg, os.Getenv("MAD_JWT_SECRET_ID"), &k)
	if err == nil && k["k"] == "" {
		err = errors.New("no key")
	}
	check("secrets", err)
	return checks
}
