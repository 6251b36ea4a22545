package main

import "testing"

func TestParseBenchLine(t *testing.T) {
	s, ok := parseBenchLine("BenchmarkVerifyHS256-2   \t  123456\t      9876 ns/op\t    4544 B/op\t      75 allocs/op")
	if !ok || s.Name != "VerifyHS256" || s.N != 123456 || s.Metrics["ns/op"] != 9876 || s.Metrics["allocs/op"] != 75 {
		t.Fatalf("%+v %v", s, ok)
	}
	s, ok = parseBenchLine("BenchmarkJobsAPI/status/sql/c=16-2 \t 19692\t 68274 ns/op\t 0 errors\t 0.4929 p50-ms\t 4.000 stmts")
	if !ok || s.Name != "JobsAPI/status/sql/c=16" || s.Metrics["p50-ms"] != 0.4929 || s.Metrics["stmts"] != 4 {
		t.Fatalf("%+v %v", s, ok)
	}
	for _, l := range []string{"PASS", "goos: linux", "BenchmarkX-2 \t{\"json\":1}", "--- FAIL: BenchmarkX"} {
		if _, ok := parseBenchLine(l); ok {
			t.Errorf("parsed %q", l)
		}
	}
}

func TestMedian(t *testing.T) {
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 3, 2}) != 2.5 || median(nil) != 0 {
		t.Fatal("median")
	}
}
