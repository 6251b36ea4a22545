package cdkstack

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mad-bio/mad/shared/stack"
)

// Stack is one deployment of MAD. Its fields expose the main resources to
// tests and to main.
type Stack struct {
	// St is the CDK stack (a field, not embedded: jsii objects cannot be
	// embedded in a Go value that is itself passed to jsii).
	St    awscdk.Stack
	Cfg   Config
	Names stack.Names

	Key                         awskms.Key
	Artifacts, Uploads, LogsBkt awss3.Bucket
	Queues                      map[stack.Queue]awssqs.Queue
	UploadsDLQ                  awssqs.Queue
	JWTSecret, RootSecret       awssecretsmanager.Secret
	DBAppSecret, DBAdminSecret  awssecretsmanager.ISecret
	Vpc                         awsec2.Vpc
	DB                          awsrds.DatabaseInstance
	Proxy                       awsrds.DatabaseProxy
	Functions                   map[string]awslambda.Function
	Roles                       map[string]awsiam.Role
	API                         awsapigatewayv2.HttpApi
	Routes                      map[string]awsapigatewayv2.HttpRoute // by route key
	APIStage                    awsapigatewayv2.HttpStage
	AlarmTopic                  awssns.Topic
	// Suppressions lists every cdk-nag suppression with its reason.
	Suppressions                 []AppliedSuppression
	functionSG, migrateSG, rotSG awsec2.SecurityGroup
	dbReady                      []constructs.Construct
}

// New builds the stack. cfg must come from NewConfig. The stack is
// environment-agnostic: account and region are CloudFormation pseudo
// parameters, so one template serves every account.
func New(scope constructs.Construct, id string, cfg Config, props *awscdk.StackProps) *Stack {
	if props == nil {
		props = &awscdk.StackProps{}
	}
	if props.Description == nil {
		props.Description = jsii.String(fmt.Sprintf("MAD backend, stage %s", cfg.Stage))
	}
	st := awscdk.NewStack(scope, jsii.String(id), props)
	s := &Stack{
		St:        st,
		Cfg:       cfg,
		Names:     cfg.Names(*awscdk.Aws_ACCOUNT_ID(), *awscdk.Aws_REGION()),
		Queues:    map[stack.Queue]awssqs.Queue{},
		Functions: map[string]awslambda.Function{},
		Roles:     map[string]awsiam.Role{},
		Routes:    map[string]awsapigatewayv2.HttpRoute{},
	}
	// CloudFormation takes no Tags on these two types, though CDK's
	// tagging would render them (cfn-lint E3002).
	untaggable := &awscdk.TagProps{ExcludeResourceTypes: jsii.Strings("AWS::CloudWatch::Dashboard", "AWS::RDS::DBProxyTargetGroup")}
	awscdk.Tags_Of(st).Add(jsii.String("mad:stage"), jsii.String(cfg.Stage), untaggable)
	awscdk.Tags_Of(st).Add(jsii.String("mad:app"), jsii.String("mad"), untaggable)

	s.buildKey()
	s.buildBuckets()
	s.buildQueues()
	s.buildSecrets()
	if !cfg.ExternalDB() {
		s.buildNetwork()
		s.buildDatabase()
	}
	s.buildFunctions()
	s.buildAPI()
	s.buildMonitoring()
	s.buildOutputs()
	s.addNagSuppressions()
	return s
}

func (s *Stack) prod() bool { return s.Cfg.Prod() }

