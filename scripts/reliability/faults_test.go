package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/stacktest"
)

// ---- processes

// cmdline returns a process's argv.
func cmdline(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// vinaProcs returns the pids of vina processes (real or fake) started by
// the stack: their working directory is inside its scratch dir.
func vinaProcs(s *stacktest.Stack) []int {
	var out []int
	scratch := filepath.Join(s.StateDir, "scratch")
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		argv := cmdline(pid)
		if len(argv) == 0 || !strings.HasSuffix(argv[0], "vina") {
			continue
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if strings.HasPrefix(cwd, scratch) {
			out = append(out, pid)
		}
	}
	return out
}

// parentOf returns a process's parent pid.
func parentOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

// ---- tests

// TestReliabilityEngineKilledMidJob: the engine's runtime (its bootstrap
// process) is killed while the real vina docks the 1iep pair. The message
// comes back after the visibility timeout, the job completes exactly once
// (one result set, one COMPLETED, a RETRY for attempt 2, exactly four
// artifacts) and no vina process outlives the killed runtime.
func TestReliabilityEngineKilledMidJob(t *testing.T) {
	const vis = 20
	s := start(t, vis, map[string]string{"MAD_LOCAL_CONCURRENCY": "1", "MAD_LOCAL_FAULTS": "1"})
	o := newOrg(t, s, 0)
	id := o.mustCreateJob(t, 42, 1)

	// Wait for vina to run under the engine's runtime.
	var boot, vina int
	deadline := time.Now().Add(2 * time.Minute)
	for vina == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("vina never ran; job %+v", o.job(t, id))
		}
		time.Sleep(100 * time.Millisecond)
		in := s.CurrentRuntime(t).Instances["engine"]
		if len(in) != 1 || in[0].BootstrapPID == 0 {
			continue
		}
		boot = in[0].BootstrapPID
		for _, p := range vinaProcs(s) {
			if parentOf(p) == boot {
				vina = p
			}
		}
	}
	if st := o.job(t, id).Status; st != "RUNNING" {
		t.Fatalf("vina runs but the job is %s", st)
	}
	time.Sleep(time.Second) // well inside the ~10 s search
	argv := cmdline(vina)
	killed := time.Now()
	if err := syscall.Kill(boot, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the engine runtime (pid %d) while vina ran (pid %d: %s)", boot, vina, strings.Join(argv, " "))
	for time.Since(killed) < 5*time.Second && alive(vina) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(vina) {
		t.Errorf("vina (pid %d) still runs %s after its runtime was killed: orphaned", vina, time.Since(killed).Round(time.Millisecond))
	}

	j := o.waitJob(t, id, 3*time.Minute)
	evs := o.events(t, id)
	t.Logf("job %s after %s: %s; events %s", j.Status, time.Since(killed).Round(time.Second), fmtAttempts(j), eventNames(evs))
	if j.Status != "COMPLETED" || j.Attempts != 2 {
		t.Fatalf("job %s attempts %d, want COMPLETED after 2 attempts", j.Status, j.Attempts)
	}
	if countEvents(evs, "COMPLETED") != 1 || countEvents(evs, "TASK_COMPLETED") != 1 || countEvents(evs, "STARTED") != 1 {
		t.Errorf("events %s: want one STARTED, one TASK_COMPLETED, one COMPLETED", eventNames(evs))
	}
	var retry *event
	for i := range evs {
		if evs[i].Event == "RETRY" {
			retry = &evs[i]
		}
	}
	if retry == nil || fmt.Sprint(retry.Detail["attempt"]) != "2" || fmt.Sprint(retry.Detail["receive_count"]) != "2" {
		t.Errorf("want a RETRY event with attempt 2 and receive_count 2, got %+v", retry)
	} else {
		t.Logf("redelivered %s after the kill (visibility timeout %ds)", retry.TS.Sub(killed).Round(100*time.Millisecond), vis)
	}
	var res struct {
		Scores []struct {
			Pose     int     `json:"pose"`
			Affinity float64 `json:"affinity"`
		} `json:"scores"`
		Artifacts map[string]string `json:"artifacts"`
	}
	o.admin.do("GET", "/api/v1/jobs/"+id+"/results", nil).must(t, 200, &res)
	if len(res.Scores) == 0 || res.Scores[0].Affinity > -11.5 || res.Scores[0].Affinity < -14.5 {
		t.Errorf("pose 1 %+v, want between -14.5 and -11.5 kcal/mol", res.Scores)
	}
	wantArtifacts(t, s, o.ID, id)
	for _, p := range exactlyOnce(t, orgDB(t, s, o.ID), o.ID) {
		t.Error(p)
	}
	if left := vinaProcs(s); len(left) > 0 {
		t.Errorf("vina processes left: %v", left)
	}
	if dirs, _ := filepath.Glob(filepath.Join(s.StateDir, "scratch", "job-*")); len(dirs) > 0 {
		t.Logf("note: the killed attempt left %d scratch dir(s) behind (%v); a fresh container starts with an empty /tmp", len(dirs), dirs)
	}
}

