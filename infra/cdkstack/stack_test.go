package cdkstack_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/stack"
)

func TestEverySQSEventSourceHasBatchSizeOne(t *testing.T) {
	s := devStack.get(t)
	s.assert(t).AllResourcesProperties(jsii.String("AWS::Lambda::EventSourceMapping"),
		assertions.Match_ObjectLike(&map[string]any{"BatchSize": 1}))
	want := 0
	for _, f := range stack.Functions {
		if f.Kind == stack.KindQueue {
			want++
		}
	}
	s.assert(t).ResourceCountIs(jsii.String("AWS::Lambda::EventSourceMapping"), jsii.Number(float64(want)))
}

func TestSQSEventSourcesReportBatchItemFailuresWithMaxConcurrency(t *testing.T) {
	s := devStack.get(t)
	names := s.functionNames()
	for id, r := range s.resources("AWS::Lambda::EventSourceMapping") {
		p := props(r)
		fn, ok := names[refTo(p["FunctionName"])]
		if !ok {
			t.Fatalf("%s: event source of an unknown function %v", id, p["FunctionName"])
		}
		f, _ := stack.FunctionByName(fn)
		if got := fmt.Sprint(p["FunctionResponseTypes"]); got != "[ReportBatchItemFailures]" {
			t.Errorf("%s: FunctionResponseTypes = %s, want [ReportBatchItemFailures]", fn, got)
		}
		sc, _ := p["ScalingConfig"].(map[string]any)
		if num(sc["MaximumConcurrency"]) != float64(f.MaxConcurrency) {
			t.Errorf("%s: MaximumConcurrency = %v, want %d from the function table", fn, sc["MaximumConcurrency"], f.MaxConcurrency)
		}
	}
}

func TestVisibilityTimeoutIsAtLeastSixTimesTheConsumerTimeout(t *testing.T) {
	for _, v := range []*variant{devStack, prodStack} {
		s := v.get(t)
		queues := s.resources("AWS::SQS::Queue")
		fns := s.resources("AWS::Lambda::Function")
		checked := 0
		for id, r := range s.resources("AWS::Lambda::EventSourceMapping") {
			p := props(r)
			q, ok := queues[refTo(p["EventSourceArn"])]
			if !ok {
				t.Fatalf("%s: source %v is not a queue of the stack", id, p["EventSourceArn"])
			}
			fn := fns[refTo(p["FunctionName"])]
			vis, timeout := num(props(q)["VisibilityTimeout"]), num(props(fn)["Timeout"])
			if timeout <= 0 || vis < stack.VisibilityTimeoutFactor*timeout {
				t.Errorf("%s: queue %s visibility %v s < %d x function timeout %v s",
					s.stack.Cfg.Stage, refTo(p["EventSourceArn"]), vis, stack.VisibilityTimeoutFactor, timeout)
			}
			checked++
		}
		if checked != 3 {
			t.Errorf("checked %d consumed queues, want 3 (jobs, uploads, jobs DLQ)", checked)
		}
	}
}

func TestQueuesRedriveToTheirDLQsAfterFiveReceives(t *testing.T) {
	s := devStack.get(t)
	for _, c := range []struct{ queue, dlq string }{
		{s.logicalID(s.stack.Queues[stack.QueueJobs]), s.logicalID(s.stack.Queues[stack.QueueJobsDLQ])},
		{s.logicalID(s.stack.Queues[stack.QueueUploads]), s.logicalID(s.stack.UploadsDLQ)},
	} {
		p := props(s.resources("AWS::SQS::Queue")[c.queue])
		rp, _ := p["RedrivePolicy"].(map[string]any)
		if num(rp["maxReceiveCount"]) != stack.JobsMaxReceiveCount {
			t.Errorf("%s: maxReceiveCount = %v, want %d", c.queue, rp["maxReceiveCount"], stack.JobsMaxReceiveCount)
		}
		if refTo(rp["deadLetterTargetArn"]) != c.dlq {
			t.Errorf("%s: dead-letter target %v, want %s", c.queue, rp["deadLetterTargetArn"], c.dlq)
		}
	}
}

func TestQueuesUseTheStackKeyAndRequireTLS(t *testing.T) {
	s := devStack.get(t)
	key := s.logicalID(s.stack.Key)
	for id, q := range s.resources("AWS::SQS::Queue") {
		if refTo(props(q)["KmsMasterKeyId"]) != key {
			t.Errorf("%s: KmsMasterKeyId = %v, want the stack key", id, props(q)["KmsMasterKeyId"])
		}
		s.assert(t).HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), assertions.Match_ObjectLike(&map[string]any{
			"Queues": assertions.Match_ArrayWith(&[]any{map[string]any{"Ref": id}}),
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}}),
			})}),
		}))
	}
}

