package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// coldEvent returns the cheap first event of fn: one its handler answers
// without real work (a refused token, an undecodable message, a refused
// rotation), so the figure is the start-up, not the request.
func coldEvent(root, fn string) ([]byte, string, error) {
	ev := func(rel string) (map[string]any, error) {
		b, err := os.ReadFile(filepath.Join(root, "events", rel))
		if err != nil {
			return nil, err
		}
		var m map[string]any
		return m, json.Unmarshal(b, &m)
	}
	// refused: an API event whose authorizer context carries a refusal;
	// the wrapper answers 401 before any handler or database work.
	refused := func(rel string) ([]byte, string, error) {
		m, err := ev(rel)
		if err != nil {
			return nil, "", err
		}
		rc := m["requestContext"].(map[string]any)
		rc["authorizer"] = map[string]any{"lambda": map[string]any{"auth_error": "AUTH_UNAUTHORIZED", "auth_message": "bench"}}
		b, err := json.Marshal(m)
		return b, rel + " with a refused token (401)", err
	}
	undecodable := func(rel string) ([]byte, string, error) {
		m, err := ev(rel)
		if err != nil {
			return nil, "", err
		}
		m["Records"].([]any)[0].(map[string]any)["body"] = "not json"
		b, err := json.Marshal(m)
		return b, rel + " with an undecodable body", err
	}
	file := func(rel, what string) ([]byte, string, error) {
		b, err := os.ReadFile(filepath.Join(root, "events", rel))
		return b, rel + what, err
	}
	switch fn {
	case "hello":
		return []byte(`{}`), "{}", nil
	case "health":
		return file("apigw/health/health.json", " (GET /health)")
	case "authorizer":
		return file("authorizer/no-header.json", " (no token: refused)")
	case "auth":
		return file("apigw/auth/me-auth-error.json", " (401)")
	case "admin":
		return refused("apigw/admin/list-orgs.json")
	case "molecules":
		return refused("apigw/molecules/list-molecules.json")
	case "jobs":
		return refused("apigw/jobs/job-status.json")
	case "engine":
		return undecodable("sqs/jobs-message.json")
	case "dlq":
		return undecodable("sqs/jobs-dlq-message.json")
	case "ingest":
		return undecodable("sqs/uploads-s3-put.json")
	case "sweeper":
		return file("schedule/sweeper.json", " (one sweep of an idle database)")
	case "migrate":
		return file("migrate/create.json", " (a full run: no pending migration, root user present)")
	case "rotate":
		return file("rotate/createSecret.json", " (another secret's ARN: refused)")
	}
	return nil, "", fmt.Errorf("no cold-start event for %s", fn)
}

