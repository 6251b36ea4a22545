package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/mad-bio/mad/scripts/bench/loadgen"
)

// apiPoint is one route at one concurrency through one layer.
type apiPoint struct {
	Route   string  `json:"route"` // status | create-cache-hit
	Layer   string  `json:"layer"` // gateway | inprocess | sql
	Clients int     `json:"clients"`
	N       int     `json:"requests"`
	Errors  int     `json:"errors"`
	P50     float64 `json:"p50_ms"`
	P95     float64 `json:"p95_ms"`
	P99     float64 `json:"p99_ms"`
	RPS     float64 `json:"rps"`
	Stmts   int     `json:"statements,omitempty"`  // sql: statements per request
	Trips   int     `json:"round_trips,omitempty"` // sql: round trips per request (a batch is one)
	First   string  `json:"first_error,omitempty"`
}

func pointFromResult(route, layer string, r loadgen.Result) apiPoint {
	m := r.Metrics()
	return apiPoint{Route: route, Layer: layer, Clients: r.Clients, N: r.N, Errors: r.Errors,
		P50: m["p50-ms"], P95: m["p95-ms"], P99: m["p99-ms"], RPS: m["req/s"], First: r.FirstErr}
}

func pointFromBench(route, layer string, clients int, s benchSample) apiPoint {
	return apiPoint{Route: route, Layer: layer, Clients: clients, N: int(s.N), Errors: int(s.Metrics["errors"]),
		P50: s.Metrics["p50-ms"], P95: s.Metrics["p95-ms"], P99: s.Metrics["p99-ms"], RPS: s.Metrics["req/s"],
		Stmts: int(s.Metrics["stmts"]), Trips: int(s.Metrics["round-trips"])}
}

// httpOp sends one request and expects status want; the body is read to
// the end so the connection is reused.
func httpOp(hc *http.Client, method, url, token string, body []byte, want int) loadgen.Op {
	return func(ctx context.Context) error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: %d %.200s", method, url, resp.StatusCode, b)
		}
		return nil
	}
}

// gatewayLoad drives route through the gateway at each concurrency for
// -duration (after a -warmup at the same concurrency, not counted).
func (b *bench) gatewayLoad(route string, op loadgen.Op, cpu func() map[string]float64) []apiPoint {
	var out []apiPoint
	before, t0, n := cpu(), time.Now(), 0
	defer func() {
		b.addCPU("3. gateway load: "+route+" (all c, warm-ups included)", "request", n, time.Since(t0), cpuDelta(before, cpu()))
	}()
	for _, c := range b.o.clients {
		w := loadgen.Run(b.ctx, c, 0, b.o.warmup, op)
		r := loadgen.Run(b.ctx, c, 0, b.o.duration, op)
		n += w.N + w.Errors + r.N + r.Errors
		b.benchLine(r.BenchLine(fmt.Sprintf("JobsAPI/%s/gateway/c=%d", route, c)))
		if r.Errors > 0 {
			fmt.Fprintf(b.out, "    %d errors; first: %s\n", r.Errors, r.FirstErr)
		}
		out = append(out, pointFromResult(route, "gateway", r))
	}
	return out
}

// cpuRow is one component's CPU time during a phase.
type cpuRow struct {
	Phase     string  `json:"phase"`
	Component string  `json:"component"`
	Seconds   float64 `json:"cpu_seconds"`
	Cores     float64 `json:"cores"` // Seconds / wall time
	PerOpMS   float64 `json:"cpu_ms_per_op"`
	Op        string  `json:"op"`
	Ops       int     `json:"ops"`
}

// addCPU records a phase's CPU split, largest first.
func (b *bench) addCPU(phase, op string, ops int, wall time.Duration, d map[string]float64) {
	var rows []cpuRow
	for k, v := range d {
		rows = append(rows, cpuRow{Phase: phase, Component: k, Seconds: v, Cores: v / wall.Seconds(), PerOpMS: div(v*1000, float64(ops)), Op: op, Ops: ops})
	}
	slices.SortFunc(rows, func(a, b cpuRow) int {
		switch {
		case a.Seconds > b.Seconds:
			return -1
		case a.Seconds < b.Seconds:
			return 1
		}
		return 0
	})
	b.rep.CPU = append(b.rep.CPU, rows...)
}
