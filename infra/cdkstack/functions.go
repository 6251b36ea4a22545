package cdkstack

import (
	"fmt"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/triggers"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/stack"
)

// EngineDockerfile is the engine image's Dockerfile, relative to the
// repository root (the build context).
const EngineDockerfile = "functions/engine/Dockerfile"

// EngineBaseImageLock records the pinned base images of the engine image.
const EngineBaseImageLock = "functions/engine/base-image.lock"

// EngineAssetExclude is the engine image's build context, as Docker
// ignore patterns over the repository root: everything is excluded, then
// the module files and the Go sources the engine build reads come back.
// Nothing else (.git, .state, .venv, build, cdk.out, node_modules, infra,
// scripts, ...) reaches Docker or the asset hash, so only changes to the
// engine's inputs rebuild the image.
var EngineAssetExclude = []string{
	"*",
	"!go.mod", "!go.sum",
	"!functions", "!shared", "!migrations",
	"**/*_test.go", "**/testdata",
}

// Paths of the engine inside its image.
const (
	engineVinaPath   = "/usr/bin/vina"
	engineObabelPath = "/usr/bin/obabel"
	engineScratchDir = "/tmp"
)

// jwtKeyTag marks the KMS signing keys the rotate function creates in
// RS256/ES256 mode; IAM conditions scope every use to keys of this stage.
const jwtKeyTag = "mad-jwt-stage"

// buildFunctions creates every function of stack.Functions with its role,
// log group, environment, triggers and the grants its needs call for.
func (s *Stack) buildFunctions() {
	for _, f := range sortedFunctions() {
		s.buildFunction(f)
	}
	s.grantAll()
	s.wireTriggers()
}

func (s *Stack) inVPC(f stack.Function) bool {
	return !s.Cfg.ExternalDB() && (f.Needs.DB || f.Needs.DBAdmin)
}

func (s *Stack) buildFunction(f stack.Function) {
	name := s.Names.FunctionName(f.Name)
	role := awsiam.NewRole(s.St, jsii.String(f.Name+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(fmt.Sprintf("MAD %s function %s", s.Cfg.Stage, f.Name)),
	})
	s.Roles[f.Name] = role
	logs := s.logGroup(f.Name+"Logs", "/aws/lambda/"+name)
	logs.GrantWrite(role)

	var vpc awsec2.IVpc
	var subnets *awsec2.SubnetSelection
	var sgs *[]awsec2.ISecurityGroup
	if s.inVPC(f) {
		vpc = s.Vpc
		subnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
		sg := s.functionSG
		if f.Kind == stack.KindTrigger {
			sg = s.migrateSG
		}
		sgs = &[]awsec2.ISecurityGroup{sg}
		// Lambda manages the function's network interfaces with the
		// execution role. AWS requires "*": ec2:DescribeNetworkInterfaces
		// has no resource-level permissions, and the interfaces do not
		// exist before Lambda creates them.
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("LambdaVpcNetworkInterfaces"),
			Actions: jsii.Strings("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
				"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"),
			Resources: jsii.Strings("*"),
		}))
	}

	timeout := s.Cfg.FunctionTimeout(f)
	memory := f.MemoryMB
	if f.Name == routes.FnEngine {
		memory = s.Cfg.EngineMemoryMB
	}
	env := s.environment(f)
	desc := fmt.Sprintf("MAD %s: %s (%s)", s.Cfg.Stage, f.Name, f.Kind)
	var fn awslambda.Function
	if f.Image {
		fn = awslambda.NewDockerImageFunction(s.St, jsii.String(f.Name+"Function"), &awslambda.DockerImageFunctionProps{
			FunctionName:         jsii.String(name),
			Description:          jsii.String(desc),
			Code:                 s.engineImage(),
			Architecture:         awslambda.Architecture_ARM_64(),
			MemorySize:           jsii.Number(float64(memory)),
			EphemeralStorageSize: awscdk.Size_Mebibytes(jsii.Number(float64(s.Cfg.EngineEphemeralMB))),
			Timeout:              awscdk.Duration_Seconds(jsii.Number(float64(timeout))),
			Environment:          &env,
			Role:                 role,
			LogGroup:             logs,
			Vpc:                  vpc,
			VpcSubnets:           subnets,
			SecurityGroups:       sgs,
		})
	} else {
		fn = awslambda.NewFunction(s.St, jsii.String(f.Name+"Function"), &awslambda.FunctionProps{
			FunctionName:   jsii.String(name),
			Description:    jsii.String(desc),
			Runtime:        awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:   awslambda.Architecture_ARM_64(),
			Handler:        jsii.String("bootstrap"),
			Code:           awslambda.Code_FromAsset(jsii.String(s.Cfg.AssetDir(f.Name)), nil),
			MemorySize:     jsii.Number(float64(memory)),
			Timeout:        awscdk.Duration_Seconds(jsii.Number(float64(timeout))),
			Environment:    &env,
			Role:           role,
			LogGroup:       logs,
			Vpc:            vpc,
			VpcSubnets:     subnets,
			SecurityGroups: sgs,
		})
	}
	s.Functions[f.Name] = fn

	switch f.Kind {
	case stack.KindQueue:
		q := s.Queues[f.Consumes]
		if q == nil {
			panic(fmt.Sprintf("function %s consumes unknown queue %q", f.Name, f.Consumes))
		}
		// Batch size 1: one job (or upload) per invocation, so one failure
		// never redelivers a neighbour; max concurrency protects Postgres.
		fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(q, &awslambdaeventsources.SqsEventSourceProps{
			BatchSize:               jsii.Number(1),
			ReportBatchItemFailures: jsii.Bool(true),
			MaxConcurrency:          jsii.Number(float64(f.MaxConcurrency)),
		}))
	case stack.KindSchedule:
		awsevents.NewRule(s.St, jsii.String(f.Name+"Schedule"), &awsevents.RuleProps{
			RuleName:    jsii.String(name),
			Description: jsii.String(fmt.Sprintf("MAD %s: run %s every %d minute(s)", s.Cfg.Stage, f.Name, f.ScheduleMinutes)),
			Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(float64(f.ScheduleMinutes)))),
			Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
				// The next tick retries; stale events are pointless.
				RetryAttempts: jsii.Number(0),
				MaxEventAge:   awscdk.Duration_Minutes(jsii.Number(2)),
			})},
		})
	}
}