func TestDataBucketsUseSSEKMSWithTheStackKey(t *testing.T) {
	s := devStack.get(t)
	key := s.logicalID(s.stack.Key)
	for _, b := range []string{s.logicalID(s.stack.Artifacts), s.logicalID(s.stack.Uploads)} {
		s.assert(t).HasResource(jsii.String("AWS::S3::Bucket"), &map[string]any{
			"Properties": assertions.Match_ObjectLike(&map[string]any{
				"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{map[string]any{
					"BucketKeyEnabled": true,
					"ServerSideEncryptionByDefault": map[string]any{
						"SSEAlgorithm":   "aws:kms",
						"KMSMasterKeyID": map[string]any{"Fn::GetAtt": []any{key, "Arn"}},
					},
				}}},
				"PublicAccessBlockConfiguration": map[string]any{
					"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
				},
				"VersioningConfiguration": map[string]any{"Status": "Enabled"},
				"LoggingConfiguration":    assertions.Match_ObjectLike(&map[string]any{"DestinationBucketName": map[string]any{"Ref": s.logicalID(s.stack.LogsBkt)}}),
			}),
		})
		if _, ok := s.resources("AWS::S3::Bucket")[b]; !ok {
			t.Fatalf("bucket %s missing", b)
		}
	}
	s.assert(t).HasResourceProperties(jsii.String("AWS::KMS::Key"), &map[string]any{"EnableKeyRotation": true})
}

// bucketPolicyHas asserts a statement in the policy of each data bucket.
func bucketPolicyHas(t *testing.T, s *synthesized, stmt map[string]any) {
	t.Helper()
	for _, b := range []string{s.logicalID(s.stack.Artifacts), s.logicalID(s.stack.Uploads)} {
		s.assert(t).HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), assertions.Match_ObjectLike(&map[string]any{
			"Bucket": map[string]any{"Ref": b},
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&stmt)}),
			}),
		}))
	}
}

func TestBucketPoliciesDenyPutWithoutSSEKMS(t *testing.T) {
	s := devStack.get(t)
	bucketPolicyHas(t, s, map[string]any{
		"Effect": "Deny", "Principal": map[string]any{"AWS": "*"}, "Action": "s3:PutObject",
		"Condition": map[string]any{"StringNotEquals": map[string]any{"s3:x-amz-server-side-encryption": "aws:kms"}},
	})
}

func TestBucketPoliciesDenyPutWithAnotherKMSKey(t *testing.T) {
	s := devStack.get(t)
	bucketPolicyHas(t, s, map[string]any{
		"Effect": "Deny", "Principal": map[string]any{"AWS": "*"}, "Action": "s3:PutObject",
		"Condition": map[string]any{"StringNotEqualsIfExists": map[string]any{
			"s3:x-amz-server-side-encryption-aws-kms-key-id": map[string]any{"Fn::GetAtt": []any{s.logicalID(s.stack.Key), "Arn"}},
		}},
	})
}

func TestUploadsBucketExpiresStaleUploadsAndNotifiesTheUploadsQueue(t *testing.T) {
	s := devStack.get(t)
	p := props(s.resources("AWS::S3::Bucket")[s.logicalID(s.stack.Uploads)])
	rules := fmt.Sprint(p["LifecycleConfiguration"])
	for _, want := range []string{"ExpirationInDays:1", "AbortIncompleteMultipartUpload:map[DaysAfterInitiation:1]"} {
		if !strings.Contains(rules, want) {
			t.Errorf("uploads lifecycle %s lacks %s", rules, want)
		}
	}
	qc := asList(p["NotificationConfiguration"].(map[string]any)["QueueConfigurations"])
	if len(qc) != 1 || refTo(qc[0].(map[string]any)["Queue"]) != s.logicalID(s.stack.Queues[stack.QueueUploads]) ||
		qc[0].(map[string]any)["Event"] != "s3:ObjectCreated:*" {
		t.Errorf("uploads notifications = %v, want ObjectCreated to the uploads queue", qc)
	}
	if _, ok := p["CorsConfiguration"]; ok {
		t.Errorf("dev stack without corsOrigins has a CORS rule")
	}
	pp := props(prodStack.get(t).resources("AWS::S3::Bucket")[prodStack.get(t).logicalID(prodStack.get(t).stack.Uploads)])
	if got := fmt.Sprint(pp["CorsConfiguration"]); !strings.Contains(got, "https://app.example.com") || !strings.Contains(got, "PUT") {
		t.Errorf("prod uploads CORS = %s, want PUT from https://app.example.com", got)
	}
}