// coldStart is one function's cold starts.
type coldStart struct {
	Function   string    `json:"function"`
	Event      string    `json:"event"`
	SizeBytes  int64     `json:"size_bytes"`
	StartsMS   []float64 `json:"starts_ms"` // process start -> first answered invocation
	ListenMS   []float64 `json:"listen_ms"` // process start -> the emulator accepts connections
	MedianMS   float64   `json:"median_ms"` // of StartsMS
	ListenMed  float64   `json:"listen_median_ms"`
	InitRSSKiB int64     `json:"init_rss_kib"` // bootstrap's VmHWM after the first invocation (median)
	RIERSSKiB  int64     `json:"rie_rss_kib"`  // the emulator's VmHWM then (median)
	// WarmP50MS is the median of warm invokes of the same event through
	// the same emulator right after the first start: the emulator hop's
	// cost plus the handler's, without the start-up.
	WarmP50MS float64 `json:"warm_p50_ms"`
	WarmN     int     `json:"warm_invokes"`
	Outcome   string  `json:"outcome"` // what the first invocation answered
	OK        bool    `json:"ok"`      // every start answered HTTP 200 without a runtime crash
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// oneColdStart starts the emulator with bootstrap and env, sends event
// as soon as the emulator listens and times the first answer. The
// emulator starts the runtime on the first invoke (as Lambda does on a
// cold invoke), so the time covers process start, the runtime's init
// (config, AWS config, Postgres pool and its first round trip...) and
// the invoke itself.
// startResult is one cold start.
type startResult struct {
	total, listen time.Duration
	rss, rieRSS   int64
	status        int
	body          []byte
	warm          []time.Duration // warm invokes after the first
}

func oneColdStart(ctx context.Context, rie, bootstrap string, env []string, event []byte, logw io.Writer, warm int) (r startResult, err error) {
	addr, err := freeAddr()
	if err != nil {
		return
	}
	raddr, err := freeAddr()
	if err != nil {
		return
	}
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", raddr, bootstrap)
	cmd.Dir = filepath.Dir(bootstrap)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logw, logw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 60 * time.Second}
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	invoke := func() (int, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(event))
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, b, nil
	}
	t0 := time.Now()
	if err = cmd.Start(); err != nil {
		return
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	deadline := t0.Add(30 * time.Second)
	for {
		c, derr := net.DialTimeout("tcp", addr, time.Second)
		if derr == nil {
			c.Close()
			r.listen = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			err = fmt.Errorf("emulator did not listen on %s within 30s", addr)
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
	if r.status, r.body, err = invoke(); err != nil {
		return
	}
	r.total = time.Since(t0)
	for _, k := range children(cmd.Process.Pid) {
		r.rss = max(r.rss, k.HWMKiB)
	}
	if p, ok := readProc(cmd.Process.Pid); ok {
		r.rieRSS = p.HWMKiB
	}
	for range warm {
		w0 := time.Now()
		if _, _, err := invoke(); err != nil {
			break
		}
		r.warm = append(r.warm, time.Since(w0))
	}
	return r, nil
}

// outcome summarizes an emulator answer.
func outcome(status int, body []byte) (string, bool) {
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
		StatusCode   int    `json:"statusCode"`
	}
	_ = json.Unmarshal(body, &e)
	switch {
	case status != 200:
		return fmt.Sprintf("HTTP %d %s: %.120s", status, e.ErrorType, e.ErrorMessage), false
	case e.ErrorType != "":
		// The handler returned an error: an answered invocation (rotate's
		// refusal is one by design).
		return fmt.Sprintf("handler error %s: %.80s", e.ErrorType, e.ErrorMessage), true
	case e.StatusCode != 0:
		return "HTTP response " + strconv.Itoa(e.StatusCode), true
	}
	if len(body) > 80 {
		body = append(body[:80:80], "..."...)
	}
	return "answered " + string(body), true
}

// measureColdStarts runs n cold starts of every function in rounds (one
// start of each function per round, so drift in the machine's load
// spreads over all of them).
func measureColdStarts(ctx context.Context, root, rie string, bins map[string]string, envs map[string][]string, n, warm int, logDir string, progress io.Writer) ([]*coldStart, error) {
	names := make([]string, 0, len(bins))
	for fn := range bins {
		names = append(names, fn)
	}
	slices.Sort(names)
	res := map[string]*coldStart{}
	events := map[string][]byte{}
	rss := map[string][]float64{}
	rieRSS := map[string][]float64{}
	for _, fn := range names {
		ev, what, err := coldEvent(root, fn)
		if err != nil {
			return nil, err
		}
		events[fn] = ev
		st, err := os.Stat(bins[fn])
		if err != nil {
			return nil, err
		}
		res[fn] = &coldStart{Function: fn, Event: what, SizeBytes: st.Size(), OK: true}
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	for round := range n {
		for _, fn := range names {
			lf, err := os.OpenFile(filepath.Join(logDir, fn+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, err
			}
			w := 0
			if round == 0 {
				w = warm
			}
			sr, err := oneColdStart(ctx, rie, bins[fn], envs[fn], events[fn], lf, w)
			lf.Close()
			c := res[fn]
			if err != nil {
				if errors.Is(ctx.Err(), context.Canceled) {
					return nil, ctx.Err()
				}
				c.OK = false
				c.Outcome = err.Error()
				continue
			}
			out, ok := outcome(sr.status, sr.body)
			if round == 0 || !ok {
				c.Outcome = out
			}
			c.OK = c.OK && ok
			c.StartsMS = append(c.StartsMS, float64(sr.total.Microseconds())/1000)
			c.ListenMS = append(c.ListenMS, float64(sr.listen.Microseconds())/1000)
			rss[fn] = append(rss[fn], float64(sr.rss))
			rieRSS[fn] = append(rieRSS[fn], float64(sr.rieRSS))
			if len(sr.warm) > 0 {
				ws := make([]float64, len(sr.warm))
				for i, d := range sr.warm {
					ws[i] = float64(d.Microseconds()) / 1000
				}
				c.WarmP50MS, c.WarmN = median(ws), len(ws)
			}
		}
		fmt.Fprintf(progress, "  cold starts: round %d/%d done\n", round+1, n)
	}
	var out []*coldStart
	for _, fn := range names {
		c := res[fn]
		c.MedianMS = median(c.StartsMS)
		c.ListenMed = median(c.ListenMS)
		c.InitRSSKiB = int64(median(rss[fn]))
		c.RIERSSKiB = int64(median(rieRSS[fn]))
		out = append(out, c)
	}
	return out, nil
}
