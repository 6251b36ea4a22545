package cdkstack

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/jsii-runtime-go"

	"github.com/mad-bio/mad/shared/routes"
)

// AccessLogFields is the JSON access log line of the HTTP API: the
// request id, the route, the outcome, and the org and user the authorizer
// put in its context.
var AccessLogFields = map[string]string{
	"requestId":          "$context.requestId",
	"requestTime":        "$context.requestTime",
	"ip":                 "$context.identity.sourceIp",
	"userAgent":          "$context.identity.userAgent",
	"httpMethod":         "$context.httpMethod",
	"path":               "$context.path",
	"routeKey":           "$context.routeKey",
	"status":             "$context.status",
	"protocol":           "$context.protocol",
	"responseLength":     "$context.responseLength",
	"latency":            "$context.responseLatency",
	"integrationLatency": "$context.integrationLatency",
	"integrationError":   "$context.integrationErrorMessage",
	"authorizerError":    "$context.authorizer.error",
	"orgId":              "$context.authorizer.org_id",
	"sub":                "$context.authorizer.sub",
}

// buildAPI creates the HTTP API: a route per entry of routes.Table, the
// Lambda authorizer on every non-public route, $default to health.
func (s *Stack) buildAPI() {
	integrations := map[string]awsapigatewayv2integrations.HttpLambdaIntegration{}
	integration := func(fn string) awsapigatewayv2.HttpRouteIntegration {
		if i, ok := integrations[fn]; ok {
			return i
		}
		i := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(fn+"Integration"), s.Functions[fn],
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
				PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
			})
		integrations[fn] = i
		return i
	}

	var cors *awsapigatewayv2.CorsPreflightOptions
	if len(s.Cfg.CORSOrigins) > 0 {
		cors = &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(s.Cfg.CORSOrigins...),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{
				awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_PATCH,
				awsapigatewayv2.CorsHttpMethod_DELETE, awsapigatewayv2.CorsHttpMethod_OPTIONS,
			},
			AllowHeaders:  jsii.Strings("Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"),
			ExposeHeaders: jsii.Strings("X-Request-Id", "Retry-After", "Location"),
			MaxAge:        awscdk.Duration_Hours(jsii.Number(1)),
		}
	}
	s.API = awsapigatewayv2.NewHttpApi(s.St, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(fmt.Sprintf("mad-%s", s.Cfg.Stage)),
		Description:        jsii.String(fmt.Sprintf("MAD API, stage %s", s.Cfg.Stage)),
		CreateDefaultStage: jsii.Bool(false),
		// $default: unknown paths and methods get the contract's 404/405
		// body from the health function, without an authorizer.
		DefaultIntegration: integration(routes.FnHealth),
		CorsPreflight:      cors,
	})

	authorizer := awsapigatewayv2authorizers.NewHttpLambdaAuthorizer(jsii.String("JwtAuthorizer"), s.Functions[routes.FnAuthorizer],
		&awsapigatewayv2authorizers.HttpLambdaAuthorizerProps{
			AuthorizerName:  jsii.String(fmt.Sprintf("mad-%s-jwt", s.Cfg.Stage)),
			IdentitySource:  jsii.Strings("$request.header.Authorization"),
			ResponseTypes:   &[]awsapigatewayv2authorizers.HttpLambdaResponseType{awsapigatewayv2authorizers.HttpLambdaResponseType_SIMPLE},
			ResultsCacheTtl: awscdk.Duration_Seconds(jsii.Number(float64(s.Cfg.AuthorizerCacheTTLSeconds))),
		})
	for _, r := range routes.Table {
		opts := &awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integration(r.Function),
		}
		if r.Public {
			opts.Authorizer = awsapigatewayv2.NewHttpNoneAuthorizer()
		} else {
			opts.Authorizer = authorizer
		}
		for _, route := range *s.API.AddRoutes(opts) {
			s.Routes[r.Key()] = route
		}
	}

	accessLogs := s.logGroup("ApiAccessLogs", fmt.Sprintf("/aws/apigateway/mad-%s-http-api", s.Cfg.Stage))
	s.APIStage = awsapigatewayv2.NewHttpStage(s.St, jsii.String("ApiDefaultStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:                s.API,
		StageName:              jsii.String("$default"),
		AutoDeploy:             jsii.Bool(true),
		DetailedMetricsEnabled: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(float64(s.Cfg.ThrottleRateLimit)),
			BurstLimit: jsii.Number(float64(s.Cfg.ThrottleBurstLimit)),
		},
	})
	format, err := json.Marshal(AccessLogFields)
	if err != nil {
		panic(err)
	}
	cfnStage := s.APIStage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(string(format)),
	})
}

// APIURL is the API's base URL (ends with "/").
func (s *Stack) APIURL() *string { return s.APIStage.Url() }