func TestArtifactsBucketExpiresNoncurrentVersions(t *testing.T) {
	s := devStack.get(t)
	p := props(s.resources("AWS::S3::Bucket")[s.logicalID(s.stack.Artifacts)])
	if got := fmt.Sprint(p["LifecycleConfiguration"]); !strings.Contains(got, "NoncurrentDays:30") {
		t.Errorf("artifacts lifecycle %s lacks noncurrent-version expiration", got)
	}
}

// routeByKey returns the template's route resources by route key.
func routeByKey(t *testing.T, s *synthesized) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for id, r := range s.resources("AWS::ApiGatewayV2::Route") {
		k := props(r)["RouteKey"].(string)
		if _, dup := out[k]; dup {
			t.Errorf("route key %s defined twice (%s)", k, id)
		}
		out[k] = props(r)
	}
	return out
}

func TestAuthorizerGuardsEveryNonPublicRoute(t *testing.T) {
	s := devStack.get(t)
	authorizers := s.resources("AWS::ApiGatewayV2::Authorizer")
	if len(authorizers) != 1 {
		t.Fatalf("%d authorizers, want 1", len(authorizers))
	}
	var authID string
	for id := range authorizers {
		authID = id
	}
	got := routeByKey(t, s)
	for _, r := range routes.Table {
		if r.Public {
			continue
		}
		p, ok := got[r.Key()]
		if !ok {
			t.Errorf("route %s of routes.Table is not in the API", r.Key())
			continue
		}
		if p["AuthorizationType"] != "CUSTOM" || refTo(p["AuthorizerId"]) != authID {
			t.Errorf("route %s: AuthorizationType %v, AuthorizerId %v; want CUSTOM with the JWT authorizer", r.Key(), p["AuthorizationType"], p["AuthorizerId"])
		}
	}
}

func TestNoAuthorizerOnPublicRoutesOrDefault(t *testing.T) {
	s := devStack.get(t)
	got := routeByKey(t, s)
	keys := []string{routes.DefaultRouteKey}
	for _, r := range routes.Table {
		if r.Public {
			keys = append(keys, r.Key())
		}
	}
	for _, k := range keys {
		p, ok := got[k]
		if !ok {
			t.Errorf("public route %s is not in the API", k)
			continue
		}
		if at, _ := p["AuthorizationType"].(string); (at != "" && at != "NONE") || p["AuthorizerId"] != nil {
			t.Errorf("public route %s has authorization %v %v", k, p["AuthorizationType"], p["AuthorizerId"])
		}
	}
}

func TestEveryRouteReachesTheFunctionOfTheTable(t *testing.T) {
	s := devStack.get(t)
	integrations := s.resources("AWS::ApiGatewayV2::Integration")
	names := s.functionNames()
	target := func(p map[string]any) string {
		// Target: {"Fn::Join": ["", ["integrations/", {"Ref": id}]]}
		j := p["Target"].(map[string]any)["Fn::Join"].([]any)[1].([]any)
		integ := integrations[refTo(j[1])]
		return names[refTo(props(integ)["IntegrationUri"])]
	}
	got := routeByKey(t, s)
	if len(got) != len(routes.Table)+1 {
		t.Errorf("%d routes, want %d (the table plus $default)", len(got), len(routes.Table)+1)
	}
	for _, r := range routes.Table {
		if p, ok := got[r.Key()]; ok && target(p) != r.Function {
			t.Errorf("route %s reaches %s, want %s", r.Key(), target(p), r.Function)
		}
	}
	if fn := target(got[routes.DefaultRouteKey]); fn != routes.FnHealth {
		t.Errorf("$default reaches %s, want %s", fn, routes.FnHealth)
	}
	for id, i := range integrations {
		if props(i)["PayloadFormatVersion"] != "2.0" {
			t.Errorf("integration %s: payload format %v, want 2.0", id, props(i)["PayloadFormatVersion"])
		}
	}
}

func TestAuthorizerUsesSimpleResponsesTheAuthorizationHeaderAndTheCacheTTL(t *testing.T) {
	s := devStack.get(t)
	s.assert(t).HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Authorizer"), &map[string]any{
		"AuthorizerType":                 "REQUEST",
		"AuthorizerPayloadFormatVersion": "2.0",
		"EnableSimpleResponses":          true,
		"IdentitySource":                 []any{"$request.header.Authorization"},
		"AuthorizerResultTtlInSeconds":   30,
	})
}