// retainInProd keeps stateful resources of production stages when the
// stack is deleted.
func (s *Stack) retainInProd() awscdk.RemovalPolicy {
	if s.prod() {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

// buildKey creates the stack's customer managed key: buckets, queues,
// secrets, log groups, the SNS topic and the database use it.
func (s *Stack) buildKey() {
	region, account, partition := *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID(), *awscdk.Aws_PARTITION()
	// An explicit key policy: the account administers the key and lets
	// IAM policies grant its use (so CDK grants land in the functions'
	// roles), listing actions instead of "kms:*". In a key policy the
	// resource "*" means this key.
	admin := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AccountAdministersKeyAndDelegatesUseToIAM"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
		Actions: jsii.Strings(
			"kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
			"kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
			"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand", "kms:RetireGrant",
			"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
		),
		Resources: jsii.Strings("*"),
	})
	// CloudWatch Logs encrypts the stack's log groups with the key; the
	// condition limits it to log groups of this account and region.
	logs := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsEncryptsThisAccountsLogGroups"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String(fmt.Sprintf("logs.%s.amazonaws.com", region)), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{
			"kms:EncryptionContext:aws:logs:arn": fmt.Sprintf("arn:%s:logs:%s:%s:log-group:*", partition, region, account),
		}},
	})
	// CloudWatch alarms publish to the KMS-encrypted alarm topic.
	alarms := awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublishToEncryptedTopic"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	})
	s.Key = awskms.NewKey(s.St, jsii.String("Key"), &awskms.KeyProps{
		Alias:             jsii.String(s.Names.KeyAlias()),
		Description:       jsii.String(fmt.Sprintf("MAD %s: buckets, queues, secrets, logs, database", s.Cfg.Stage)),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(30)),
		// Data encrypted with the key outlives the stack.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		Policy: awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
			Statements: &[]awsiam.PolicyStatement{admin, logs, alarms},
		}),
	})
}

// logGroup creates a KMS-encrypted log group with the stage's retention.
func (s *Stack) logGroup(id, name string) awslogs.LogGroup {
	return awslogs.NewLogGroup(s.St, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String(name),
		EncryptionKey: s.Key,
		Retention:     retention(s.Cfg.LogRetentionDays),
		RemovalPolicy: s.retainInProd(),
	})
}

func retention(days int) awslogs.RetentionDays {
	m := map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}
	return m[days]
}

// buildBuckets creates the access-log, artifacts and uploads buckets.
func (s *Stack) buildBuckets() {
	logDays := 90.0
	if s.prod() {
		logDays = 365
	}
	// S3 server access logs can only be delivered to a bucket encrypted
	// with SSE-S3, so this one bucket does not use the stack key.
	s.LogsBkt = awss3.NewBucket(s.St, jsii.String("AccessLogs"), &awss3.BucketProps{
		BucketName:        jsii.String(s.Names.AccessLogsBucket()),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:         jsii.Bool(true),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                          jsii.String("expire-access-logs"),
			Expiration:                  awscdk.Duration_Days(jsii.Number(logDays)),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(7)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	s.Artifacts = s.dataBucket("Artifacts", s.Names.ArtifactsBucket(), "artifacts/", []*awss3.LifecycleRule{{
		Id:                                  jsii.String("expire-noncurrent-versions"),
		NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		ExpiredObjectDeleteMarker:           jsii.Bool(true),
	}}, nil)

	var cors []*awss3.CorsRule
	if len(s.Cfg.CORSOrigins) > 0 {
		// Browsers PUT to presigned URLs from these origins. Headers are
		// not restricted here: the presigned signature already fixes
		// which headers (SSE-KMS among them) a request must carry.
		cors = []*awss3.CorsRule{{
			Id:             jsii.String("presigned-browser-uploads"),
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT},
			AllowedOrigins: jsii.Strings(s.Cfg.CORSOrigins...),
			AllowedHeaders: jsii.Strings("*"),
			ExposedHeaders: jsii.Strings("ETag", "x-amz-request-id"),
			MaxAge:         jsii.Number(3000),
		}}
	}
	// Uploads are ingested within seconds; whatever is still here after a
	// day is a stale or abandoned upload.
	s.Uploads = s.dataBucket("Uploads", s.Names.UploadsBucket(), "uploads/", []*awss3.LifecycleRule{{
		Id:                                  jsii.String("expire-stale-uploads"),
		Expiration:                          awscdk.Duration_Days(jsii.Number(1)),
		NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(1)),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
	}}, cors)
}

