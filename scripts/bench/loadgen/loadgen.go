// Package loadgen is the closed-loop load generator of `make bench`: C
// clients each send one request, wait for its answer and send the next,
// for a fixed duration or a fixed total count. It records every
// latency, so the percentiles are exact (no histogram buckets), and it
// formats results as Go benchmark lines that benchstat reads.
//
// The HTTP benchmarks (through the local gateway) and the in-process
// benchmarks (functions/jobs/bench_test.go, driven by testing.B) share it,
// so the figures they print are computed the same way.
package loadgen

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Op is one request. It returns an error for a failed request (a
// transport error or an unexpected status); failures are counted and
// their latencies kept out of the percentiles.
type Op func(ctx context.Context) error

// Result is one load run.
type Result struct {
	Clients   int
	N         int           // successful requests
	Errors    int           // failed requests
	FirstErr  string        // the first failure, for the report
	Wall      time.Duration // from the first send to the last answer
	Latencies []time.Duration
}

// Run drives op from clients concurrent clients until total requests were
// sent (total > 0) or d elapsed (total == 0), whichever is set.
func Run(ctx context.Context, clients, total int, d time.Duration, op Op) Result {
	if clients < 1 {
		clients = 1
	}
	var (
		sent     atomic.Int64
		errs     atomic.Int64
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
		perLat   = make([][]time.Duration, clients)
	)
	deadline := time.Time{}
	start := time.Now()
	if total <= 0 {
		deadline = start.Add(d)
	}
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			for ctx.Err() == nil {
				if total > 0 {
					if sent.Add(1) > int64(total) {
						break
					}
				} else if time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				err := op(ctx)
				el := time.Since(t0)
				if err != nil {
					if errs.Add(1) == 1 {
						s := err.Error()
						firstErr.Store(&s)
					}
					continue
				}
				lat = append(lat, el)
			}
			perLat[c] = lat
		}()
	}
	wg.Wait()
	r := Result{Clients: clients, Wall: time.Since(start), Errors: int(errs.Load())}
	if p := firstErr.Load(); p != nil {
		r.FirstErr = *p
	}
	for _, l := range perLat {
		r.Latencies = append(r.Latencies, l...)
	}
	slices.Sort(r.Latencies)
	r.N = len(r.Latencies)
	return r
}

// Quantile returns the q-quantile (0..1) of the successful latencies,
// nearest rank.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(r.Latencies)))) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// RPS is successful requests per second of wall time.
func (r Result) RPS() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.N) / r.Wall.Seconds()
}

// NsPerOp is wall time per request (the inverse of the throughput), as
// testing.B reports for parallel benchmarks.
func (r Result) NsPerOp() float64 {
	if r.N == 0 {
		return 0
	}
	return float64(r.Wall.Nanoseconds()) / float64(r.N)
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// Metrics are the figures reported besides ns/op, by unit.
func (r Result) Metrics() map[string]float64 {
	return map[string]float64{
		"p50-ms": ms(r.Quantile(0.50)), "p95-ms": ms(r.Quantile(0.95)), "p99-ms": ms(r.Quantile(0.99)),
		"req/s": r.RPS(), "errors": float64(r.Errors),
	}
}

// MetricOrder is the column order of Metrics.
var MetricOrder = []string{"p50-ms", "p95-ms", "p99-ms", "req/s", "errors"}

// Report puts r's figures on b (ns/op is b's own: wall / b.N).
func (r Result) Report(b *testing.B) {
	m := r.Metrics()
	for _, k := range MetricOrder {
		b.ReportMetric(m[k], k)
	}
}

// Bench runs b.N requests from clients clients and reports the figures;
// use it as the body of a (sub-)benchmark.
func Bench(b *testing.B, clients int, op Op) Result {
	b.Helper()
	b.ResetTimer()
	r := Run(context.Background(), clients, b.N, 0, op)
	b.StopTimer()
	if r.N == 0 && r.Errors > 0 {
		b.Fatalf("every request failed; first: %s", r.FirstErr)
	}
	r.Report(b)
	return r
}

// BenchLine formats r as a `go test -bench` result line (name without the
// Benchmark prefix; the -GOMAXPROCS suffix is added like testing does).
func (r Result) BenchLine(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Benchmark%s-%d\t%8d\t%12.0f ns/op", name, runtime.GOMAXPROCS(0), r.N, r.NsPerOp())
	m := r.Metrics()
	for _, k := range MetricOrder {
		fmt.Fprintf(&b, "\t%12.4g %s", m[k], k)
	}
	return b.String()
}