func TestStageThrottlesAndWritesJSONAccessLogs(t *testing.T) {
	s := devStack.get(t)
	stages := s.resources("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("%d stages, want 1", len(stages))
	}
	for _, st := range stages {
		p := props(st)
		rs := p["DefaultRouteSettings"].(map[string]any)
		if num(rs["ThrottlingRateLimit"]) != 100 || num(rs["ThrottlingBurstLimit"]) != 200 {
			t.Errorf("throttling %v, want rate 100 burst 200", rs)
		}
		als := p["AccessLogSettings"].(map[string]any)
		var format map[string]string
		if err := json.Unmarshal([]byte(als["Format"].(string)), &format); err != nil {
			t.Fatalf("access log format is not JSON: %v", err)
		}
		for k, want := range map[string]string{"requestId": "$context.requestId", "routeKey": "$context.routeKey", "status": "$context.status",
			"latency": "$context.responseLatency", "orgId": "$context.authorizer.org_id", "sub": "$context.authorizer.sub"} {
			if format[k] != want {
				t.Errorf("access log field %s = %q, want %q", k, format[k], want)
			}
		}
		lg := s.resources("AWS::Logs::LogGroup")[refTo(als["DestinationArn"])]
		if lg == nil || props(lg)["KmsKeyId"] == nil || props(lg)["RetentionInDays"] == nil {
			t.Errorf("access log group %v must be KMS-encrypted with a retention", als["DestinationArn"])
		}
	}
}

func TestEngineIsAContainerImage(t *testing.T) {
	s := devStack.get(t)
	p := props(s.resources("AWS::Lambda::Function")[s.logicalID(s.stack.Functions[routes.FnEngine])])
	if p["PackageType"] != "Image" || p["Runtime"] != nil || p["Handler"] != nil {
		t.Errorf("engine: PackageType %v Runtime %v Handler %v, want an image function", p["PackageType"], p["Runtime"], p["Handler"])
	}
	if fmt.Sprint(p["Architectures"]) != "[arm64]" || num(p["Timeout"]) != 900 || num(p["MemorySize"]) != 4096 {
		t.Errorf("engine: %v %v s %v MB, want arm64, 900 s, 4096 MB", p["Architectures"], p["Timeout"], p["MemorySize"])
	}
}

func TestEveryFunctionOfTheTableIsDeployedWithItsSettings(t *testing.T) {
	s := devStack.get(t)
	fns := s.resources("AWS::Lambda::Function")
	for _, f := range stack.Functions {
		fn, ok := s.stack.Functions[f.Name]
		if !ok {
			t.Errorf("function %s of stack.Functions is not deployed", f.Name)
			continue
		}
		p := props(fns[s.logicalID(fn)])
		if p["FunctionName"] != s.stack.Names.FunctionName(f.Name) && !mentions(p["FunctionName"], "mad-dev-"+f.Name) {
			t.Errorf("%s: FunctionName %v", f.Name, p["FunctionName"])
		}
		if num(p["Timeout"]) != float64(f.TimeoutSeconds) || num(p["MemorySize"]) != float64(f.MemoryMB) {
			t.Errorf("%s: %v s %v MB, want %d s %d MB", f.Name, p["Timeout"], p["MemorySize"], f.TimeoutSeconds, f.MemoryMB)
		}
		if f.Image {
			continue
		}
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || fmt.Sprint(p["Architectures"]) != "[arm64]" {
			t.Errorf("%s: %v %v %v, want provided.al2023 bootstrap arm64", f.Name, p["Runtime"], p["Handler"], p["Architectures"])
		}
		if lc, _ := p["LoggingConfig"].(map[string]any); lc == nil || lc["LogGroup"] == nil {
			t.Errorf("%s: no explicit log group", f.Name)
		}
	}
}

func TestSweeperRunsEveryMinute(t *testing.T) {
	s := devStack.get(t)
	s.assert(t).HasResourceProperties(jsii.String("AWS::Events::Rule"), &map[string]any{
		"ScheduleExpression": "rate(1 minute)",
		"Targets": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
			"Arn": map[string]any{"Fn::GetAtt": []any{s.logicalID(s.stack.Functions[routes.FnSweeper]), "Arn"}},
		})}),
	})
}

// keyLike matches values that look like key material: long base64 or hex.
var keyLike = regexp.MustCompile(`^[A-Za-z0-9+/=_-]{32,}$`)

