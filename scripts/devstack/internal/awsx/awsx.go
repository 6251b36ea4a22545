// Package awsx builds AWS SDK clients for the local endpoint (moto or
// LocalStack): static test credentials, one base endpoint, path-style S3.
package awsx

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Local test credentials (moto and LocalStack accept any).
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// Clients are the SDK clients devstack uses.
type Clients struct {
	Config  aws.Config
	S3      *s3.Client
	SQS     *sqs.Client
	KMS     *kms.Client
	Secrets *secretsmanager.Client
	STS     *sts.Client
}

// New returns clients for endpoint in region.
func New(ctx context.Context, endpoint, region string) (*Clients, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRegion(region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		awsconfig.WithBaseEndpoint(endpoint),
		// SQS long polls up to 20 s; leave room above that.
		awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(60*time.Second)),
		awsconfig.WithRetryMaxAttempts(3),
	)
	if err != nil {
		return nil, err
	}
	return &Clients{
		Config: cfg,
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.UsePathStyle = true
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}),
		SQS:     sqs.NewFromConfig(cfg),
		KMS:     kms.NewFromConfig(cfg),
		Secrets: secretsmanager.NewFromConfig(cfg),
		STS:     sts.NewFromConfig(cfg),
	}, nil
}
