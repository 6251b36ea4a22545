// Package provision creates, by name and idempotently, the AWS resources of
// one local stage on moto or LocalStack, the way the CDK stack creates them
// in AWS: the KMS key (rotation on, alias), the artifacts and uploads
// buckets (SSE-KMS by default with a bucket key, versioning, public access
// block, CORS on uploads, ObjectCreated notifications to the uploads
// queue), the queues with their dead-letter queues, and the secrets. It
// also snapshots what users need across restarts (S3 objects, secret
// values) since moto keeps everything in memory.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/mad-bio/mad/scripts/devstack/internal/awsx"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
	"github.com/mad-bio/mad/shared/stack"
)

// Default root credentials of the local stack (README documents them).
const (
	DefaultRootEmail    = "root@mad.local"
	DefaultRootPassword = "mad-root-password-change-me"
)

// DB is what the RDS-style database secrets hold.
type DB struct {
	Host          string
	Port          int
	Name          string
	AppUser       string
	AppPassword   string
	AdminUser     string
	AdminPassword string
}

// Options configure one provisioning run.
type Options struct {
	Names stack.Names
	// Visibility overrides every queue's visibility timeout (seconds) when > 0.
	Visibility   int
	DB           DB
	RootEmail    string
	RootPassword string
	// CORSOrigins of the uploads bucket (default "*": browsers PUT there).
	CORSOrigins []string
	// SnapshotDir, when set, is restored: secrets before they would be
	// generated, objects before the uploads notification is turned on (so
	// restored uploads are not ingested again).
	SnapshotDir string
	Log         *slog.Logger
}

// Queue is one provisioned queue.
type Queue struct {
	Name, URL, ARN string
	Visibility     int
}

// Resources are the provisioned names and ids.
type Resources struct {
	Names           stack.Names
	KeyARN, KeyID   string
	ArtifactsBucket string
	UploadsBucket   string
	// Queues by stack.Queue name: "jobs", "jobs-dlq", "uploads", "uploads-dlq".
	Queues map[string]Queue
	// SecretARNs maps each secret's name to its ARN; the functions are
	// configured with ARNs, as the CDK stack does.
	SecretARNs map[string]string
	// Restored counts what the snapshot brought back.
	RestoredObjects, RestoredSecrets int
}

// QueueUploadsDLQ names the uploads dead-letter queue (stack.Queue has no
// constant for it: no function consumes it).
const QueueUploadsDLQ = "uploads-dlq"

// Account returns the account id of the endpoint's credentials.
func Account(ctx context.Context, c *awsx.Clients) (string, error) {
	out, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("sts get-caller-identity: %w", err)
	}
	return aws.ToString(out.Account), nil
}

// Provision creates or updates every resource of o.Names.
func Provision(ctx context.Context, c *awsx.Clients, o Options) (*Resources, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if len(o.CORSOrigins) == 0 {
		o.CORSOrigins = []string{"*"}
	}
	n := o.Names
	r := &Resources{Names: n, ArtifactsBucket: n.ArtifactsBucket(), UploadsBucket: n.UploadsBucket(), Queues: map[string]Queue{}}
	var err error
	if r.KeyARN, r.KeyID, err = ensureKey(ctx, c.KMS, n); err != nil {
		return nil, err
	}
	for _, b := range []string{r.ArtifactsBucket, r.UploadsBucket} {
		if err := ensureBucket(ctx, c.S3, b, r.KeyARN); err != nil {
			return nil, err
		}
	}
	if err := putCORS(ctx, c.S3, r.UploadsBucket, o.CORSOrigins); err != nil {
		return nil, err
	}
	if err := ensureQueues(ctx, c.SQS, o, r); err != nil {
		return nil, err
	}
	var snap *Snapshot
	if o.SnapshotDir != "" {
		if snap, err = ReadSnapshot(o.SnapshotDir); err != nil {
			return nil, err
		}
	}
	if snap != nil {
		if r.RestoredSecrets, err = restoreSecrets(ctx, c.Secrets, n, snap, r.KeyARN); err != nil {
			return nil, err
		}
	}
	if r.SecretARNs, err = ensureSecrets(ctx, c.Secrets, o, r.KeyARN); err != nil {
		return nil, err
	}
	if snap != nil {
		if r.RestoredObjects, err = restoreObjects(ctx, c.S3, r, o.SnapshotDir, snap); err != nil {
			return nil, err
		}
	}
	if err := ensureNotification(ctx, c.S3, r.UploadsBucket, r.Queues[string(stack.QueueUploads)].ARN); err != nil {
		return nil, err
	}
	return r, nil
}