func TestNoPlaintextSecretInAnyEnvironment(t *testing.T) {
	for _, v := range []*variant{devStack, prodStack, externalStack} {
		s := v.get(t)
		for id, fn := range s.resources("AWS::Lambda::Function") {
			env, _ := props(fn)["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			for k, val := range vars {
				upper := strings.ToUpper(k)
				if (strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "SECRET") || strings.Contains(upper, "TOKEN") && !strings.HasSuffix(upper, "_TTL") ||
					strings.Contains(upper, "KEY") && !strings.HasSuffix(upper, "_KEY_ID")) && !strings.HasSuffix(upper, "_SECRET_ID") {
					t.Errorf("%s %s: environment variable %s may hold a secret", s.stack.Cfg.Stage, id, k)
				}
				if str, ok := val.(string); ok && keyLike.MatchString(str) {
					t.Errorf("%s %s: %s=%q looks like key material", s.stack.Cfg.Stage, id, k, str)
				}
				if strings.Contains(fmt.Sprint(val), "resolve:secretsmanager") {
					t.Errorf("%s %s: %s resolves a secret value into the environment", s.stack.Cfg.Stage, id, k)
				}
			}
		}
	}
}

func TestEnvironmentSatisfiesSharedConfig(t *testing.T) {
	for _, v := range []*variant{devStack, prodStack, externalStack} {
		s := v.get(t)
		for _, f := range stack.Functions {
			p := props(s.resources("AWS::Lambda::Function")[s.logicalID(s.stack.Functions[f.Name])])
			vars := p["Environment"].(map[string]any)["Variables"].(map[string]any)
			getenv := func(k string) string {
				if k == "AWS_REGION" {
					return "eu-west-1" // set by Lambda itself
				}
				val, ok := vars[k]
				if !ok {
					return ""
				}
				if str, ok := val.(string); ok {
					return str
				}
				return "resolved-at-deploy"
			}
			c, err := config.Load(getenv)
			if err != nil {
				t.Errorf("%s %s: %v", s.stack.Cfg.Stage, f.Name, err)
				continue
			}
			var needs []config.Need
			n := f.Needs
			for _, x := range []struct {
				on   bool
				need config.Need
			}{{n.DB, config.NeedDB}, {n.DBAdmin, config.NeedDBAdmin}, {n.JWT, config.NeedJWT}, {n.Storage, config.NeedStorage}, {n.Queue, config.NeedQueue}, {n.Engine, config.NeedEngine}} {
				if x.on {
					needs = append(needs, x.need)
				}
			}
			if err := c.Require(needs...); err != nil {
				t.Errorf("%s %s: %v", s.stack.Cfg.Stage, f.Name, err)
			}
			if n.Root && c.RootSecretID == "" {
				t.Errorf("%s %s: MAD_ROOT_SECRET_ID missing", s.stack.Cfg.Stage, f.Name)
			}
			if c.Stage != s.stack.Cfg.Stage {
				t.Errorf("%s %s: MAD_STAGE = %q", s.stack.Cfg.Stage, f.Name, c.Stage)
			}
		}
	}
}

func TestNoPolicyStatementGrantsS3OrKMSWildcards(t *testing.T) {
	for _, v := range []*variant{devStack, prodStack, externalStack} {
		s := v.get(t)
		for _, st := range s.allStatements() {
			if st.stmt["Effect"] == "Deny" {
				continue // enforceSSL and minimum TLS deny s3:* to insecure requests
			}
			for _, a := range st.actions() {
				if a == "s3:*" || a == "kms:*" || a == "*" {
					t.Errorf("%s %s: statement %v allows %q", s.stack.Cfg.Stage, st.where, st.stmt["Sid"], a)
				}
			}
		}
	}
}

func TestAuthorizerRoleHasNoS3Permission(t *testing.T) {
	for _, v := range []*variant{devStack, prodStack} {
		s := v.get(t)
		role := s.logicalID(s.stack.Roles[routes.FnAuthorizer])
		stmts := s.roleStatements(role)
		if len(stmts) == 0 {
			t.Fatalf("authorizer role %s has no statements", role)
		}
		for _, st := range stmts {
			for _, a := range st.actions() {
				if strings.HasPrefix(a, "s3:") {
					t.Errorf("authorizer may %s", a)
				}
			}
			for _, b := range []string{s.logicalID(s.stack.Artifacts), s.logicalID(s.stack.Uploads)} {
				if mentions(st.stmt["Resource"], b) {
					t.Errorf("authorizer statement %v names bucket %s", st.stmt["Sid"], b)
				}
			}
		}
	}
}

func TestAPIFunctionsCannotTouchTheDLQs(t *testing.T) {
	s := devStack.get(t)
	dlqs := []string{s.logicalID(s.stack.Queues[stack.QueueJobsDLQ]), s.logicalID(s.stack.UploadsDLQ)}
	for _, fn := range append([]string{routes.FnAuthorizer}, routes.APIFunctions...) {
		for _, st := range s.roleStatements(s.logicalID(s.stack.Roles[fn])) {
			for _, q := range dlqs {
				if mentions(st.stmt, q) {
					t.Errorf("%s role statement %v reaches DLQ %s", fn, st.stmt["Sid"], q)
				}
			}
		}
	}
	// The queue policies grant nothing to the API roles either.
	for _, st := range s.allStatements() {
		if !strings.HasPrefix(st.where, "AWS::SQS::QueuePolicy") || st.stmt["Effect"] != "Allow" {
			continue
		}
		for _, fn := range routes.APIFunctions {
			if mentions(st.stmt["Principal"], s.logicalID(s.stack.Roles[fn])) {
				t.Errorf("queue policy %s allows the %s role", st.where, fn)
			}
		}
	}
}

