package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// benchSample is one `Benchmark...` result line.
type benchSample struct {
	Name    string             // without the -GOMAXPROCS suffix
	N       int64              // iterations
	Metrics map[string]float64 // unit -> value ("ns/op", "allocs/op", "p50-ms", ...)
}

// parseBenchLine parses a result line of `go test -bench`; ok is false for
// any other line.
func parseBenchLine(line string) (benchSample, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return benchSample{}, false
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return benchSample{}, false
	}
	name := f[0]
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	s := benchSample{Name: strings.TrimPrefix(name, "Benchmark"), N: n, Metrics: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchSample{}, false
		}
		s.Metrics[f[i+1]] = v
	}
	return s, true
}

// benchSet is every sample of a run, by name.
type benchSet map[string][]benchSample

func (s benchSet) merge(o benchSet) {
	for k, v := range o {
		s[k] = append(s[k], v...)
	}
}

// median returns the median of unit over name's samples (0 when absent).
func (s benchSet) median(name, unit string) float64 {
	var v []float64
	for _, x := range s[name] {
		if m, ok := x.Metrics[unit]; ok {
			v = append(v, m)
		}
	}
	return median(v)
}

// spread returns min and max of unit over name's samples.
func (s benchSet) spread(name, unit string) (lo, hi float64) {
	for i, x := range s[name] {
		m := x.Metrics[unit]
		if i == 0 || m < lo {
			lo = m
		}
		if i == 0 || m > hi {
			hi = m
		}
	}
	return lo, hi
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// testBinary is a compiled test binary of one package.
type testBinary struct {
	Pkg  string // ./shared/jwtauth
	Path string
}

// compileTests builds the test binaries of pkgs into dir (one `go test -c`
// each; the go command's cache makes repeated runs cheap).
func compileTests(ctx context.Context, root, dir string, pkgs ...string) (map[string]testBinary, error) {
	out := map[string]testBinary{}
	for _, p := range pkgs {
		bin := filepath.Join(dir, strings.ReplaceAll(strings.Trim(p, "./"), "/", "_")+".test")
		cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, p)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go test -c %s: %w\n%s", p, err, b)
		}
		out[p] = testBinary{Pkg: p, Path: bin}
	}
	return out, nil
}

// runBench runs a test binary's benchmarks in its package directory (as
// `go test` would), echoes the result lines to echo and to raw, and
// returns the parsed samples. args are test flags without the "test."
// prefix (bench, benchtime, count, benchmem...).
func (b *bench) runBench(tb testBinary, env []string, args ...string) (benchSet, error) {
	b.pkgLine = false // go test prints its own pkg: line
	return runBench(b.ctx, b.root, tb, env, b.out, b.raw, args...)
}

func runBench(ctx context.Context, root string, tb testBinary, env []string, echo, raw io.Writer, args ...string) (benchSet, error) {
	var full []string
	for _, a := range args {
		full = append(full, "-test."+strings.TrimPrefix(a, "-"))
	}
	full = append(full, "-test.run", "^$")
	cmd := exec.CommandContext(ctx, tb.Path, full...)
	cmd.Dir = filepath.Join(root, tb.Pkg)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var tail []string
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	set := benchSet{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		tail = append(tail, line)
		if len(tail) > 60 {
			tail = tail[1:]
		}
		fmt.Fprintln(raw, line)
		if s, ok := parseBenchLine(line); ok {
			set[s.Name] = append(set[s.Name], s)
			fmt.Fprintln(echo, "  "+line)
		}
	}
	if err := cmd.Wait(); err != nil {
		return set, fmt.Errorf("%s: %w\n%s", filepath.Base(tb.Path), err, strings.Join(tail, "\n"))
	}
	return set, nil
}
