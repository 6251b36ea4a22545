package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// runTB lets a plain program use helpers written for tests
// (stacktest.Start, testenv, apptest): Fatal aborts the current phase with
// a panic that main recovers, Cleanup runs at the end of the program.
// Embedding testing.TB supplies the unexported method; calling a method
// not defined here panics on the nil interface, which is a bug in this
// file, never a silent no-op.
type runTB struct {
	testing.TB
	name     string
	mu       sync.Mutex
	cleanups []func()
	quiet    bool
}

// fatal is the panic value of runTB.Fatal.
type fatal struct{ msg string }

func (t *runTB) Helper()      {}
func (t *runTB) Name() string { return t.name }
func (t *runTB) Logf(format string, args ...any) {
	if !t.quiet {
		fmt.Fprintf(os.Stderr, "    "+format+"\n", args...)
	}
}
func (t *runTB) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }
func (t *runTB) Errorf(format string, args ...any) {
	panic(fatal{fmt.Sprintf(format, args...)})
}
func (t *runTB) Error(args ...any)                 { panic(fatal{fmt.Sprint(args...)}) }
func (t *runTB) Fatalf(format string, args ...any) { panic(fatal{fmt.Sprintf(format, args...)}) }
func (t *runTB) Fatal(args ...any)                 { panic(fatal{fmt.Sprint(args...)}) }
func (t *runTB) Failed() bool                      { return false }
func (t *runTB) TempDir() string {
	d, err := os.MkdirTemp("", "mad-bench-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
func (t *runTB) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

// runCleanups runs the registered cleanups, last first.
func (t *runTB) runCleanups() {
	t.mu.Lock()
	cs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if p := recover(); p != nil {
					fmt.Fprintf(os.Stderr, "cleanup: %v\n", p)
				}
			}()
			cs[i]()
		}()
	}
}