func TestOnlyTheEngineWritesJobArtifacts(t *testing.T) {
	s := devStack.get(t)
	artifacts := s.logicalID(s.stack.Artifacts)
	for name, role := range s.stack.Roles {
		for _, st := range s.roleStatements(s.logicalID(role)) {
			writes := false
			for _, a := range st.actions() {
				if a == "s3:PutObject" || a == "s3:Put*" || a == "s3:*" {
					writes = true
				}
			}
			if !writes || !mentions(st.stmt["Resource"], artifacts) {
				continue
			}
			res, _ := json.Marshal(st.stmt["Resource"])
			jobs := strings.Contains(string(res), "/*/jobs/*")
			switch {
			case name == routes.FnEngine && !jobs:
				t.Errorf("engine writes artifacts outside */jobs/*: %s", res)
			case name != routes.FnEngine && !strings.HasSuffix(strings.TrimRight(string(res), `"]}`), "/*/molecules/*"):
				t.Errorf("%s may write artifacts %s (only the engine writes job artifacts; others only */molecules/*)", name, res)
			}
		}
	}
}

func TestHealthCannotReadTheHMACKey(t *testing.T) {
	s := devStack.get(t)
	jwt := s.logicalID(s.stack.JWTSecret)
	for _, st := range s.roleStatements(s.logicalID(s.stack.Roles[routes.FnHealth])) {
		if !mentions(st.stmt["Resource"], jwt) {
			continue
		}
		if fmt.Sprint(st.actions()) != "[secretsmanager:DescribeSecret]" {
			t.Errorf("health may %v on the HS256 secret", st.actions())
		}
	}
}

func TestAsymmetricJWTSigningIsLimitedToAuthAndRotate(t *testing.T) {
	s := prodStack.get(t)
	for name, role := range s.stack.Roles {
		for _, st := range s.roleStatements(s.logicalID(role)) {
			for _, a := range st.actions() {
				if a == "kms:Sign" && name != routes.FnAuth && name != routes.FnRotate {
					t.Errorf("%s may kms:Sign", name)
				}
				if a == "kms:CreateKey" && name != routes.FnRotate {
					t.Errorf("%s may kms:CreateKey", name)
				}
				if a == "kms:CreateKey" && !mentions(st.stmt["Condition"], "aws:RequestTag/mad-jwt-stage") {
					t.Errorf("kms:CreateKey without the stage tag condition: %v", st.stmt)
				}
			}
		}
	}
}

func TestJWTSecretIsGeneratedAndRotatedByTheRotateFunction(t *testing.T) {
	s := devStack.get(t)
	s.assert(t).HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), &map[string]any{
		"Name": "mad/dev/jwt-signing-key",
		"GenerateSecretString": map[string]any{
			"SecretStringTemplate": `{"alg":"HS256"}`, "GenerateStringKey": "k",
			"PasswordLength": 64, "ExcludePunctuation": true, "IncludeSpace": false,
		},
		"KmsKeyId": map[string]any{"Fn::GetAtt": []any{s.logicalID(s.stack.Key), "Arn"}},
	})
	s.assert(t).HasResourceProperties(jsii.String("AWS::SecretsManager::RotationSchedule"), &map[string]any{
		"SecretId":          map[string]any{"Ref": s.logicalID(s.stack.JWTSecret)},
		"RotationLambdaARN": map[string]any{"Fn::GetAtt": []any{s.logicalID(s.stack.Functions[routes.FnRotate]), "Arn"}},
		"RotationRules":     map[string]any{"ScheduleExpression": "rate(30 days)"},
	})
}

