package cdkstack

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/mad-bio/mad/shared/routes"
	"github.com/mad-bio/mad/shared/stack"
)

// MetricsNamespace is the EMF namespace of the functions (shared/obs).
const MetricsNamespace = "MAD"

// EMF metric names the dashboard shows; the functions emit them with
// obs.Metric.
const (
	MetricJobsCreated   = "JobsCreated"
	MetricJobsCompleted = "JobsCompleted"
	MetricJobsFailed    = "JobsFailed"
	MetricAuthFailures  = "AuthFailures"
)

func (s *Stack) buildMonitoring() {
	s.AlarmTopic = awssns.NewTopic(s.St, jsii.String("AlarmTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(fmt.Sprintf("mad-%s-alarms", s.Cfg.Stage)),
		DisplayName: jsii.String(fmt.Sprintf("MAD %s alarms", s.Cfg.Stage)),
		MasterKey:   s.Key,
		EnforceSSL:  jsii.Bool(true),
	})
	if s.Cfg.AlarmEmail != "" {
		s.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(s.Cfg.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(s.AlarmTopic)

	minute := awscdk.Duration_Minutes(jsii.Number(1))
	five := awscdk.Duration_Minutes(jsii.Number(5))
	jobs, jobsDLQ := s.Queues[stack.QueueJobs], s.Queues[stack.QueueJobsDLQ]

	newAlarm := func(id, desc string, m awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator) {
		al := awscloudwatch.NewAlarm(s.St, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(fmt.Sprintf("mad-%s-%s", s.Cfg.Stage, id)),
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: op,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		al.AddAlarmAction(action)
	}
	gt := awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD
	gte := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	max := jsii.String("Maximum")
	sum := jsii.String("Sum")

	newAlarm("jobs-dlq-not-empty", "Job messages reached the jobs DLQ: the dlq function marks them FAILED; find out why",
		jobsDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: minute, Statistic: max}), 0, gt)
	newAlarm("uploads-dlq-not-empty", "Upload events reached the uploads DLQ: ingest could not register them",
		s.UploadsDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: minute, Statistic: max}), 0, gt)
	newAlarm("jobs-oldest-message-age", fmt.Sprintf("The oldest job waited over %d s: the engine is not keeping up", s.Cfg.JobsOldestMessageAgeAlarmSecs),
		jobs.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Statistic: max}),
		float64(s.Cfg.JobsOldestMessageAgeAlarmSecs), gt)
	newAlarm("api-5xx", "The HTTP API answered 5xx (5 or more in 5 minutes)",
		s.API.MetricServerError(&awscloudwatch.MetricOptions{Period: five, Statistic: sum}), 5, gte)
	newAlarm("authorizer-errors", "The authorizer failed (errors make API Gateway answer 500)",
		s.Functions[routes.FnAuthorizer].MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: sum}), 1, gte)
	newAlarm("engine-errors", "The engine returned errors (each is a retried job) 3 or more times in 15 minutes",
		s.Functions[routes.FnEngine].MetricErrors(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(15)), Statistic: sum}), 3, gte)
	// A CloudWatch alarm takes at most 10 metrics: one alarm per group.
	for _, g := range []struct {
		id, desc string
		fns      []string
	}{
		{"api-throttles", "Lambda throttled the API functions or the authorizer",
			[]string{routes.FnAuthorizer, routes.FnHealth, routes.FnAuth, routes.FnAdmin, routes.FnMolecules, routes.FnJobs}},
		{"async-throttles", "Lambda throttled the engine, ingest, dlq, sweeper, migrate or rotate function",
			[]string{routes.FnEngine, routes.FnIngest, routes.FnDLQ, routes.FnSweeper, routes.FnMigrate, routes.FnRotate}},
	} {
		newAlarm(g.id, g.desc, s.sumOf(g.fns, "Throttles", five), 1, gte)
	}

	s.buildDashboard()
}

// sumOf is the sum of one Lambda metric over several functions.
func (s *Stack) sumOf(fns []string, metric string, period awscdk.Duration) awscloudwatch.IMetric {
	using := map[string]awscloudwatch.IMetric{}
	expr := ""
	for i, fn := range fns {
		id := fmt.Sprintf("m%d", i)
		using[id] = s.Functions[fn].Metric(jsii.String(metric), &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")})
		if expr != "" {
			expr += "+"
		}
		expr += id
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(expr),
		UsingMetrics: &using,
		Label:        jsii.String(metric),
		Period:       period,
	})
}

// emf graphs an EMF metric of the MAD namespace whatever its dimensions.
func emf(name, label string) awscloudwatch.IMetric {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf(`SEARCH('Namespace="%s" MetricName="%s"', 'Sum', 300)`, MetricsNamespace, name)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Label:        jsii.String(label),
		Period:       awscdk.Duration_Minutes(jsii.Number(5)),
	})
}

