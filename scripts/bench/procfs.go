package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procInfo is what /proc says about one process.
type procInfo struct {
	PID, PPID int
	Exe       string   // readlink /proc/pid/exe, without " (deleted)"
	Args      []string // cmdline
	HWMKiB    int64    // VmHWM: peak resident set
	RSSKiB    int64    // VmRSS: current resident set
	// CPUTicks is user+system time of the process and of its waited-for
	// children (vina and obabel count for the engine that ran them).
	CPUTicks int64
}

// readProc reads one process; ok is false when it is gone.
func readProc(pid int) (procInfo, bool) {
	p := procInfo{PID: pid}
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return p, false
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "PPid":
			p.PPID, _ = strconv.Atoi(v)
		case "VmHWM":
			p.HWMKiB = kib(v)
		case "VmRSS":
			p.RSSKiB = kib(v)
		}
	}
	if stat, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
		// Fields after the parenthesized command: state is field 3,
		// utime stime cutime cstime are 14..17.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 {
			f := strings.Fields(string(stat[i+1:]))
			for _, k := range []int{11, 12, 13, 14} {
				if k < len(f) {
					n, _ := strconv.ParseInt(f[k], 10, 64)
					p.CPUTicks += n
				}
			}
		}
	}
	exe, _ := os.Readlink(filepath.Join(dir, "exe"))
	p.Exe = strings.TrimSuffix(exe, " (deleted)")
	if cl, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		for _, a := range bytes.Split(bytes.TrimRight(cl, "\x00"), []byte{0}) {
			p.Args = append(p.Args, string(a))
		}
	}
	return p, true
}

func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
	return n
}

// processes returns every readable process.
func processes() map[int]procInfo {
	out := map[int]procInfo{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out[pid] = p
		}
	}
	return out
}

// descendants returns the processes below root.
func descendants(all map[int]procInfo, root int) []procInfo {
	kids := map[int][]int{}
	for _, p := range all {
		kids[p.PPID] = append(kids[p.PPID], p.PID)
	}
	var out []procInfo
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, k := range kids[pid] {
			out = append(out, all[k])
			queue = append(queue, k)
		}
	}
	return out
}

// children returns the direct children of pid.
func children(pid int) []procInfo {
	var out []procInfo
	for _, p := range processes() {
		if p.PPID == pid {
			out = append(out, p)
		}
	}
	return out
}

// functionRSS is the memory of one function's emulator instances.
type functionRSS struct {
	Function  string `json:"function"`
	Instances int    `json:"instances"` // live bootstrap processes
	// PeakKiB is the largest VmHWM over the instances' bootstraps;
	// RSSKiB the largest VmRSS at the time of reading.
	PeakKiB int64 `json:"peak_kib"`
	RSSKiB  int64 `json:"rss_kib"`
	// RIEPeakKiB and RIERSSKiB are the same for the emulator processes.
	RIEPeakKiB int64 `json:"rie_peak_kib"`
	RIERSSKiB  int64 `json:"rie_rss_kib"`
	Emulators  int   `json:"emulators"`
}

// stackRSS reads the memory of every emulator instance below the devstack
// process devstackPID: the emulators are aws-lambda-rie processes, their
// children are the functions' bootstraps under buildDir.
func stackRSS(devstackPID int, buildDir string) map[string]*functionRSS {
	out := map[string]*functionRSS{}
	get := func(fn string) *functionRSS {
		if out[fn] == nil {
			out[fn] = &functionRSS{Function: fn}
		}
		return out[fn]
	}
	for _, p := range descendants(processes(), devstackPID) {
		switch {
		case filepath.Base(p.Exe) == "aws-lambda-rie" && len(p.Args) > 0:
			boot := p.Args[len(p.Args)-1]
			if !strings.HasPrefix(boot, buildDir) {
				continue
			}
			f := get(filepath.Base(filepath.Dir(boot)))
			f.Emulators++
			f.RIEPeakKiB = max(f.RIEPeakKiB, p.HWMKiB)
			f.RIERSSKiB = max(f.RIERSSKiB, p.RSSKiB)
		case strings.HasPrefix(p.Exe, buildDir) && filepath.Base(p.Exe) == "bootstrap":
			f := get(filepath.Base(filepath.Dir(p.Exe)))
			f.Instances++
			f.PeakKiB = max(f.PeakKiB, p.HWMKiB)
			f.RSSKiB = max(f.RSSKiB, p.RSSKiB)
		}
	}
	return out
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuByComponent sums the CPU time of the local stack's processes by
// component: the devstack process (gateway, pollers, scheduler), the
// emulators, each function's bootstraps, moto, the Postgres cluster whose
// data directory is under stateDir, and this program (the load generator).
func cpuByComponent(devstackPID int, stateDir, buildDir string) map[string]float64 {
	all := processes()
	out := map[string]float64{}
	add := func(c string, p procInfo) { out[c] += float64(p.CPUTicks) / clockTicks }
	if p, ok := all[devstackPID]; ok {
		add("devstack: gateway, pollers", p)
	}
	for _, p := range descendants(all, devstackPID) {
		switch {
		case filepath.Base(p.Exe) == "aws-lambda-rie":
			add("aws-lambda-rie (all)", p)
		case strings.HasPrefix(p.Exe, buildDir) && filepath.Base(p.Exe) == "bootstrap":
			add("function "+filepath.Base(filepath.Dir(p.Exe)), p)
		case strings.Contains(strings.Join(p.Args, " "), "moto"):
			add("moto (AWS emulator)", p)
		case filepath.Base(p.Exe) == "postgres":
			// counted below with its cluster
		default:
			add("other: "+filepath.Base(p.Exe), p)
		}
	}
	for _, p := range all {
		if filepath.Base(p.Exe) == "postgres" && strings.Contains(strings.Join(p.Args, " "), stateDir) {
			add("postgres", p)
			for _, k := range descendants(all, p.PID) {
				add("postgres", k)
			}
		}
	}
	if p, ok := all[os.Getpid()]; ok {
		add("bench (load generator)", p)
	}
	return out
}

// cpuDelta is after - before, by component.
func cpuDelta(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if x := v - before[k]; x > 0.005 {
			d[k] = x
		}
	}
	return d
}