func TestDatabaseSecretsRotateWithAlternatingUsers(t *testing.T) {
	s := devStack.get(t)
	// Not at creation: the app user exists only once migrate has run.
	s.assert(t).HasResourceProperties(jsii.String("AWS::SecretsManager::RotationSchedule"), assertions.Match_ObjectLike(&map[string]any{
		"SecretId":                  map[string]any{"Ref": s.logicalID(s.stack.DBAppSecret)},
		"HostedRotationLambda":      assertions.Match_ObjectLike(&map[string]any{"RotationType": "PostgreSQLMultiUser"}),
		"RotateImmediatelyOnUpdate": false,
	}))
	for id, sec := range s.resources("AWS::SecretsManager::Secret") {
		if props(sec)["Name"] != "mad/dev/db-app" {
			continue
		}
		tmpl, _ := json.Marshal(props(sec)["GenerateSecretString"])
		if !strings.Contains(string(tmpl), `\"username\":\"`+stack.AppDBUser+`\"`) || !strings.Contains(string(tmpl), "masterarn") {
			t.Errorf("app secret %s: %s, want username %s and the master secret's ARN", id, tmpl, stack.AppDBUser)
		}
		return
	}
	t.Error("no secret mad/dev/db-app")
}

func TestDatabaseIsPrivateEncryptedAndBackedUp(t *testing.T) {
	for _, c := range []struct {
		v                  *variant
		backup             float64
		protected, multiAZ bool
		deletionPolicy     string
	}{{devStack, 7, false, false, "Snapshot"}, {prodStack, 30, true, true, "Retain"}} {
		s := c.v.get(t)
		dbs := s.resources("AWS::RDS::DBInstance")
		if len(dbs) != 1 {
			t.Fatalf("%d DB instances", len(dbs))
		}
		for _, db := range dbs {
			p := props(db)
			if p["StorageEncrypted"] != true || refTo(p["KmsKeyId"]) != s.logicalID(s.stack.Key) || p["PubliclyAccessible"] != false {
				t.Errorf("%s: DB encryption/public access %v %v %v", s.stack.Cfg.Stage, p["StorageEncrypted"], p["KmsKeyId"], p["PubliclyAccessible"])
			}
			if num(p["BackupRetentionPeriod"]) != c.backup || p["DeletionProtection"] != c.protected || p["MultiAZ"] != c.multiAZ {
				t.Errorf("%s: backups %v deletion protection %v multi-AZ %v", s.stack.Cfg.Stage, p["BackupRetentionPeriod"], p["DeletionProtection"], p["MultiAZ"])
			}
			if db["DeletionPolicy"] != c.deletionPolicy {
				t.Errorf("%s: DeletionPolicy %v, want %s", s.stack.Cfg.Stage, db["DeletionPolicy"], c.deletionPolicy)
			}
			if !strings.HasPrefix(fmt.Sprint(p["EngineVersion"]), "16.") {
				t.Errorf("engine version %v, want PostgreSQL 16", p["EngineVersion"])
			}
		}
		s.assert(t).HasResourceProperties(jsii.String("AWS::RDS::DBProxy"), assertions.Match_ObjectLike(&map[string]any{"RequireTLS": true, "EngineFamily": "POSTGRESQL"}))
	}
}

func TestVPCHasNoNATAndHasTheServiceEndpoints(t *testing.T) {
	s := devStack.get(t)
	s.assert(t).ResourceCountIs(jsii.String("AWS::EC2::NatGateway"), jsii.Number(0))
	s.assert(t).ResourceCountIs(jsii.String("AWS::EC2::InternetGateway"), jsii.Number(0))
	var got []string
	for _, ep := range s.resources("AWS::EC2::VPCEndpoint") {
		b, _ := json.Marshal(props(ep)["ServiceName"])
		got = append(got, string(b))
	}
	all := strings.Join(got, " ")
	for _, svc := range []string{".s3", "sqs", "secretsmanager", "kms", "logs"} {
		if !strings.Contains(all, svc) {
			t.Errorf("no VPC endpoint for %s in %s", svc, all)
		}
	}
}

func TestMigrateRunsAsATriggerAfterTheDatabase(t *testing.T) {
	s := devStack.get(t)
	found := false
	for id, r := range s.json["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] != "Custom::Trigger" {
			continue
		}
		found = true
		version := s.resources("AWS::Lambda::Version")[refTo(rm["Properties"].(map[string]any)["HandlerArn"])]
		if refTo(props(version)["FunctionName"]) != s.logicalID(s.stack.Functions[routes.FnMigrate]) {
			t.Errorf("trigger %s does not run the migrate function", id)
		}
		if !mentions(rm["DependsOn"], s.logicalID(s.stack.DB)) {
			t.Errorf("trigger %s does not wait for the database", id)
		}
	}
	if !found {
		t.Fatal("no Custom::Trigger")
	}
}

