package cdkstack

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mad-bio/mad/shared/stack"
)

// postgresPort is the port clients, the proxy and the instance use.
const postgresPort = 5432

// buildSecrets creates the JWT signing secret and the bootstrap root
// user's secret. Database secrets come with the database.
func (s *Stack) buildSecrets() {
	tmpl, _ := json.Marshal(map[string]string{"alg": s.Cfg.JWTAlg})
	// HS256: {"alg":"HS256","k":"<64 alphanumerics>"}, the HMAC key itself.
	// RS256/ES256: the rotate function replaces the value with the key
	// set of KMS signing keys at the first rotation, right after creation.
	s.JWTSecret = awssecretsmanager.NewSecret(s.St, jsii.String("JwtSigningSecret"), &awssecretsmanager.SecretProps{
		SecretName:    jsii.String(s.Names.JWTSecret()),
		Description:   jsii.String("MAD JWT signing key (rotated by the rotate function)"),
		EncryptionKey: s.Key,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(string(tmpl)),
			GenerateStringKey:    jsii.String("k"),
			PasswordLength:       jsii.Number(64),
			ExcludePunctuation:   jsii.Bool(true),
			IncludeSpace:         jsii.Bool(false),
		},
		RemovalPolicy: s.retainInProd(),
	})

	root, _ := json.Marshal(map[string]string{"email": s.Cfg.RootEmail})
	s.RootSecret = awssecretsmanager.NewSecret(s.St, jsii.String("RootUserSecret"), &awssecretsmanager.SecretProps{
		SecretName:    jsii.String(s.Names.RootSecret()),
		Description:   jsii.String("MAD bootstrap root user, created once by the migrate function"),
		EncryptionKey: s.Key,
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(string(root)),
			GenerateStringKey:    jsii.String("password"),
			PasswordLength:       jsii.Number(32),
			ExcludePunctuation:   jsii.Bool(true),
			IncludeSpace:         jsii.Bool(false),
		},
		RemovalPolicy: s.retainInProd(),
	})

	if s.Cfg.ExternalDB() {
		s.DBAppSecret = importSecret(s.St, "ExternalDbAppSecret", s.Cfg.ExternalDBSecretARN)
		s.DBAdminSecret = importSecret(s.St, "ExternalDbAdminSecret", s.Cfg.ExternalDBAdminSecretARN)
	}
}

var completeSecretARN = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

func importSecret(scope constructs.Construct, id, arn string) awssecretsmanager.ISecret {
	attrs := &awssecretsmanager.SecretAttributes{}
	if completeSecretARN.MatchString(arn) {
		attrs.SecretCompleteArn = jsii.String(arn)
	} else {
		attrs.SecretPartialArn = jsii.String(arn)
	}
	return awssecretsmanager.Secret_FromSecretAttributes(scope, jsii.String(id), attrs)
}

// buildNetwork creates the VPC: isolated subnets only (no NAT, no
// internet gateway) and VPC endpoints for the services the functions call.
func (s *Stack) buildNetwork() {
	s.Vpc = awsec2.NewVpc(s.St, jsii.String("Vpc"), &awsec2.VpcProps{
		MaxAzs:      jsii.Number(2),
		NatGateways: jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{
			Name:       jsii.String("isolated"),
			SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED,
			CidrMask:   jsii.Number(24),
		}},
		RestrictDefaultSecurityGroup: jsii.Bool(true),
	})
	flow := s.logGroup("VpcFlowLogs", fmt.Sprintf("/mad/%s/vpc-flow-logs", s.Cfg.Stage))
	s.Vpc.AddFlowLog(jsii.String("FlowLog"), &awsec2.FlowLogOptions{
		Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flow, nil),
		TrafficType: awsec2.FlowLogTrafficType_ALL,
	})
	isolated := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}

	s3ep := s.Vpc.AddGatewayEndpoint(jsii.String("S3Endpoint"), &awsec2.GatewayVpcEndpointOptions{
		Service: awsec2.GatewayVpcEndpointAwsService_S3(),
		Subnets: &[]*awsec2.SubnetSelection{isolated},
	})
	// The VPC reaches S3 only for the stack's two data buckets.
	s3ep.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("OnlyTheStacksDataBuckets"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"),
		Resources: jsii.Strings(
			*s.Artifacts.BucketArn(), *s.Artifacts.ArnForObjects(jsii.String("*")),
			*s.Uploads.BucketArn(), *s.Uploads.ArnForObjects(jsii.String("*")),
		),
	}))
	sg := func(id, desc string) awsec2.SecurityGroup {
		g := awsec2.NewSecurityGroup(s.St, jsii.String(id), &awsec2.SecurityGroupProps{
			Vpc:              s.Vpc,
			Description:      jsii.String(desc),
			AllowAllOutbound: jsii.Bool(false),
		})
		// Isolated subnets route nowhere but the VPC, so HTTPS can only
		// reach the VPC endpoints (and S3 through its gateway endpoint,
		// whose prefix list is region-specific).
		g.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to VPC endpoints"), jsii.Bool(false))
		return g
	}
	s.functionSG = sg("FunctionsSecurityGroup", "MAD functions: HTTPS to endpoints, Postgres to the RDS Proxy")
	s.migrateSG = sg("MigrateSecurityGroup", "MAD migrate function: Postgres to the instance")
	s.rotSG = sg("DbRotationSecurityGroup", "MAD database secret rotation: Postgres to the instance")

	for _, ep := range []struct {
		id  string
		svc awsec2.InterfaceVpcEndpointAwsService
	}{
		{"SqsEndpoint", awsec2.InterfaceVpcEndpointAwsService_SQS()},
		{"SecretsManagerEndpoint", awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER()},
		{"KmsEndpoint", awsec2.InterfaceVpcEndpointAwsService_KMS()},
		{"LogsEndpoint", awsec2.InterfaceVpcEndpointAwsService_CLOUDWATCH_LOGS()},
	} {
		e := s.Vpc.AddInterfaceEndpoint(jsii.String(ep.id), &awsec2.InterfaceVpcEndpointOptions{
			Service:           ep.svc,
			PrivateDnsEnabled: jsii.Bool(true),
			Subnets:           isolated,
			Open:              jsii.Bool(false),
		})
		for _, g := range []awsec2.SecurityGroup{s.functionSG, s.migrateSG, s.rotSG} {
			e.Connections().AllowDefaultPortFrom(g, jsii.String("HTTPS from MAD functions"))
		}
	}
}