func ensureKey(ctx context.Context, k *kms.Client, n stack.Names) (arn, id string, err error) {
	alias := n.KeyAlias()
	var target string
	aliasExists := false
	p := kms.NewListAliasesPaginator(k, &kms.ListAliasesInput{})
	for p.HasMorePages() && !aliasExists {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", "", fmt.Errorf("kms list-aliases: %w", err)
		}
		for _, a := range page.Aliases {
			if aws.ToString(a.AliasName) == alias {
				aliasExists, target = true, aws.ToString(a.TargetKeyId)
				break
			}
		}
	}
	if target != "" {
		d, err := k.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(target)})
		if err == nil && d.KeyMetadata.KeyState == kmstypes.KeyStateEnabled {
			arn, id = aws.ToString(d.KeyMetadata.Arn), aws.ToString(d.KeyMetadata.KeyId)
		}
	}
	if arn == "" {
		out, err := k.CreateKey(ctx, &kms.CreateKeyInput{
			Description: aws.String("MAD " + n.Stage + " stack key (S3, SQS, Secrets Manager)"),
			KeySpec:     kmstypes.KeySpecSymmetricDefault,
			KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
			Tags:        []kmstypes.Tag{{TagKey: aws.String("mad:stage"), TagValue: aws.String(n.Stage)}},
		})
		if err != nil {
			return "", "", fmt.Errorf("kms create-key: %w", err)
		}
		arn, id = aws.ToString(out.KeyMetadata.Arn), aws.ToString(out.KeyMetadata.KeyId)
		if aliasExists {
			_, err = k.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)})
		} else {
			_, err = k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(id)})
		}
		if err != nil {
			return "", "", fmt.Errorf("kms alias %s: %w", alias, err)
		}
	}
	if _, err := k.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(id)}); err != nil {
		return "", "", fmt.Errorf("kms enable-key-rotation: %w", err)
	}
	return arn, id, nil
}

func ensureBucket(ctx context.Context, c *s3.Client, bucket, keyARN string) error {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
		if region := c.Options().Region; region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}
		}
		if _, err := c.CreateBucket(ctx, in); err != nil {
			var owned *s3types.BucketAlreadyOwnedByYou
			if !errors.As(err, &owned) {
				return fmt.Errorf("s3 create-bucket %s: %w", bucket, err)
			}
		}
	}
	if _, err := c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
		Bucket: aws.String(bucket),
		ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{
				SSEAlgorithm:   s3types.ServerSideEncryptionAwsKms,
				KMSMasterKeyID: aws.String(keyARN),
			},
			BucketKeyEnabled: aws.Bool(true),
		}}},
	}); err != nil {
		return fmt.Errorf("s3 put-bucket-encryption %s: %w", bucket, err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("s3 put-bucket-versioning %s: %w", bucket, err)
	}
	if _, err := c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(bucket),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
			IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
		},
	}); err != nil {
		return fmt.Errorf("s3 put-public-access-block %s: %w", bucket, err)
	}
	return nil
}

