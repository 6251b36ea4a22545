// Package proc starts and stops the local stack's child processes: each in
// its own process group, killed with its parent (Pdeathsig), and its whole
// group (and any group its direct children made) killed on Stop.
package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Prepare sets up cmd to run in its own process group and to be killed
// when this process dies.
func Prepare(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// Children returns the pids whose parent is pid (read from /proc).
func Children(pid int) []int {
	return ChildMap()[pid]
}

// ChildMap returns every process's children by parent pid, from one scan
// of /proc (cheaper than Children for many parents).
func ChildMap() map[int][]int {
	out := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range entries {
		cpid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(e.Name()); ok {
			out[ppid] = append(out[ppid], cpid)
		}
	}
	return out
}

// parentOf reads the parent pid from /proc/<pid>/stat: "pid (comm) state
// ppid ...", where comm may hold spaces and parentheses.
func parentOf(pid string) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// KillTree sends sig to the process group of pid and to the groups of its
// direct children (the Lambda emulator starts the runtime in a group of
// its own).
func KillTree(pid int, sig syscall.Signal) {
	if pid <= 0 {
		return
	}
	kids := Children(pid)
	_ = syscall.Kill(-pid, sig)
	_ = syscall.Kill(pid, sig)
	for _, k := range kids {
		_ = syscall.Kill(-k, sig)
		_ = syscall.Kill(k, sig)
	}
}

// Stop asks cmd's process tree to stop (SIGTERM), waits up to grace for
// done to close, then kills it.
func Stop(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	KillTree(cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		KillTree(cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until addr accepts connections, done closes or timeout passes.
func WaitTCP(addr string, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return errors.New("process exited before listening on " + addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
