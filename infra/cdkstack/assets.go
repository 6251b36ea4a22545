package cdkstack

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/mad-bio/mad/shared/stack"
)

// MissingAssets lists the Go functions whose bootstrap is not under dir.
func MissingAssets(dir string) []string {
	var missing []string
	for _, f := range stack.Functions {
		if f.Image {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, f.Name, "bootstrap")); err != nil {
			missing = append(missing, f.Name)
		}
	}
	return missing
}

// WritePlaceholderAssets creates dir/<name>/bootstrap for every Go
// function: a shell script that fails. Synthesis only hashes asset
// directories, so tests and CI can synthesize without `make build`; a
// template synthesized this way must never be deployed.
func WritePlaceholderAssets(dir string) error {
	for _, f := range stack.Functions {
		if f.Image {
			continue
		}
		d := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("placeholder asset %s: %w", f.Name, err)
		}
		body := fmt.Sprintf("#!/bin/sh\necho 'placeholder for %s: run make build' >&2\nexit 1\n", f.Name)
		if err := os.WriteFile(filepath.Join(d, "bootstrap"), []byte(body), 0o755); err != nil {
			return fmt.Errorf("placeholder asset %s: %w", f.Name, err)
		}
	}
	return nil
}

// BlockDeployment adds a CloudFormation rule that always fails, with why,
// so a template synthesized for inspection only cannot be deployed.
func BlockDeployment(s *Stack, why string) {
	awscdk.NewCfnRule(s.St, jsii.String("NotDeployable"), &awscdk.CfnRuleProps{
		Assertions: &[]*awscdk.CfnRuleAssertion{{
			Assert:            awscdk.Fn_ConditionEquals(jsii.String("placeholder-assets"), jsii.String("deployable")),
			AssertDescription: jsii.String(why),
		}},
	})
}