func TestAlarmsNotifyTheTopic(t *testing.T) {
	s := prodStack.get(t)
	topic := s.logicalID(s.stack.AlarmTopic)
	alarms := s.resources("AWS::CloudWatch::Alarm")
	for _, name := range []string{"jobs-dlq-not-empty", "uploads-dlq-not-empty", "jobs-oldest-message-age", "api-5xx",
		"authorizer-errors", "engine-errors", "api-throttles", "async-throttles"} {
		ok := false
		for _, a := range alarms {
			if props(a)["AlarmName"] == "mad-prod-"+name {
				ok = refTo(asList(props(a)["AlarmActions"])[0]) == topic
			}
		}
		if !ok {
			t.Errorf("alarm %s missing or not sent to the topic", name)
		}
	}
	s.assert(t).HasResourceProperties(jsii.String("AWS::SNS::Subscription"), &map[string]any{"Protocol": "email", "Endpoint": "ops@example.com"})
	s.assert(t).HasResourceProperties(jsii.String("AWS::SNS::Topic"), assertions.Match_ObjectLike(&map[string]any{
		"KmsMasterKeyId": map[string]any{"Fn::GetAtt": []any{s.logicalID(s.stack.Key), "Arn"}},
	}))
}

func TestDashboardShowsJobsQueuesLatencyAndAuthFailures(t *testing.T) {
	s := devStack.get(t)
	for _, d := range s.resources("AWS::CloudWatch::Dashboard") {
		body, _ := json.Marshal(props(d)["DashboardBody"])
		for _, want := range []string{"JobsCreated", "JobsCompleted", "ApproximateNumberOfMessagesVisible", "p50", "p99", "AuthFailures"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("dashboard lacks %s", want)
			}
		}
	}
}

func TestOutputsNameTheAPIAndTheResources(t *testing.T) {
	s := devStack.get(t)
	outs := s.json["Outputs"].(map[string]any)
	for _, k := range []string{"ApiUrl", "JwksUrl", "ArtifactsBucketName", "UploadsBucketName", "JobsQueueName", "JobsDlqName", "UploadsQueueName", "UploadsDlqName"} {
		if _, ok := outs[k]; !ok {
			t.Errorf("output %s missing", k)
		}
	}
	if !strings.Contains(fmt.Sprint(outs["JwksUrl"]), ".well-known/jwks.json") {
		t.Errorf("JwksUrl = %v", outs["JwksUrl"])
	}
}

func TestExternalDatabaseModeUsesTheGivenSecrets(t *testing.T) {
	s := externalStack.get(t)
	for _, typ := range []string{"AWS::RDS::DBInstance", "AWS::RDS::DBProxy", "AWS::EC2::VPC"} {
		s.assert(t).ResourceCountIs(jsii.String(typ), jsii.Number(0))
	}
	for _, f := range stack.Functions {
		vars := props(s.resources("AWS::Lambda::Function")[s.logicalID(s.stack.Functions[f.Name])])["Environment"].(map[string]any)["Variables"].(map[string]any)
		if f.Needs.DB && !strings.Contains(fmt.Sprint(vars["MAD_DB_SECRET_ID"]), "mad/ext/app") {
			t.Errorf("%s: MAD_DB_SECRET_ID = %v", f.Name, vars["MAD_DB_SECRET_ID"])
		}
		if f.Needs.DBAdmin && !strings.Contains(fmt.Sprint(vars["MAD_DB_ADMIN_SECRET_ID"]), "mad/ext/owner") {
			t.Errorf("%s: MAD_DB_ADMIN_SECRET_ID = %v", f.Name, vars["MAD_DB_ADMIN_SECRET_ID"])
		}
	}
}

// wildcardOK are the actions for which AWS offers no resource-level
// permission (or, for CreateKey, no resource before the call).
var wildcardOK = map[string]bool{
	"ec2:CreateNetworkInterface": true, "ec2:DescribeNetworkInterfaces": true, "ec2:DeleteNetworkInterface": true,
	"ec2:AssignPrivateIpAddresses": true, "ec2:UnassignPrivateIpAddresses": true,
	"secretsmanager:GetRandomPassword": true,
	"kms:CreateKey":                    true,
}

func TestWildcardResourcesOnlyWhereAWSRequiresThem(t *testing.T) {
	for _, v := range []*variant{devStack, prodStack, externalStack} {
		s := v.get(t)
		for _, st := range s.allStatements() {
			// In a key or secret policy "*" is the key or secret itself; S3,
			// SQS and SNS resource policies and VPC endpoint policies are
			// checked by the other tests.
			if st.stmt["Effect"] == "Deny" || !strings.HasPrefix(st.where, "AWS::IAM::") {
				continue
			}
			star := false
			for _, r := range asList(st.stmt["Resource"]) {
				if r == "*" {
					star = true
				}
			}
			if !star {
				continue
			}
			for _, a := range st.actions() {
				if !wildcardOK[a] {
					t.Errorf("%s %s: %s on Resource \"*\"", s.stack.Cfg.Stage, st.where, a)
				}
			}
		}
	}
}
