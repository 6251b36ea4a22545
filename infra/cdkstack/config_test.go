package cdkstack_test

import (
	"strings"
	"testing"

	"github.com/mad-bio/mad/infra/cdkstack"
)

func TestContextDefaults(t *testing.T) {
	c, err := cdkstack.NewConfig(func(string) any { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != "dev" || c.EngineTimeoutSeconds != 900 || c.EngineMemoryMB != 4096 || c.AuthorizerCacheTTLSeconds != 30 ||
		c.JobsMaxReceiveCount != 5 || c.Database != "rds" || c.JWTAlg != "HS256" || c.JWTRotationDays != 30 ||
		c.JobsVisibilitySeconds != 5400 || c.UploadsVisibilitySeconds != 1800 || c.JobsDLQVisibilitySeconds != 180 || c.LogRetentionDays != 30 {
		t.Errorf("defaults: %+v", c)
	}
	p, err := cdkstack.NewConfig(func(k string) any {
		return map[string]any{"stage": "prod-eu", "rootEmail": "root@example.com"}[k]
	})
	if err != nil || !p.Prod() || p.LogRetentionDays != 365 {
		t.Errorf("prod defaults: %+v %v", p, err)
	}
}

func TestContextValidationNamesTheKey(t *testing.T) {
	for _, c := range []struct {
		name string
		ctx  map[string]any
		key  string
	}{
		{"alarm email not an email", map[string]any{"alarmEmail": "ops-at-example"}, "alarmEmail"},
		{"alarm email with a name", map[string]any{"alarmEmail": "Ops <ops@example.com>"}, "alarmEmail"},
		{"engine timeout over 900", map[string]any{"engineTimeoutSeconds": "901"}, "engineTimeoutSeconds"},
		{"engine timeout not a number", map[string]any{"engineTimeoutSeconds": "fifteen"}, "engineTimeoutSeconds"},
		{"engine memory over the Lambda maximum", map[string]any{"engineMemoryMb": 20000.0}, "engineMemoryMb"},
		{"max receive count below 1", map[string]any{"jobsMaxReceiveCount": "0"}, "jobsMaxReceiveCount"},
		{"jobs visibility shorter than 6x the engine", map[string]any{"jobsVisibilityTimeoutSeconds": "3600"}, "jobsVisibilityTimeoutSeconds"},
		{"uploads visibility shorter than 6x ingest", map[string]any{"uploadsVisibilityTimeoutSeconds": "600"}, "uploadsVisibilityTimeoutSeconds"},
		{"engine timeout pushes visibility past the SQS maximum", map[string]any{"jobsVisibilityTimeoutSeconds": "50000"}, "jobsVisibilityTimeoutSeconds"},
		{"unknown database mode", map[string]any{"database": "aurora"}, "database"},
		{"external database without its secret", map[string]any{"database": "external"}, "externalDbSecretArn"},
		{"external secret not an ARN", map[string]any{"database": "external", "externalDbSecretArn": "mad/app", "externalDbAdminSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"}, "externalDbSecretArn"},
		{"rds mode with an external secret", map[string]any{"externalDbSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf"}, "database"},
		{"authorizer TTL over 3600", map[string]any{"authorizerCacheTtlSeconds": "3601"}, "authorizerCacheTtlSeconds"},
		{"authorizer TTL negative", map[string]any{"authorizerCacheTtlSeconds": "-1"}, "authorizerCacheTtlSeconds"},
		{"JWT rotation not longer than the refresh TTL", map[string]any{"jwtRotationDays": "7"}, "jwtRotationDays"},
		{"unknown JWT algorithm", map[string]any{"jwtAlg": "none"}, "jwtAlg"},
		{"access token TTL over an hour", map[string]any{"accessTokenTtlMinutes": "120"}, "accessTokenTtlMinutes"},
		{"stage with capitals", map[string]any{"stage": "Prod"}, "stage"},
		{"prod stage without a root email", map[string]any{"stage": "prod"}, "rootEmail"},
		{"wildcard CORS origin", map[string]any{"corsOrigins": "*"}, "corsOrigins"},
		{"plain http CORS origin", map[string]any{"corsOrigins": "http://app.example.com"}, "corsOrigins"},
		{"log retention CloudWatch does not offer", map[string]any{"logRetentionDays": "31"}, "logRetentionDays"},
		{"throttle rate zero", map[string]any{"apiThrottleRateLimit": "0"}, "apiThrottleRateLimit"},
		{"log level unknown", map[string]any{"logLevel": "verbose"}, "logLevel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := cdkstack.NewConfig(func(k string) any { return c.ctx[k] })
			if err == nil {
				t.Fatalf("context %v accepted", c.ctx)
			}
			msg := err.Error()
			if !strings.Contains(msg, `context "`+c.key+`"`) {
				t.Errorf("error does not name %q: %s", c.key, msg)
			}
			if strings.Count(msg, "\n") > 0 || !strings.HasPrefix(msg, "invalid CDK context: ") {
				t.Errorf("want one line starting with the cause, got %q", msg)
			}
		})
	}
}

func TestContextAcceptsCLIStringsAndJSONValues(t *testing.T) {
	c, err := cdkstack.NewConfig(func(k string) any {
		return map[string]any{
			"engineTimeoutSeconds": "600", "engineMemoryMb": 2048.0, "jobsMaxReceiveCount": 3.0,
			"corsOrigins": `["https://b.example.com","https://a.example.com"]`, "alarmEmail": "ops@example.com",
			"database": "external", "externalDbSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mad/app-AbCdEf",
			"externalDbAdminSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mad/owner",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.EngineTimeoutSeconds != 600 || c.JobsVisibilitySeconds != 3600 || c.EngineMemoryMB != 2048 || c.JobsMaxReceiveCount != 3 ||
		strings.Join(c.CORSOrigins, ",") != "https://a.example.com,https://b.example.com" {
		t.Errorf("parsed %+v", c)
	}
}