// engineImage is the engine's container image asset, built from the
// repository root with the base images of the lock file as build args.
func (s *Stack) engineImage() awslambda.DockerImageCode {
	lock, err := ReadBaseImageLock(s.Cfg.RepoRoot)
	if err != nil {
		panic(err)
	}
	args := map[string]*string{}
	for k, v := range lock.BuildArgs() {
		args[k] = jsii.String(v)
	}
	if lock.Placeholder() {
		awscdk.Annotations_Of(s.St).AddWarningV2(jsii.String("mad:engine-base-image-placeholder"),
			jsii.String(EngineBaseImageLock+" holds placeholder digests: run `make engine-image-bump` before deploying"), nil)
	}
	return awslambda.DockerImageCode_FromImageAsset(jsii.String(s.Cfg.RepoRoot), &awslambda.AssetImageCodeProps{
		File:       jsii.String(EngineDockerfile),
		Exclude:    jsii.Strings(EngineAssetExclude...),
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
		Platform:   awsecrassets.Platform_LINUX_ARM64(),
		BuildArgs:  &args,
	})
}

// environment is the function's configuration (shared/config): ids,
// ARNs, names and URLs only. Secret values are read at run time from
// Secrets Manager, never put in the environment.
func (s *Stack) environment(f stack.Function) map[string]*string {
	env := map[string]*string{
		"MAD_STAGE":     jsii.String(s.Cfg.Stage),
		"MAD_LOG_LEVEL": jsii.String(s.Cfg.LogLevel),
	}
	set := func(k string, v *string) { env[k] = v }
	n := f.Needs
	if n.DB || f.Kind == stack.KindTrigger {
		// migrate reads the app secret too: it creates the app user with
		// the secret's first password.
		set("MAD_DB_SECRET_ID", s.DBAppSecret.SecretArn())
		if s.Proxy != nil && f.Kind != stack.KindTrigger {
			// The app secret's host is the instance (rotation needs it);
			// the functions connect through the proxy instead.
			set("MAD_DB_HOST", s.Proxy.Endpoint())
		}
	}
	if n.DBAdmin {
		set("MAD_DB_ADMIN_SECRET_ID", s.DBAdminSecret.SecretArn())
	}
	if n.Root {
		set("MAD_ROOT_SECRET_ID", s.RootSecret.SecretArn())
	}
	if n.JWT {
		set("MAD_JWT_SECRET_ID", s.JWTSecret.SecretArn())
		set("MAD_JWT_ALG", jsii.String(s.Cfg.JWTAlg))
		set("MAD_ACCESS_TOKEN_TTL", jsii.String(fmt.Sprintf("%dm", s.Cfg.AccessTokenTTLMinutes)))
		set("MAD_REFRESH_TOKEN_TTL", jsii.String(fmt.Sprintf("%dh", s.Cfg.RefreshTokenTTLHours)))
	}
	if n.Storage {
		set("MAD_ARTIFACTS_BUCKET", s.Artifacts.BucketName())
		set("MAD_UPLOADS_BUCKET", s.Uploads.BucketName())
		set("MAD_KMS_KEY_ID", s.Key.KeyArn())
	}
	if n.Queue {
		set("MAD_JOBS_QUEUE_URL", s.Queues[stack.QueueJobs].QueueUrl())
		set("MAD_UPLOADS_QUEUE_URL", s.Queues[stack.QueueUploads].QueueUrl())
	}
	if n.Engine {
		set("MAD_VINA_PATH", jsii.String(engineVinaPath))
		set("MAD_OBABEL_PATH", jsii.String(engineObabelPath))
		set("MAD_SCRATCH_DIR", jsii.String(engineScratchDir))
		set("MAD_JOBS_MAX_RECEIVE_COUNT", jsii.String(strconv.Itoa(s.Cfg.JobsMaxReceiveCount)))
	}
	return env
}

