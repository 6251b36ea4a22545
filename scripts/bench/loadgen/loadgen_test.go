package loadgen

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsAndQuantiles(t *testing.T) {
	var calls atomic.Int64
	r := Run(context.Background(), 4, 100, 0, func(context.Context) error {
		if calls.Add(1)%10 == 0 {
			return errors.New("every tenth fails")
		}
		return nil
	})
	if calls.Load() != 100 || r.N != 90 || r.Errors != 10 || r.FirstErr != "every tenth fails" {
		t.Fatalf("calls %d, result N=%d errors=%d first=%q", calls.Load(), r.N, r.Errors, r.FirstErr)
	}
	for i := 1; i < len(r.Latencies); i++ {
		if r.Latencies[i] < r.Latencies[i-1] {
			t.Fatal("latencies not sorted")
		}
	}
}

func TestQuantileNearestRank(t *testing.T) {
	r := Result{}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.95: 95 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := r.Quantile(q); got != want {
			t.Errorf("q%.2f = %s, want %s", q, got, want)
		}
	}
	if (Result{}).Quantile(0.5) != 0 {
		t.Error("empty result")
	}
}

func TestRunForDuration(t *testing.T) {
	r := Run(context.Background(), 2, 0, 50*time.Millisecond, func(context.Context) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if r.N == 0 || r.Wall < 50*time.Millisecond {
		t.Fatalf("N=%d wall=%s", r.N, r.Wall)
	}
}

func TestBenchLineIsABenchmarkLine(t *testing.T) {
	r := Result{Clients: 1, N: 3, Wall: 3 * time.Millisecond, Latencies: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}}
	line := r.BenchLine("X/c=1")
	f := strings.Fields(line)
	if !strings.HasPrefix(f[0], "BenchmarkX/c=1-") || f[1] != "3" || f[3] != "ns/op" || len(f)%2 != 0 {
		t.Fatalf("%q", line)
	}
}