func (s *Stack) buildDashboard() {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	jobs, jobsDLQ, uploads := s.Queues[stack.QueueJobs], s.Queues[stack.QueueJobsDLQ], s.Queues[stack.QueueUploads]
	graph := func(title string, left []awscloudwatch.IMetric, right []awscloudwatch.IMetric) awscloudwatch.IWidget {
		p := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(12), Height: jsii.Number(6), Left: &left}
		if len(right) > 0 {
			p.Right = &right
		}
		return awscloudwatch.NewGraphWidget(p)
	}
	q := func(m awscloudwatch.Metric, label string) awscloudwatch.IMetric {
		return m.With(&awscloudwatch.MetricOptions{Label: jsii.String(label), Period: minute, Statistic: jsii.String("Maximum")})
	}
	lat := func(stat, label string) awscloudwatch.IMetric {
		return s.API.MetricLatency(&awscloudwatch.MetricOptions{Statistic: jsii.String(stat), Label: jsii.String(label), Period: five})
	}
	fnMetric := func(fn, metric, stat string) awscloudwatch.IMetric {
		return s.Functions[fn].Metric(jsii.String(metric), &awscloudwatch.MetricOptions{
			Statistic: jsii.String(stat), Period: five, Label: jsii.String(fn + " " + metric),
		})
	}
	rows := [][]awscloudwatch.IWidget{
		{
			graph("Jobs", []awscloudwatch.IMetric{
				emf(MetricJobsCreated, "created"), emf(MetricJobsCompleted, "completed"), emf(MetricJobsFailed, "failed"),
			}, nil),
			graph("Queue depth", []awscloudwatch.IMetric{
				q(jobs.MetricApproximateNumberOfMessagesVisible(nil), "jobs waiting"),
				q(jobs.MetricApproximateNumberOfMessagesNotVisible(nil), "jobs running"),
				q(jobsDLQ.MetricApproximateNumberOfMessagesVisible(nil), "jobs DLQ"),
				q(uploads.MetricApproximateNumberOfMessagesVisible(nil), "uploads waiting"),
				q(s.UploadsDLQ.MetricApproximateNumberOfMessagesVisible(nil), "uploads DLQ"),
			}, []awscloudwatch.IMetric{
				q(jobs.MetricApproximateAgeOfOldestMessage(nil), "oldest job (s)"),
			}),
		},
		{
			graph("API latency", []awscloudwatch.IMetric{lat("p50", "p50"), lat("p99", "p99")}, nil),
			graph("API requests and errors", []awscloudwatch.IMetric{
				s.API.MetricCount(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum"), Label: jsii.String("requests")}),
				s.API.MetricClientError(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum"), Label: jsii.String("4xx")}),
				s.API.MetricServerError(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum"), Label: jsii.String("5xx")}),
			}, nil),
		},
		{
			graph("Auth failures", []awscloudwatch.IMetric{
				emf(MetricAuthFailures, "rejected tokens"),
				fnMetric(routes.FnAuthorizer, "Errors", "Sum"),
			}, nil),
			graph("Engine", []awscloudwatch.IMetric{
				fnMetric(routes.FnEngine, "Invocations", "Sum"),
				fnMetric(routes.FnEngine, "Errors", "Sum"),
				fnMetric(routes.FnEngine, "ConcurrentExecutions", "Maximum"),
			}, []awscloudwatch.IMetric{
				fnMetric(routes.FnEngine, "Duration", "p90"),
			}),
		},
	}
	var widgets [][]awscloudwatch.IWidget
	widgets = append(widgets, rows...)
	ptrs := make([]*[]awscloudwatch.IWidget, len(widgets))
	for i := range widgets {
		ptrs[i] = &widgets[i]
	}
	awscloudwatch.NewDashboard(s.St, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(fmt.Sprintf("mad-%s", s.Cfg.Stage)),
		Widgets:       &ptrs,
	})
}

func (s *Stack) buildOutputs() {
	out := func(id, desc string, v *string) {
		awscdk.NewCfnOutput(s.St, jsii.String(id), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out("ApiUrl", "Base URL of the HTTP API", s.APIURL())
	out("JwksUrl", "Public JWT keys (RS256/ES256; empty set for HS256)",
		awscdk.Fn_Join(jsii.String(""), jsii.Strings(*s.APIURL(), ".well-known/jwks.json")))
	out("ArtifactsBucketName", "Molecules and job artifacts", s.Artifacts.BucketName())
	out("UploadsBucketName", "Presigned uploads", s.Uploads.BucketName())
	out("JobsQueueName", "Jobs queue (engine)", s.Queues[stack.QueueJobs].QueueName())
	out("JobsQueueUrl", "Jobs queue URL", s.Queues[stack.QueueJobs].QueueUrl())
	out("JobsDlqName", "Jobs dead-letter queue (dlq function)", s.Queues[stack.QueueJobsDLQ].QueueName())
	out("UploadsQueueName", "Uploads queue (ingest)", s.Queues[stack.QueueUploads].QueueName())
	out("UploadsDlqName", "Uploads dead-letter queue", s.UploadsDLQ.QueueName())
	out("KmsKeyArn", "The stack's KMS key", s.Key.KeyArn())
	out("JwtSecretArn", "JWT signing secret", s.JWTSecret.SecretArn())
	out("AlarmTopicArn", "Alarm notifications", s.AlarmTopic.TopicArn())
	if s.Proxy != nil {
		out("DbProxyEndpoint", "RDS Proxy endpoint", s.Proxy.Endpoint())
	}
}
