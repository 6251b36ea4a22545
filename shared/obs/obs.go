// Package obs provides structured logging and metrics: a log/slog JSON
// handler that adds the request, org, user and job of the context to every
// line, and CloudWatch Embedded Metric Format (EMF) metric lines.
package obs

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

type ctxKey struct{}

// Fields are the correlation ids a log line carries when known.
type Fields struct {
	RequestID string
	OrgID     string
	UserID    string
	JobID     string
	UploadID  string
}

// With returns ctx carrying f merged over any fields already present.
func With(ctx context.Context, f Fields) context.Context {
	cur := From(ctx)
	if f.RequestID != "" {
		cur.RequestID = f.RequestID
	}
	if f.OrgID != "" {
		cur.OrgID = f.OrgID
	}
	if f.UserID != "" {
		cur.UserID = f.UserID
	}
	if f.JobID != "" {
		cur.JobID = f.JobID
	}
	if f.UploadID != "" {
		cur.UploadID = f.UploadID
	}
	return context.WithValue(ctx, ctxKey{}, cur)
}

// From returns the fields carried by ctx.
func From(ctx context.Context) Fields {
	f, _ := ctx.Value(ctxKey{}).(Fields)
	return f
}

// RequestID returns the request id carried by ctx, if any.
func RequestID(ctx context.Context) string { return From(ctx).RequestID }

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	f := From(ctx)
	if f.RequestID != "" {
		r.AddAttrs(slog.String("request_id", f.RequestID))
	}
	if f.OrgID != "" {
		r.AddAttrs(slog.String("org_id", f.OrgID))
	}
	if f.UserID != "" {
		r.AddAttrs(slog.String("user_id", f.UserID))
	}
	if f.JobID != "" {
		r.AddAttrs(slog.String("job_id", f.JobID))
	}
	if f.UploadID != "" {
		r.AddAttrs(slog.String("upload_id", f.UploadID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(a []slog.Attr) slog.Handler { return handler{h.Handler.WithAttrs(a)} }
func (h handler) WithGroup(n string) slog.Handler      { return handler{h.Handler.WithGroup(n)} }

// NewLogger returns a JSON logger writing to w with the function name on
// every line. JSON escaping keeps user-supplied strings from forging lines.
func NewLogger(w io.Writer, level slog.Level, function string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(handler{h}).With(slog.String("function", function))
}

// Setup installs the default logger for a Lambda function (stdout, which
// Lambda ships to CloudWatch Logs) and returns it.
func Setup(level slog.Level, function string) *slog.Logger {
	l := NewLogger(os.Stdout, level, function)
	slog.SetDefault(l)
	return l
}

// Namespace is the CloudWatch namespace of MAD's metrics.
const Namespace = "MAD"

var emfMu sync.Mutex

// MetricsOut is where EMF lines go; stdout in Lambda.
var metricsOut io.Writer = os.Stdout

// SetMetricsOutput redirects metric lines (tests).
func SetMetricsOutput(w io.Writer) { metricsOut = w }

// Metric writes one CloudWatch Embedded Metric Format line: CloudWatch
// turns it into a metric without any API call from the function.
func Metric(function, name string, value float64, unit string, dims map[string]string) {
	dimNames := []string{"Function"}
	line := map[string]any{"Function": function, name: value}
	for k, v := range dims {
		dimNames = append(dimNames, k)
		line[k] = v
	}
	line["_aws"] = map[string]any{
		"Timestamp": time.Now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": [][]string{dimNames},
			"Metrics":    []any{map[string]any{"Name": name, "Unit": unit}},
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	emfMu.Lock()
	defer emfMu.Unlock()
	_, _ = metricsOut.Write(append(b, '\n'))
}