// dataBucket is an SSE-KMS bucket with the stack key and the policy that
// denies any other encryption.
func (s *Stack) dataBucket(id, name, logPrefix string, lifecycle []*awss3.LifecycleRule, cors []*awss3.CorsRule) awss3.Bucket {
	b := awss3.NewBucket(s.St, jsii.String(id), &awss3.BucketProps{
		BucketName:             jsii.String(name),
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          s.Key,
		BucketKeyEnabled:       jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: s.LogsBkt,
		ServerAccessLogsPrefix: jsii.String(logPrefix),
		LifecycleRules:         &lifecycle,
		Cors:                   corsRules(cors),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
	})
	b.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenyPutWithoutSSEKMS"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:PutObject"),
		Resources:  jsii.Strings(*b.ArnForObjects(jsii.String("*"))),
		// StringNotEquals also matches a request without the header.
		Conditions: &map[string]any{"StringNotEquals": map[string]any{"s3:x-amz-server-side-encryption": "aws:kms"}},
	}))
	b.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("DenyPutWithOtherKMSKey"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:PutObject"),
		Resources:  jsii.Strings(*b.ArnForObjects(jsii.String("*"))),
		// Without the header S3 uses the bucket default, the stack key.
		Conditions: &map[string]any{"StringNotEqualsIfExists": map[string]any{
			"s3:x-amz-server-side-encryption-aws-kms-key-id": *s.Key.KeyArn(),
		}},
	}))
	return b
}

func corsRules(rules []*awss3.CorsRule) *[]*awss3.CorsRule {
	if len(rules) == 0 {
		return nil
	}
	return &rules
}

// buildQueues creates the jobs and uploads queues and their DLQs.
func (s *Stack) buildQueues() {
	q := func(id, name string, visibility int, retentionDays float64, dlq *awssqs.DeadLetterQueue) awssqs.Queue {
		return awssqs.NewQueue(s.St, jsii.String(id), &awssqs.QueueProps{
			QueueName:           jsii.String(name),
			Encryption:          awssqs.QueueEncryption_KMS,
			EncryptionMasterKey: s.Key,
			DataKeyReuse:        awscdk.Duration_Minutes(jsii.Number(15)),
			EnforceSSL:          jsii.Bool(true),
			VisibilityTimeout:   awscdk.Duration_Seconds(jsii.Number(float64(visibility))),
			RetentionPeriod:     awscdk.Duration_Days(jsii.Number(retentionDays)),
			DeadLetterQueue:     dlq,
			RemovalPolicy:       awscdk.RemovalPolicy_DESTROY,
		})
	}
	// DLQs keep messages for the SQS maximum (14 days), longer than their
	// source queues, so nothing expires before someone looks at it.
	jobsDLQ := q("JobsDLQ", s.Names.JobsDLQ(), s.Cfg.QueueVisibility(stack.QueueJobsDLQ), 14, nil)
	s.Queues[stack.QueueJobsDLQ] = jobsDLQ
	s.Queues[stack.QueueJobs] = q("JobsQueue", s.Names.JobsQueue(), s.Cfg.QueueVisibility(stack.QueueJobs), 4,
		&awssqs.DeadLetterQueue{Queue: jobsDLQ, MaxReceiveCount: jsii.Number(float64(s.Cfg.JobsMaxReceiveCount))})
	s.UploadsDLQ = q("UploadsDLQ", s.Names.UploadsDLQ(), 30, 14, nil)
	s.Queues[stack.QueueUploads] = q("UploadsQueue", s.Names.UploadsQueue(), s.Cfg.QueueVisibility(stack.QueueUploads), 4,
		&awssqs.DeadLetterQueue{Queue: s.UploadsDLQ, MaxReceiveCount: jsii.Number(stack.UploadsMaxReceiveCount)})
}

// sortedFunctions returns the function table's names in a stable order.
func sortedFunctions() []stack.Function {
	fs := append([]stack.Function(nil), stack.Functions...)
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	return fs
}