func putCORS(ctx context.Context, c *s3.Client, bucket string, origins []string) error {
	_, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(bucket),
		CORSConfiguration: &s3types.CORSConfiguration{CORSRules: []s3types.CORSRule{{
			AllowedMethods: []string{"PUT"},
			AllowedOrigins: origins,
			AllowedHeaders: []string{"*"},
			ExposeHeaders:  []string{"ETag"},
			MaxAgeSeconds:  aws.Int32(3000),
		}}},
	})
	if err != nil {
		return fmt.Errorf("s3 put-bucket-cors %s: %w", bucket, err)
	}
	return nil
}

// ensureNotification turns on ObjectCreated events to the uploads queue;
// it leaves a matching configuration alone (S3 sends a test event on every put).
func ensureNotification(ctx context.Context, c *s3.Client, bucket, queueARN string) error {
	cur, err := c.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
	if err == nil && len(cur.QueueConfigurations) == 1 && aws.ToString(cur.QueueConfigurations[0].QueueArn) == queueARN &&
		len(cur.QueueConfigurations[0].Events) == 1 && cur.QueueConfigurations[0].Events[0] == s3types.EventS3ObjectCreated {
		return nil
	}
	_, err = c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{{
			Id:       aws.String("uploads-to-ingest"),
			QueueArn: aws.String(queueARN),
			Events:   []s3types.Event{s3types.EventS3ObjectCreated},
		}}},
	})
	if err != nil {
		return fmt.Errorf("s3 put-bucket-notification-configuration %s: %w", bucket, err)
	}
	return nil
}

func ensureQueues(ctx context.Context, c *sqs.Client, o Options, r *Resources) error {
	n := o.Names
	vis := func(q string) int {
		if o.Visibility > 0 {
			return o.Visibility
		}
		return stack.QueueVisibilitySeconds(stack.Queue(q))
	}
	const fourDays, fourteenDays = 4 * 24 * 3600, 14 * 24 * 3600
	type spec struct {
		key, name, dlq string
		maxReceive     int
		retention      int
	}
	specs := []spec{
		{key: string(stack.QueueJobsDLQ), name: n.JobsDLQ(), retention: fourteenDays},
		{key: QueueUploadsDLQ, name: n.UploadsDLQ(), retention: fourteenDays},
		{key: string(stack.QueueJobs), name: n.JobsQueue(), dlq: string(stack.QueueJobsDLQ), maxReceive: stack.JobsMaxReceiveCount, retention: fourDays},
		{key: string(stack.QueueUploads), name: n.UploadsQueue(), dlq: QueueUploadsDLQ, maxReceive: stack.UploadsMaxReceiveCount, retention: fourDays},
	}
	for _, s := range specs {
		v := vis(s.key)
		attrs := map[string]string{
			"VisibilityTimeout":            strconv.Itoa(v),
			"MessageRetentionPeriod":       strconv.Itoa(s.retention),
			"KmsMasterKeyId":               r.KeyARN,
			"KmsDataKeyReusePeriodSeconds": "300",
		}
		if s.dlq != "" {
			b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": r.Queues[s.dlq].ARN, "maxReceiveCount": s.maxReceive})
			attrs["RedrivePolicy"] = string(b)
		}
		if s.key == string(stack.QueueUploads) {
			attrs["Policy"] = uploadsQueuePolicy(n, r.UploadsBucket)
		}
		url, err := ensureQueue(ctx, c, s.name, attrs)
		if err != nil {
			return err
		}
		a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			return fmt.Errorf("sqs get-queue-attributes %s: %w", s.name, err)
		}
		r.Queues[s.key] = Queue{Name: s.name, URL: url, ARN: a.Attributes["QueueArn"], Visibility: v}
	}
	return nil
}

