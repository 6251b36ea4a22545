package fnenv_test

import (
	"strings"
	"testing"

	"github.com/mad-bio/mad/scripts/devstack/internal/fnenv"
	"github.com/mad-bio/mad/scripts/devstack/internal/provision"
	"github.com/mad-bio/mad/shared/config"
	"github.com/mad-bio/mad/shared/stack"
)

func inputs() fnenv.Inputs {
	n := stack.Names{Stage: "local", Account: "123456789012", Region: "us-east-1"}
	return fnenv.Inputs{
		Names:    n,
		Endpoint: "http://127.0.0.1:45660",
		Res: &provision.Resources{Names: n, KeyARN: "arn:aws:kms:us-east-1:123456789012:key/k", ArtifactsBucket: n.ArtifactsBucket(),
			UploadsBucket: n.UploadsBucket(), SecretARNs: map[string]string{n.JWTSecret(): "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + n.JWTSecret() + "-AbCdEf"},
			Queues: map[string]provision.Queue{"jobs": {URL: "http://q/jobs"}, "uploads": {URL: "http://q/uploads"}}},
		ScratchDir: "/tmp/scratch",
		Environ: []string{"PATH=/usr/bin", "HOME=/root", "AWS_PROFILE=prod", "AWS_CA_BUNDLE=/etc/ca.pem", "AWS_ACCESS_KEY_ID=AKIAREAL",
			"MAD_LOCAL_CONCURRENCY=4", "MAD_E2E_URL=x", "MAD_ACCESS_TOKEN_TTL=5m"},
	}
}

func getenv(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// TestEnvSatisfiesConfig: each function's environment passes
// shared/config's Require for the needs the stack table gives it.
func TestEnvSatisfiesConfig(t *testing.T) {
	for _, f := range stack.Functions {
		env := fnenv.Env(f, inputs())
		get := getenv(env)
		cfg, err := config.Load(get)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		var needs []config.Need
		for _, n := range []struct {
			on   bool
			need config.Need
		}{{f.Needs.DB, config.NeedDB}, {f.Needs.DBAdmin, config.NeedDBAdmin}, {f.Needs.JWT, config.NeedJWT},
			{f.Needs.Storage, config.NeedStorage}, {f.Needs.Queue, config.NeedQueue}, {f.Needs.Engine, config.NeedEngine}} {
			if n.on {
				needs = append(needs, n.need)
			}
		}
		if err := cfg.Require(needs...); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
		if get("AWS_LAMBDA_FUNCTION_NAME") != "mad-local-"+f.Name || get("AWS_ENDPOINT_URL") != "http://127.0.0.1:45660" || get("MAD_STAGE") != "local" {
			t.Errorf("%s: lambda/endpoint variables %v", f.Name, env)
		}
		if f.Needs.Root && get("MAD_ROOT_SECRET_ID") == "" {
			t.Errorf("%s: no MAD_ROOT_SECRET_ID", f.Name)
		}
		if f.Needs.JWT && !strings.HasPrefix(get("MAD_JWT_SECRET_ID"), "arn:aws:secretsmanager:") {
			t.Errorf("%s: MAD_JWT_SECRET_ID %q is not the ARN", f.Name, get("MAD_JWT_SECRET_ID"))
		}
		// Nothing of the developer's AWS setup leaks in; MAD_* knobs do.
		if get("AWS_PROFILE") != "" || get("AWS_CA_BUNDLE") != "" || get("AWS_ACCESS_KEY_ID") != "testing" ||
			get("MAD_LOCAL_CONCURRENCY") != "" || get("MAD_E2E_URL") != "" || get("MAD_ACCESS_TOKEN_TTL") != "5m" {
			t.Errorf("%s: environment leaks: %v", f.Name, env)
		}
	}
}

func TestExports(t *testing.T) {
	got := fnenv.Exports([]string{"A=plain", "B=it's", "C=a b", "D="})
	want := "export A=plain\nexport B='it'\\''s'\nexport C='a b'\nexport D=''\n"
	if got != want {
		t.Errorf("Exports:\n%s\nwant\n%s", got, want)
	}
}

// TestVinaOverride: MAD_LOCAL_VINA replaces only the engine's vina, and
// FAKEVINA_* reach the engine only then.
func TestVinaOverride(t *testing.T) {
	in := inputs()
	in.Environ = append(in.Environ, "FAKEVINA_SLEEP=5ms")
	engine, _ := stack.FunctionByName("engine")
	jobs, _ := stack.FunctionByName("jobs")
	if get := getenv(fnenv.Env(engine, in)); get("FAKEVINA_SLEEP") != "" || strings.Contains(get("MAD_VINA_PATH"), "fakevina") {
		t.Errorf("without VinaPath: MAD_VINA_PATH=%q FAKEVINA_SLEEP=%q", get("MAD_VINA_PATH"), get("FAKEVINA_SLEEP"))
	}
	in.VinaPath = "/tmp/fakevina"
	get := getenv(fnenv.Env(engine, in))
	if get("MAD_VINA_PATH") != "/tmp/fakevina" || get("FAKEVINA_SLEEP") != "5ms" || get("MAD_OBABEL_PATH") == "" {
		t.Errorf("engine: MAD_VINA_PATH=%q FAKEVINA_SLEEP=%q MAD_OBABEL_PATH=%q", get("MAD_VINA_PATH"), get("FAKEVINA_SLEEP"), get("MAD_OBABEL_PATH"))
	}
	if get := getenv(fnenv.Env(jobs, in)); get("FAKEVINA_SLEEP") != "" || get("MAD_VINA_PATH") != "" {
		t.Errorf("jobs got engine settings: %q %q", get("FAKEVINA_SLEEP"), get("MAD_VINA_PATH"))
	}
}

// TestEndpointOverride: a function routed through the fault proxy gets the
// proxy's endpoint, the others moto's.
func TestEndpointOverride(t *testing.T) {
	in := inputs()
	in.EndpointFor = map[string]string{"engine": "http://127.0.0.1:1"}
	engine, _ := stack.FunctionByName("engine")
	jobs, _ := stack.FunctionByName("jobs")
	if got := getenv(fnenv.Env(engine, in))("AWS_ENDPOINT_URL"); got != "http://127.0.0.1:1" {
		t.Errorf("engine endpoint %q", got)
	}
	if got := getenv(fnenv.Env(jobs, in))("AWS_ENDPOINT_URL"); got != in.Endpoint {
		t.Errorf("jobs endpoint %q", got)
	}
}