// allow adds one statement to a function's role.
func (s *Stack) allow(fn, sid string, actions []string, resources []string, conditions map[string]any) {
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	}
	if conditions != nil {
		props.Conditions = &conditions
	}
	s.Roles[fn].AddToPolicy(awsiam.NewPolicyStatement(props))
}

// viaService limits a KMS permission to calls made through one service.
func viaService(svc string) map[string]any {
	return map[string]any{"StringEquals": map[string]any{
		"kms:ViaService": fmt.Sprintf("%s.%s.amazonaws.com", svc, *awscdk.Aws_REGION()),
	}}
}

// s3Objects grants actions on keys matching pattern ("*/jobs/*" is
// "<org_id>/jobs/..."), plus the KMS use SSE-KMS needs, through S3 only.
func (s *Stack) s3Objects(fn, sid string, b awss3.Bucket, pattern string, actions ...string) {
	s.allow(fn, sid, actions, []string{*b.ArnForObjects(jsii.String(pattern))}, nil)
	var kms []string
	for _, a := range actions {
		switch a {
		case "s3:PutObject":
			kms = append(kms, "kms:GenerateDataKey")
		case "s3:GetObject":
			kms = append(kms, "kms:Decrypt")
		}
	}
	if len(kms) > 0 {
		s.allow(fn, sid+"Kms", kms, []string{*s.Key.KeyArn()}, viaService("s3"))
	}
}

// sendTo lets fn send to q (SSE-KMS queues need the key to encrypt).
func (s *Stack) sendTo(fn string, q stack.Queue) {
	s.allow(fn, "SendTo"+string(q), []string{"sqs:SendMessage"}, []string{*s.Queues[q].QueueArn()}, nil)
	s.allow(fn, "SendTo"+string(q)+"Kms", []string{"kms:GenerateDataKey", "kms:Decrypt"}, []string{*s.Key.KeyArn()}, viaService("sqs"))
}