func fmtAttempts(j jobView) string { return fmt.Sprintf("%d attempt(s)", j.Attempts) }

// TestReliabilityEmulatorKilled: killing a function's emulator, or its
// runtime, in the middle of requests is answered by the gateway with 502
// in the contract's error shape with X-Request-Id, never a hang; the
// instance is replaced and the next request succeeds.
func TestReliabilityEmulatorKilled(t *testing.T) {
	s := start(t, 5, map[string]string{"MAD_LOCAL_CONCURRENCY": "2", "MAD_LOCAL_FAULTS": "1"})
	o := newOrg(t, s, 0)
	for _, target := range []string{"emulator", "runtime"} {
		t.Run(target, func(t *testing.T) {
			outcomes := &tally{}
			var bad []string
			var mu sync.Mutex
			var maxTook time.Duration
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := newClient(s.URL).withToken(o.admin.token)
					for {
						select {
						case <-stop:
							return
						default:
						}
						r := c.do("GET", "/api/v1/jobs?limit=10", nil)
						k := r.outcome()
						outcomes.add(k)
						mu.Lock()
						maxTook = max(maxTook, r.Took)
						if k != "200" && k != "502 INTERNAL_ERROR" {
							bad = append(bad, k+": "+string(r.Body))
						}
						if k == "502 INTERNAL_ERROR" {
							if _, withID := r.contractCode(); !withID {
								bad = append(bad, "502 without X-Request-Id")
							}
						}
						mu.Unlock()
					}
				}()
			}
			// Kill busy instances until a request has seen it (at most 5 tries).
			kills := 0
			for try := 0; try < 5 && outcomes.get("502 INTERNAL_ERROR") == 0; try++ {
				time.Sleep(700 * time.Millisecond)
				for _, in := range s.CurrentRuntime(t).Instances["jobs"] {
					pid := in.RIEPID
					if target == "runtime" {
						pid = in.BootstrapPID
					}
					if in.Busy && pid > 0 {
						_ = syscall.Kill(pid, syscall.SIGKILL)
						kills++
						break
					}
				}
				time.Sleep(500 * time.Millisecond)
			}
			time.Sleep(time.Second)
			close(stop)
			wg.Wait()
			t.Logf("killed the jobs function's %s %d time(s) under 6 clients: %s; slowest answer %s", target, kills, outcomes, maxTook.Round(time.Millisecond))
			for _, b := range bad {
				t.Errorf("answer outside 200 / 502 INTERNAL_ERROR: %s", b)
			}
			if outcomes.get("502 INTERNAL_ERROR") == 0 {
				t.Fatalf("no request saw the killed %s", target)
			}
			var list struct {
				Items []json.RawMessage `json:"items"`
			}
			o.admin.do("GET", "/api/v1/jobs?limit=10", nil).must(t, 200, &list)
			rt := s.CurrentRuntime(t)
			restarts := 0
			for _, in := range rt.Instances["jobs"] {
				restarts += in.Restarts
			}
			t.Logf("jobs instances after: restarts %d, %+v", restarts, rt.Instances["jobs"])
			if target == "emulator" && restarts == 0 {
				t.Errorf("the supervisor did not restart the killed emulator")
			}
		})
	}
}
