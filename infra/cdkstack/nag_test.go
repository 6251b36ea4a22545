package cdkstack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// nagErrors returns the unsuppressed AwsSolutions errors of a stack.
func nagErrors(s *synthesized) []string {
	var out []string
	for _, m := range *s.ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(".*"))) {
		msg := fmt.Sprint(m.Entry.Data)
		if i := strings.Index(msg, ":"); i > 0 && len(msg) > 160 {
			msg = msg[:i]
		}
		out = append(out, fmt.Sprintf("%s %s", *m.Id, msg))
	}
	return out
}

func checkNag(t *testing.T, v *variant) {
	s := v.get(t)
	for _, e := range nagErrors(s) {
		t.Errorf("%s: unsuppressed: %s", s.stack.Cfg.Stage, e)
	}
	for _, x := range s.stack.Suppressions {
		if len(strings.Fields(x.Reason)) < 8 {
			t.Errorf("suppression %s on %s has no real reason: %q", x.Rule, x.Path, x.Reason)
		}
	}
}

func TestCdkNagAwsSolutionsDev(t *testing.T)              { checkNag(t, devStack) }
func TestCdkNagAwsSolutionsProdRS256(t *testing.T)        { checkNag(t, prodStack) }
func TestCdkNagAwsSolutionsExternalDatabase(t *testing.T) { checkNag(t, externalStack) }