func ensureQueue(ctx context.Context, c *sqs.Client, name string, attrs map[string]string) (string, error) {
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err == nil {
		if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: got.QueueUrl, Attributes: attrs}); err != nil {
			return "", fmt.Errorf("sqs set-queue-attributes %s: %w", name, err)
		}
		return aws.ToString(got.QueueUrl), nil
	}
	var missing *sqstypes.QueueDoesNotExist
	if !errors.As(err, &missing) {
		return "", fmt.Errorf("sqs get-queue-url %s: %w", name, err)
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("sqs create-queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func uploadsQueuePolicy(n stack.Names, bucket string) string {
	b, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "S3UploadsNotifications",
			"Effect":    "Allow",
			"Principal": map[string]any{"Service": "s3.amazonaws.com"},
			"Action":    "sqs:SendMessage",
			"Resource":  fmt.Sprintf("arn:aws:sqs:%s:%s:%s", n.Region, n.Account, n.UploadsQueue()),
			"Condition": map[string]any{
				"ArnLike":      map[string]string{"aws:SourceArn": "arn:aws:s3:::" + bucket},
				"StringEquals": map[string]string{"aws:SourceAccount": n.Account},
			},
		}},
	})
	return string(b)
}

// JWTSecretValue is the HS256 signing key secret's shape.
type JWTSecretValue struct {
	Alg string `json:"alg"`
	K   string `json:"k"`
}

// NewJWTSecret returns a fresh HS256 key secret value.
func NewJWTSecret() string {
	b, _ := json.Marshal(JWTSecretValue{Alg: "HS256", K: state.Random(64)})
	return string(b)
}

// RDSSecret is the RDS secret JSON format.
type RDSSecret struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
	DBName   string `json:"dbname"`
}

// RootSecret is the bootstrap root user's secret.
type RootSecret struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func ensureSecrets(ctx context.Context, c *secretsmanager.Client, o Options, keyARN string) (map[string]string, error) {
	n := o.Names
	arns := map[string]string{}
	var err error
	if arns[n.JWTSecret()], err = ensureSecret(ctx, c, n.JWTSecret(), NewJWTSecret(), false, keyARN); err != nil {
		return nil, err
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	app := RDSSecret{Engine: "postgres", Host: o.DB.Host, Port: o.DB.Port, Username: o.DB.AppUser, Password: o.DB.AppPassword, DBName: o.DB.Name}
	admin := RDSSecret{Engine: "postgres", Host: o.DB.Host, Port: o.DB.Port, Username: o.DB.AdminUser, Password: o.DB.AdminPassword, DBName: o.DB.Name}
	root := RootSecret{Email: o.RootEmail, Password: o.RootPassword}
	if root.Email == "" {
		root.Email = DefaultRootEmail
	}
	if root.Password == "" {
		root.Password = DefaultRootPassword
	}
	for name, v := range map[string]string{n.DBAppSecret(): js(app), n.DBAdminSecret(): js(admin), n.RootSecret(): js(root)} {
		if arns[name], err = ensureSecret(ctx, c, name, v, true, keyARN); err != nil {
			return nil, err
		}
	}
	return arns, nil
}

// ensureSecret creates name with value when missing; when it exists and
// overwrite is set, a different current value is replaced. It returns the
// secret's ARN.
func ensureSecret(ctx context.Context, c *secretsmanager.Client, name, value string, overwrite bool, keyARN string) (string, error) {
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if !errors.As(err, &nf) {
			return "", fmt.Errorf("secretsmanager describe-secret %s: %w", name, err)
		}
		out, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value), KmsKeyId: aws.String(keyARN)})
		if err != nil {
			return "", fmt.Errorf("secretsmanager create-secret %s: %w", name, err)
		}
		return aws.ToString(out.ARN), nil
	}
	if !overwrite {
		return aws.ToString(d.ARN), nil
	}
	cur, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err == nil && aws.ToString(cur.SecretString) == value {
		return aws.ToString(d.ARN), nil
	}
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)}); err != nil {
		return "", fmt.Errorf("secretsmanager put-secret-value %s: %w", name, err)
	}
	return aws.ToString(d.ARN), nil
}
