package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/internal/faults"
	"github.com/mad-bio/mad/scripts/devstack/internal/pg"
	"github.com/mad-bio/mad/scripts/devstack/internal/proc"
	"github.com/mad-bio/mad/scripts/devstack/internal/state"
)

// Fault injection and observability (Options.Faults, off by default): the
// S3 fault proxy, the admin API, Postgres stop/start and the instance list
// in runtime.json. See internal/faults.

// serveLoopback serves h on a free 127.0.0.1 port and returns its URL.
func (s *Stack) serveLoopback(name string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.faultSrvs = append(s.faultSrvs, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.failed <- fmt.Errorf("%s: %w", name, err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// startFaultProxy starts the S3 fault proxy in front of endpoint.
func (s *Stack) startFaultProxy(endpoint string) (string, error) {
	p, err := faults.NewProxy(endpoint, s.log.With("component", "fault-proxy"))
	if err != nil {
		return "", err
	}
	s.proxy = p
	return s.serveLoopback("fault proxy", p)
}

// startFaultAdmin starts the admin API and the instance list refresher.
func (s *Stack) startFaultAdmin(ctx context.Context) error {
	var ctl faults.Postgres
	if s.pg != nil {
		ctl = s
	}
	url, err := s.serveLoopback("fault admin", faults.Admin(s.proxy, ctl))
	if err != nil {
		return err
	}
	if s.runtime.Faults == nil {
		s.runtime.Faults = &state.Faults{}
	}
	s.runtime.Faults.AdminURL = url
	s.runtime.Instances = s.instances()
	s.ready("faults", "admin %s (POST /faults, POST /postgres/stop|start); instances listed in %s", url, s.st.Runtime())
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			in := s.instances()
			if err := s.writeRuntime(func(rt *state.Runtime) bool {
				if reflect.DeepEqual(rt.Instances, in) {
					return false
				}
				rt.Instances = in
				return true
			}); err != nil {
				s.log.Warn("write runtime.json", "err", err)
			}
		}
	}()
	return nil
}

// instances lists every pool's instances.
func (s *Stack) instances() map[string][]state.Instance {
	children := proc.ChildMap()
	out := map[string][]state.Instance{}
	for _, p := range s.reg.Pools() {
		for _, i := range p.Instances(children) {
			out[p.Function()] = append(out[p.Function()], state.Instance{Index: i.Index, Address: i.Address,
				RIEPID: i.RIEPID, BootstrapPID: i.BootstrapPID, Restarts: i.Restarts, Busy: i.Busy})
		}
	}
	return out
}

// writeRuntime applies change (nil: none) to the runtime description and
// writes runtime.json when change reports a difference.
func (s *Stack) writeRuntime(change func(*state.Runtime) bool) error {
	s.rtMu.Lock()
	defer s.rtMu.Unlock()
	if change != nil && !change(&s.runtime) {
		return nil
	}
	select {
	case <-s.stopped:
		return nil // Stop removes the file
	default:
	}
	return state.WriteJSON(s.st.Runtime(), s.runtime, 0o600)
}

// StopPostgres stops the stack's cluster on purpose (faults.Postgres).
func (s *Stack) StopPostgres() error {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if s.pg == nil {
		return errors.New("the stack uses DATABASE_URL, not its own cluster")
	}
	s.pgDown.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := s.pg.StopFast(ctx); err != nil {
		return err
	}
	s.ready("postgres", "stopped on request (fault injection) in %s", time.Since(t0).Round(time.Millisecond))
	return nil
}

// StartPostgres starts the cluster again after StopPostgres (faults.Postgres).
func (s *Stack) StartPostgres() error {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if s.pg == nil {
		return errors.New("the stack uses DATABASE_URL, not its own cluster")
	}
	select {
	case <-s.pg.Exited():
	default:
		return nil // running
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	cl, err := pg.Start(ctx, s.pg.Options())
	if err != nil {
		return err
	}
	s.pg = cl
	s.pgDown.Store(false)
	go s.watchPostgres(cl)
	s.ready("postgres", "started again on request in %s", time.Since(t0).Round(time.Millisecond))
	return nil
}

// watchPostgres reports the cluster's exit unless it was stopped on purpose.
func (s *Stack) watchPostgres(cl *pg.Cluster) {
	select {
	case <-cl.Exited():
		if s.pgDown.Load() {
			return
		}
		select {
		case <-s.stopped:
		default:
			s.failed <- fmt.Errorf("postgres exited unexpectedly (see %s)", s.st.Logs())
		}
	case <-s.stopped:
	}
}