// jwtKeys grants actions on the KMS signing keys of this stage (RS256/ES256).
func (s *Stack) jwtKeys(fn, sid string, actions ...string) {
	s.allow(fn, sid, actions,
		[]string{fmt.Sprintf("arn:%s:kms:%s:%s:key/*", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID())},
		map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/" + jwtKeyTag: s.Cfg.Stage}})
}

func (s *Stack) asymmetricJWT() bool { return s.Cfg.JWTAlg != "HS256" }

// grantAll gives each function what it uses and nothing else.
func (s *Stack) grantAll() {
	fns := func(names ...string) []string { return names }
	// Database credentials.
	for _, f := range stack.Functions {
		if f.Needs.DB {
			s.DBAppSecret.GrantRead(s.Roles[f.Name], nil)
		}
		if f.Needs.DBAdmin {
			s.DBAdminSecret.GrantRead(s.Roles[f.Name], nil)
			s.DBAppSecret.GrantRead(s.Roles[f.Name], nil)
		}
		if f.Needs.Root {
			s.RootSecret.GrantRead(s.Roles[f.Name], nil)
		}
	}

	// Tokens. The authorizer verifies and auth signs, both with the key
	// in the secret (HS256) or with the KMS keys the secret lists.
	for _, fn := range fns(routes.FnAuthorizer, routes.FnAuth) {
		s.JWTSecret.GrantRead(s.Roles[fn], nil)
	}
	if s.asymmetricJWT() {
		s.jwtKeys(routes.FnAuthorizer, "VerifyWithJwtKeys", "kms:GetPublicKey", "kms:DescribeKey")
		s.jwtKeys(routes.FnAuth, "SignWithJwtKeys", "kms:Sign", "kms:DescribeKey")
		// health publishes the JWKS: the public halves only.
		s.JWTSecret.GrantRead(s.Roles[routes.FnHealth], nil)
		s.jwtKeys(routes.FnHealth, "PublishJwks", "kms:GetPublicKey", "kms:DescribeKey")
	} else {
		// HS256: readiness only checks the secret exists; health must not
		// be able to read an HMAC key it could forge tokens with.
		s.allow(routes.FnHealth, "JwtSecretReadiness", []string{"secretsmanager:DescribeSecret"}, []string{*s.JWTSecret.SecretArn()}, nil)
	}

	// health: readiness of storage and queues, nothing else.
	s.allow(routes.FnHealth, "StorageReadiness", []string{"s3:ListBucket"}, []string{*s.Artifacts.BucketArn()}, nil)
	s.allow(routes.FnHealth, "QueueReadiness", []string{"sqs:GetQueueAttributes"},
		[]string{*s.Queues[stack.QueueJobs].QueueArn(), *s.Queues[stack.QueueUploads].QueueArn()}, nil)

	// molecules: writes molecule content, presigns GETs of it and PUTs
	// into the uploads bucket (a presigned URL acts with the signer's role).
	s.s3Objects(routes.FnMolecules, "MoleculeObjects", s.Artifacts, "*/molecules/*", "s3:PutObject", "s3:GetObject", "s3:DeleteObject")
	s.s3Objects(routes.FnMolecules, "PresignUploads", s.Uploads, "*/uploads/*", "s3:PutObject")

	// jobs: enqueues jobs and presigns GETs of artifacts and molecules.
	s.sendTo(routes.FnJobs, stack.QueueJobs)
	s.s3Objects(routes.FnJobs, "ReadJobArtifacts", s.Artifacts, "*/jobs/*", "s3:GetObject")
	s.s3Objects(routes.FnJobs, "ReadMolecules", s.Artifacts, "*/molecules/*", "s3:GetObject")

	// engine: the only writer of job artifacts; reads its inputs.
	s.s3Objects(routes.FnEngine, "WriteJobArtifacts", s.Artifacts, "*/jobs/*", "s3:PutObject")
	s.s3Objects(routes.FnEngine, "ReadInputs", s.Artifacts, "*/molecules/*", "s3:GetObject")

	// ingest: moves an upload into the artifacts bucket and may enqueue a job.
	s.s3Objects(routes.FnIngest, "ConsumeUploads", s.Uploads, "*/uploads/*", "s3:GetObject", "s3:DeleteObject")
	s.s3Objects(routes.FnIngest, "RegisterMolecules", s.Artifacts, "*/molecules/*", "s3:PutObject")
	s.sendTo(routes.FnIngest, stack.QueueJobs)

	// sweeper re-enqueues stuck jobs.
	s.sendTo(routes.FnSweeper, stack.QueueJobs)

	s.notifyUploads()

	// rotate: Secrets Manager rotation of the JWT secret. The schedule
	// grants the rotation actions on this secret (and invoke to the
	// service) itself.
	rotate := s.Functions[routes.FnRotate]
	s.JWTSecret.AddRotationSchedule(jsii.String("Rotation"), &awssecretsmanager.RotationScheduleOptions{
		RotationLambda:     rotate,
		AutomaticallyAfter: awscdk.Duration_Days(jsii.Number(float64(s.Cfg.JWTRotationDays))),
		// HS256 starts with a generated key; RS256/ES256 need the first
		// KMS key created right away.
		RotateImmediatelyOnUpdate: jsii.Bool(s.asymmetricJWT()),
	})
	if s.asymmetricJWT() {
		spec := "RSA_2048"
		if s.Cfg.JWTAlg == "ES256" {
			spec = "ECC_NIST_P256"
		}
		// AWS requires "*" for kms:CreateKey: the key has no ARN before it
		// exists. The conditions only allow signing keys of the expected
		// spec, tagged for this stage.
		s.allow(routes.FnRotate, "CreateJwtSigningKeys", []string{"kms:CreateKey"}, []string{"*"}, map[string]any{
			"StringEquals": map[string]any{
				"aws:RequestTag/" + jwtKeyTag: s.Cfg.Stage,
				"kms:KeySpec":                 spec,
				"kms:KeyUsage":                "SIGN_VERIFY",
			},
		})
		s.allow(routes.FnRotate, "TagJwtSigningKeys", []string{"kms:TagResource"},
			[]string{fmt.Sprintf("arn:%s:kms:%s:%s:key/*", *awscdk.Aws_PARTITION(), *awscdk.Aws_REGION(), *awscdk.Aws_ACCOUNT_ID())},
			map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + jwtKeyTag: s.Cfg.Stage}})
		s.jwtKeys(routes.FnRotate, "UseJwtSigningKeys", "kms:GetPublicKey", "kms:Sign", "kms:DescribeKey")
	}
}

