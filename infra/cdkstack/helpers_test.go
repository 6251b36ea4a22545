package cdkstack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/mad-bio/mad/infra/cdkstack"
)

// Synthesis is slow (a node process, a few seconds per stack), so each
// configuration is synthesized once per test binary and shared.

var (
	assetDir string
	tmpDir   string // removed after the tests
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mad-infra-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = dir
	assetDir = filepath.Join(dir, "functions")
	if err := cdkstack.WritePlaceholderAssets(assetDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// synthesized is one stack, its template and its annotations.
type synthesized struct {
	stack    *cdkstack.Stack
	template assertions.Template
	json     map[string]any
	ann      assertions.Annotations
	outdir   string
}

type variant struct {
	once sync.Once
	ctx  map[string]any
	s    *synthesized
	err  any
}

var (
	devStack      = &variant{ctx: map[string]any{}}
	prodStack     = &variant{ctx: map[string]any{"stage": "prod", "jwtAlg": "RS256", "alarmEmail": "ops@example.com", "rootEmail": "root@example.com", "corsOrigins": "https://app.example.com"}}
	externalStack = &variant{ctx: map[string]any{"stage": "ext", "database": "external",
		"externalDbSecretArn":      "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mad/ext/app-AbCdEf",
		"externalDbAdminSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mad/ext/owner-GhIjKl"}}
)

// get synthesizes the variant once, with the AwsSolutions checks applied.
func (v *variant) get(t *testing.T) *synthesized {
	t.Helper()
	v.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				v.err = r
			}
		}()
		v.s = synth(t, v.ctx)
	})
	if v.err != nil {
		t.Fatalf("synthesis failed: %v", v.err)
	}
	return v.s
}

func synth(t *testing.T, extra map[string]any) *synthesized {
	ctx := cdkstack.FeatureFlags()
	// Keep annotations out of the validation report so an unsuppressed
	// cdk-nag error shows up in the nag test's assertion (with its rule and
	// path) instead of aborting the synthesis every test shares.
	ctx["@aws-cdk/core:annotationsInValidationReport"] = false
	ctx["buildDir"] = assetDir
	for k, v := range extra {
		ctx[k] = v
	}
	out, err := os.MkdirTemp(tmpDir, "cdk-out-")
	if err != nil {
		panic(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out), Context: &ctx})
	cfg, err := cdkstack.NewConfig(func(k string) any { return app.Node().TryGetContext(jsii.String(k)) })
	if err != nil {
		panic(err)
	}
	s := cdkstack.New(app, "Mad-"+cfg.Stage, cfg, nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	tmpl := assertions.Template_FromStack(s.St, nil)
	raw, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(err)
	}
	return &synthesized{stack: s, template: tmpl, json: m, ann: assertions.Annotations_FromStack(s.St), outdir: out}
}

// resources returns the template's resources of one type by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// logicalID is the template id of a construct's default CloudFormation resource.
func (s *synthesized) logicalID(c constructs.IConstruct) string {
	el := c.Node().DefaultChild().(awscdk.CfnElement)
	return *s.stack.St.GetLogicalId(el)
}

// refTo returns X for {"Ref": X} or {"Fn::GetAtt": [X, ...]}.
func refTo(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	if g, ok := m["Fn::GetAtt"].([]any); ok && len(g) > 0 {
		s, _ := g[0].(string)
		return s
	}
	return ""
}

// mentions reports whether v refers to the logical id anywhere.
func mentions(v any, id string) bool {
	b, _ := json.Marshal(v)
	return strings.Contains(string(b), `"`+id+`"`)
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		var f float64
		fmt.Sscan(x, &f)
		return f
	}
	return -1
}

// statement is one IAM statement and the document it came from.
type statement struct {
	where string
	stmt  map[string]any
}

func (st statement) actions() []string {
	var out []string
	for _, a := range asList(st.stmt["Action"]) {
		if s, ok := a.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// roleStatements returns the identity-policy statements of a role: its
// inline policies and every AWS::IAM::Policy attached to it.
func (s *synthesized) roleStatements(roleID string) []statement {
	var out []statement
	for id, r := range s.resources("AWS::IAM::Role") {
		if id != roleID {
			continue
		}
		for _, p := range asList(props(r)["Policies"]) {
			doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
			for _, st := range asList(doc["Statement"]) {
				out = append(out, statement{id, st.(map[string]any)})
			}
		}
	}
	for id, r := range s.resources("AWS::IAM::Policy") {
		attached := false
		for _, role := range asList(props(r)["Roles"]) {
			if refTo(role) == roleID {
				attached = true
			}
		}
		if !attached {
			continue
		}
		doc := props(r)["PolicyDocument"].(map[string]any)
		for _, st := range asList(doc["Statement"]) {
			out = append(out, statement{id, st.(map[string]any)})
		}
	}
	return out
}

// allStatements returns every policy statement of the template: identity
// policies and resource policies (bucket, queue, topic, key, secret).
func (s *synthesized) allStatements() []statement {
	var out []statement
	docs := map[string]string{
		"AWS::IAM::Policy": "PolicyDocument", "AWS::IAM::ManagedPolicy": "PolicyDocument",
		"AWS::S3::BucketPolicy": "PolicyDocument", "AWS::SQS::QueuePolicy": "PolicyDocument",
		"AWS::SNS::TopicPolicy": "PolicyDocument", "AWS::KMS::Key": "KeyPolicy",
		"AWS::SecretsManager::ResourcePolicy": "ResourcePolicy", "AWS::EC2::VPCEndpoint": "PolicyDocument",
	}
	for typ, field := range docs {
		for id, r := range s.resources(typ) {
			doc, ok := props(r)[field].(map[string]any)
			if !ok {
				continue
			}
			for _, st := range asList(doc["Statement"]) {
				out = append(out, statement{typ + " " + id, st.(map[string]any)})
			}
		}
	}
	for id, r := range s.resources("AWS::IAM::Role") {
		for _, p := range asList(props(r)["Policies"]) {
			doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
			for _, st := range asList(doc["Statement"]) {
				out = append(out, statement{"AWS::IAM::Role " + id, st.(map[string]any)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

// functionByLogicalID maps template ids of functions to their table names.
func (s *synthesized) functionNames() map[string]string {
	out := map[string]string{}
	for name, fn := range s.stack.Functions {
		out[s.logicalID(fn)] = name
	}
	return out
}

// templateCheck runs assertions.Template checks as test errors: a failed
// jsii assertion panics, which would otherwise end the whole test binary.
type templateCheck struct {
	t  *testing.T
	tm assertions.Template
}

func (s *synthesized) assert(t *testing.T) templateCheck { return templateCheck{t, s.template} }

func (c templateCheck) fail() {
	if r := recover(); r != nil {
		c.t.Errorf("%v", r)
	}
}

func (c templateCheck) HasResourceProperties(typ *string, p any) {
	c.t.Helper()
	defer c.fail()
	c.tm.HasResourceProperties(typ, p)
}

func (c templateCheck) HasResource(typ *string, p any) {
	c.t.Helper()
	defer c.fail()
	c.tm.HasResource(typ, p)
}

func (c templateCheck) AllResourcesProperties(typ *string, p any) {
	c.t.Helper()
	defer c.fail()
	c.tm.AllResourcesProperties(typ, p)
}

func (c templateCheck) ResourceCountIs(typ *string, n *float64) {
	c.t.Helper()
	defer c.fail()
	c.tm.ResourceCountIs(typ, n)
}
