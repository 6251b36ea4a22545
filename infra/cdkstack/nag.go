package cdkstack

import (
	"fmt"
	"strings"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/stack"
)

// Suppression is one cdk-nag finding accepted on purpose, with its reason.
type Suppression struct {
	Rule, Reason string
	// AppliesTo narrows a granular rule (IAM5) to these findings; a value
	// starting with "regex:" is a regular expression.
	AppliesTo []string
}

func (x Suppression) nag() *cdknag.NagPackSuppression {
	p := &cdknag.NagPackSuppression{Id: jsii.String(x.Rule), Reason: jsii.String(x.Reason)}
	if len(x.AppliesTo) > 0 {
		var a []any
		for _, v := range x.AppliesTo {
			if r, ok := strings.CutPrefix(v, "regex:"); ok {
				a = append(a, map[string]any{"regex": r})
			} else {
				a = append(a, v)
			}
		}
		p.AppliesTo = &a
	}
	return p
}

// suppress records and applies suppressions on a construct.
func (s *Stack) suppress(c any, path string, xs ...Suppression) {
	var ps []*cdknag.NagPackSuppression
	for _, x := range xs {
		ps = append(ps, x.nag())
		s.Suppressions = append(s.Suppressions, AppliedSuppression{Path: path, Suppression: x})
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &ps, jsii.Bool(true))
}

// AppliedSuppression is a suppression and where it applies (for reports).
type AppliedSuppression struct {
	Path string
	Suppression
}

// Reasons shared by several suppressions.
const (
	reasonENI = "AWS requires Resource \"*\" for the VPC network-interface actions a VPC Lambda's execution role must have " +
		"(ec2:DescribeNetworkInterfaces has no resource-level permissions; the interfaces do not exist before Lambda creates them); " +
		"the same statement as the AWS managed AWSLambdaVPCAccessExecutionRole."
	reasonS3Keys = "Object keys are <org_id>/<class>/<id>: the wildcard spans org ids (server-generated UUIDs) only; " +
		"the fixed class segment (jobs, molecules, uploads) is what limits each function to its own kind of object."
)

// addNagSuppressions accepts the AwsSolutions findings this design
// produces on purpose. Every reason is specific; nothing is suppressed
// stack-wide.
func (s *Stack) addNagSuppressions() {
	// Public routes: the contract lists them as unauthenticated.
	for _, r := range routes.Table {
		if r.Public {
			s.suppress(s.Routes[r.Key()], "route "+r.Key(), Suppression{Rule: "AwsSolutions-APIG4",
				Reason: fmt.Sprintf("%s is public by the API contract (health, readiness, OpenAPI document, JWKS, login and refresh cannot require a token)", r.Key())})
		}
	}
	s.suppress(s.API.Node().FindChild(jsii.String("DefaultRoute")), "route $default", Suppression{Rule: "AwsSolutions-APIG4",
		Reason: "$default only answers unknown paths and methods with the contract's 404/405 body (health function); it serves no data, and an authorizer there would turn 404s into 401s"})

	for _, f := range stack.Functions {
		var xs []Suppression
		if s.inVPC(f) {
			xs = append(xs, Suppression{Rule: "AwsSolutions-IAM5", Reason: reasonENI, AppliesTo: []string{"Resource::*"}})
		}
		switch f.Name {
		case routes.FnMolecules, routes.FnJobs, routes.FnEngine, routes.FnIngest:
			xs = append(xs, Suppression{Rule: "AwsSolutions-IAM5", Reason: reasonS3Keys,
				AppliesTo: []string{`regex:/^Resource::<(Artifacts|Uploads)[0-9A-F]{8}\.Arn>\/\*\/(jobs|molecules|uploads)\/\*$/`}})
		case routes.FnRotate:
			xs = append(xs, Suppression{Rule: "AwsSolutions-IAM5", AppliesTo: []string{"Resource::*"},
				Reason: "Added by CDK's rotation schedule for secretsmanager:GetRandomPassword, which has no resource-level permissions" +
					map[bool]string{true: "; and kms:CreateKey, which has no resource before the key exists (restricted by kms:KeySpec, kms:KeyUsage and the stage tag)", false: ""}[s.asymmetricJWT()]})
		}
		if s.asymmetricJWT() && (f.Name == routes.FnAuthorizer || f.Name == routes.FnAuth || f.Name == routes.FnHealth || f.Name == routes.FnRotate) {
			xs = append(xs, Suppression{Rule: "AwsSolutions-IAM5",
				AppliesTo: []string{"Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"},
				Reason:    "JWT signing keys are created by the rotate function at run time, so their ids are unknown at deploy time; every statement is conditioned on the aws:ResourceTag/" + jwtKeyTag + " of this stage"})
		}
		if len(xs) > 0 {
			s.suppress(s.Roles[f.Name], "role "+f.Name, xs...)
		}
	}

	s.suppress(s.RootSecret, "secret root-user", Suppression{Rule: "AwsSolutions-SMG4",
		Reason: "Bootstrap credential of the first root user, read once by the migrate function; the application stores the password hashed and the operator changes it after first login. Secrets Manager cannot rotate an application user's password."})

	if s.DB != nil {
		s.suppress(s.DB, "database", Suppression{Rule: "AwsSolutions-RDS11",
			Reason: "The instance is reachable only from the RDS Proxy, migrate and rotation security groups in isolated subnets; a non-default port would add obscurity, not protection, and every client expects 5432"})
		if !s.prod() {
			s.suppress(s.DB, "database", Suppression{Rule: "AwsSolutions-RDS3",
				Reason: "Non-production stage: single-AZ to keep cost down; stages named prod* are Multi-AZ"},
				Suppression{Rule: "AwsSolutions-RDS10",
					Reason: "Non-production stage: deletion protection would block tearing down test stacks; stages named prod* have it and RETAIN the instance"})
		}
	}
}