// notifyUploads makes the uploads bucket send ObjectCreated events to the
// uploads queue with CloudFormation's own NotificationConfiguration. CDK's
// addEventNotification would reference the bucket from the key policy
// (the queue is SSE-KMS) while the bucket references the key: a cycle. Here
// the queue policy names the bucket by its ARN string, which breaks it and
// needs no custom resource.
func (s *Stack) notifyUploads() {
	q := s.Queues[stack.QueueUploads]
	bucketArn := fmt.Sprintf("arn:%s:s3:::%s", *awscdk.Aws_PARTITION(), s.Names.UploadsBucket())
	q.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("UploadsBucketNotifies"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("s3.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sqs:SendMessage"),
		Resources:  jsii.Strings(*q.QueueArn()),
		Conditions: &map[string]any{
			"ArnLike":      map[string]any{"aws:SourceArn": bucketArn},
			"StringEquals": map[string]any{"aws:SourceAccount": *awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	// S3 encrypts the message with the queue's key (AWS's documented key
	// policy statement for S3 event notifications to an SSE-KMS queue).
	s.Key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("S3NotifiesEncryptedUploadsQueue"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("s3.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
		Resources:  jsii.Strings("*"),
	}), jsii.Bool(false))
	bucket := s.Uploads.Node().DefaultChild().(awss3.CfnBucket)
	bucket.SetNotificationConfiguration(&awss3.CfnBucket_NotificationConfigurationProperty{
		QueueConfigurations: &[]any{&awss3.CfnBucket_QueueConfigurationProperty{
			Event: jsii.String("s3:ObjectCreated:*"),
			Queue: q.QueueArn(),
		}},
	})
	// S3 checks the queue policy when the configuration is created.
	bucket.Node().AddDependency(q.Node().FindChild(jsii.String("Policy")))
}

// wireTriggers runs migrate once per deploy (and whenever its code, which
// embeds the migrations, changes) after the database is available and
// before the functions that need the schema are updated.
func (s *Stack) wireTriggers() {
	migrate := s.Functions[routes.FnMigrate]
	var before []constructs.Construct
	for _, f := range sortedFunctions() {
		if f.Needs.DB && f.Kind != stack.KindTrigger {
			before = append(before, s.Functions[f.Name])
		}
	}
	after := s.dbReady
	triggers.NewTrigger(s.St, jsii.String("MigrateTrigger"), &triggers.TriggerProps{
		Handler:                migrate,
		ExecuteAfter:           &after,
		ExecuteBefore:          &before,
		ExecuteOnHandlerChange: jsii.Bool(true),
		InvocationType:         triggers.InvocationType_REQUEST_RESPONSE,
		Timeout:                awscdk.Duration_Seconds(jsii.Number(float64(s.Cfg.FunctionTimeout(mustFunction(routes.FnMigrate))))),
	})
}

func mustFunction(name string) stack.Function {
	f, ok := stack.FunctionByName(name)
	if !ok {
		panic("unknown function " + name)
	}
	return f
}