// buildDatabase creates the RDS PostgreSQL instance, its secrets with
// rotation, and the RDS Proxy the functions connect through.
func (s *Stack) buildDatabase() {
	isolated := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	dbSG := awsec2.NewSecurityGroup(s.St, jsii.String("DatabaseSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: s.Vpc, Description: jsii.String("MAD Postgres instance"), AllowAllOutbound: jsii.Bool(false),
	})
	proxySG := awsec2.NewSecurityGroup(s.St, jsii.String("DbProxySecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: s.Vpc, Description: jsii.String("MAD RDS Proxy"), AllowAllOutbound: jsii.Bool(false),
	})
	// A full version: RDS (and cfn-lint W3691) no longer take a bare "16"
	// for new instances. Minor upgrades then apply automatically.
	engine := awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{Version: awsrds.PostgresEngineVersion_VER_16_13()})
	params := awsrds.NewParameterGroup(s.St, jsii.String("DbParameters"), &awsrds.ParameterGroupProps{
		Engine:      engine,
		Description: jsii.String("MAD Postgres parameters"),
		Parameters: &map[string]*string{
			"rds.force_ssl":              jsii.String("1"),
			"log_min_duration_statement": jsii.String("1000"),
			"log_lock_waits":             jsii.String("1"),
		},
	})
	backupDays := 7.0
	if s.prod() {
		backupDays = 30
	}
	removal := awscdk.RemovalPolicy_SNAPSHOT
	if s.prod() {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	// RDS writes exported logs to these groups when they exist: created
	// here, they are KMS-encrypted and keep the stage's retention without
	// CDK's log-retention custom resource.
	identifier := fmt.Sprintf("mad-%s", s.Cfg.Stage)
	var dbLogs []constructs.IDependable
	for _, l := range []string{"postgresql", "upgrade"} {
		dbLogs = append(dbLogs, s.logGroup("DbLogs"+l, fmt.Sprintf("/aws/rds/instance/%s/%s", identifier, l)))
	}
	s.DB = awsrds.NewDatabaseInstance(s.St, jsii.String("Database"), &awsrds.DatabaseInstanceProps{
		Engine:       engine,
		InstanceType: awsec2.NewInstanceType(jsii.String(s.Cfg.DBInstanceType)),
		Vpc:          s.Vpc,
		VpcSubnets:   isolated,
		Credentials: awsrds.Credentials_FromGeneratedSecret(jsii.String("mad_owner"), &awsrds.CredentialsBaseOptions{
			SecretName:    jsii.String(s.Names.DBAdminSecret()),
			EncryptionKey: s.Key,
		}),
		DatabaseName:             jsii.String(stack.DatabaseName),
		Port:                     jsii.Number(postgresPort),
		SecurityGroups:           &[]awsec2.ISecurityGroup{dbSG},
		ParameterGroup:           params,
		StorageEncrypted:         jsii.Bool(true),
		StorageEncryptionKey:     s.Key,
		StorageType:              awsrds.StorageType_GP3,
		AllocatedStorage:         jsii.Number(20),
		MaxAllocatedStorage:      jsii.Number(200),
		MultiAz:                  jsii.Bool(s.prod()),
		PubliclyAccessible:       jsii.Bool(false),
		BackupRetention:          awscdk.Duration_Days(jsii.Number(backupDays)),
		DeleteAutomatedBackups:   jsii.Bool(!s.prod()),
		DeletionProtection:       jsii.Bool(s.prod()),
		RemovalPolicy:            removal,
		AutoMinorVersionUpgrade:  jsii.Bool(true),
		AllowMajorVersionUpgrade: jsii.Bool(false),
		CopyTagsToSnapshot:       jsii.Bool(true),
		CaCertificate:            awsrds.CaCertificate_RDS_CA_RSA2048_G1(),
		CloudwatchLogsExports:    jsii.Strings("postgresql", "upgrade"),
		InstanceIdentifier:       jsii.String(identifier),
	})
	for _, d := range dbLogs {
		s.DB.Node().AddDependency(d)
	}
	admin := s.DB.Secret()
	s.DBAdminSecret = admin

	// The application's login user (stack.AppDBUser, a member of the
	// NOLOGIN role stack.AppDBRole) is created by the migrate function
	// with this secret's first password; afterwards alternating-users
	// rotation clones it, so a rotation never breaks live connections.
	app := awsrds.NewDatabaseSecret(s.St, jsii.String("DbAppSecret"), &awsrds.DatabaseSecretProps{
		Username:      jsii.String(stack.AppDBUser),
		SecretName:    jsii.String(s.Names.DBAppSecret()),
		EncryptionKey: s.Key,
		MasterSecret:  admin,
		Dbname:        jsii.String(stack.DatabaseName),
	})
	s.DBAppSecret = app.Attach(s.DB)
	s.dbReady = append(s.dbReady, s.DB)
	if c, ok := s.DBAppSecret.(constructs.Construct); ok {
		// The attachment adds host and port to the app secret.
		s.dbReady = append(s.dbReady, c)
	}

	// Neither secret rotates at creation: the app user only exists once
	// the migrate trigger has run, and the owner's password must not
	// change under a running migration.
	rotationEvery := awscdk.Duration_Days(jsii.Number(float64(s.Cfg.DBRotationDays)))
	s.DBAppSecret.AddRotationSchedule(jsii.String("Rotation"), &awssecretsmanager.RotationScheduleOptions{
		HostedRotation: awssecretsmanager.HostedRotation_PostgreSqlMultiUser(&awssecretsmanager.MultiUserHostedRotationOptions{
			MasterSecret:   admin,
			FunctionName:   jsii.String(fmt.Sprintf("mad-%s-db-app-rotation", s.Cfg.Stage)),
			Vpc:            s.Vpc,
			VpcSubnets:     isolated,
			SecurityGroups: &[]awsec2.ISecurityGroup{s.rotSG},
		}),
		AutomaticallyAfter:        rotationEvery,
		RotateImmediatelyOnUpdate: jsii.Bool(false),
	})
	admin.AddRotationSchedule(jsii.String("Rotation"), &awssecretsmanager.RotationScheduleOptions{
		HostedRotation: awssecretsmanager.HostedRotation_PostgreSqlSingleUser(&awssecretsmanager.SingleUserHostedRotationOptions{
			FunctionName:   jsii.String(fmt.Sprintf("mad-%s-db-owner-rotation", s.Cfg.Stage)),
			Vpc:            s.Vpc,
			VpcSubnets:     isolated,
			SecurityGroups: &[]awsec2.ISecurityGroup{s.rotSG},
		}),
		AutomaticallyAfter:        rotationEvery,
		RotateImmediatelyOnUpdate: jsii.Bool(false),
	})

	s.Proxy = awsrds.NewDatabaseProxy(s.St, jsii.String("DbProxy"), &awsrds.DatabaseProxyProps{
		ProxyTarget:       awsrds.ProxyTarget_FromInstance(s.DB),
		Secrets:           &[]awssecretsmanager.ISecret{s.DBAppSecret},
		Vpc:               s.Vpc,
		VpcSubnets:        isolated,
		SecurityGroups:    &[]awsec2.ISecurityGroup{proxySG},
		DbProxyName:       jsii.String(fmt.Sprintf("mad-%s", s.Cfg.Stage)),
		RequireTLS:        jsii.Bool(true),
		IamAuth:           jsii.Bool(false),
		DebugLogging:      jsii.Bool(false),
		IdleClientTimeout: awscdk.Duration_Minutes(jsii.Number(30)),
	})
	s.dbReady = append(s.dbReady, s.Proxy)

	pg := awsec2.Port_Tcp(jsii.Number(postgresPort))
	proxySG.Connections().AllowFrom(s.functionSG, pg, jsii.String("functions to the proxy"))
	dbSG.Connections().AllowFrom(proxySG, pg, jsii.String("proxy to the instance"))
	dbSG.Connections().AllowFrom(s.migrateSG, pg, jsii.String("migrate function to the instance"))
	dbSG.Connections().AllowFrom(s.rotSG, pg, jsii.String("secret rotation to the instance"))
}
