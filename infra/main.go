// Command infra is MAD's CDK app: it validates the context, builds the
// stack, checks it with cdk-nag (AwsSolutions) and writes the cloud
// assembly to cdk.out (or $CDK_OUTDIR when the CDK CLI runs it).
//
//	go run ./infra                        # synth to cdk.out, print stats
//	go run ./infra -c stage=prod -c rootEmail=ops@example.com
//	npx aws-cdk@2 deploy                  # cdk.json runs `go run ./infra`
//
// Context given with -c here is merged over cdk.json's and the CLI's.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/mad-bio/mad/infra/cdkstack"
)

// placeholderError explains why a stack synthesized on placeholder
// function code cannot be deployed.
const placeholderError = "synthesized with placeholder function assets (-c placeholderAssets=true): run make build and synthesize again before deploying"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	start := time.Now()
	extra, err := parseContextFlags(args)
	if err != nil {
		return err
	}
	outdir := os.Getenv("CDK_OUTDIR")
	if outdir == "" {
		outdir = "cdk.out"
	}
	ctx := cdkstack.FeatureFlags()
	for k, v := range extra {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &ctx})
	get := func(k string) any { return app.Node().TryGetContext(jsii.String(k)) }
	cfg, err := cdkstack.NewConfig(get)
	if err != nil {
		return err
	}

	// Go functions are zip assets of build/functions/<name>; without them
	// synthesis can still run on placeholders (-c placeholderAssets=true),
	// which the annotation below makes impossible to deploy by accident.
	placeholders := fmt.Sprint(get("placeholderAssets")) == "true"
	if missing := cdkstack.MissingAssets(cfg.BuildDir); len(missing) > 0 {
		if !placeholders {
			return fmt.Errorf("no bootstrap for %s under %s: run `make build`, set -c buildDir=..., or synthesize only with -c placeholderAssets=true",
				strings.Join(missing, ", "), cfg.BuildDir)
		}
		dir, err := os.MkdirTemp("", "mad-placeholder-assets-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := cdkstack.WritePlaceholderAssets(dir); err != nil {
			return err
		}
		cfg.BuildDir = dir
	}

	st := cdkstack.New(app, "Mad-"+cfg.Stage, cfg, nil)
	if placeholders {
		cdkstack.BlockDeployment(st, placeholderError)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	asm, err := synth(app)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	stackArt := asm.GetStackByName(st.St.StackName())
	tmplPath := filepath.Join(*asm.Directory(), *stackArt.TemplateFile())
	info, err := os.Stat(tmplPath)
	if err != nil {
		return err
	}
	var tmpl struct {
		Resources map[string]any `json:"Resources"`
	}
	b, err := os.ReadFile(tmplPath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		return fmt.Errorf("read template: %w", err)
	}
	fmt.Fprintf(os.Stderr, "synthesized %s in %.1fs: %s (%d bytes, %d resources)\n",
		*st.St.StackName(), elapsed.Seconds(), tmplPath, info.Size(), len(tmpl.Resources))

	var errs []string
	for _, m := range *stackArt.Messages() {
		if m.Level == "error" {
			errs = append(errs, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d error annotation(s) (cdk-nag or CDK):\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
	return nil
}

// synth runs the synthesis; CDK reports failed validation (cdk-nag errors,
// CloudFormation checks) by throwing, which jsii turns into a panic.
func synth(app awscdk.App) (asm cxapi.CloudAssembly, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synthesis failed (the errors are listed above): %v", r)
		}
	}()
	return app.Synth(nil), nil
}

// parseContextFlags reads `-c key=value` / `--context key=value` pairs, as
// the CDK CLI accepts them, for runs without the CLI.
func parseContextFlags(args []string) (map[string]any, error) {
	out := map[string]any{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var kv string
		switch {
		case a == "-c" || a == "--context":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s needs key=value", a)
			}
			i++
			kv = args[i]
		case strings.HasPrefix(a, "--context="):
			kv = strings.TrimPrefix(a, "--context=")
		default:
			return nil, fmt.Errorf("unknown argument %q (want -c key=value)", a)
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("context %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
