package schedule_test

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mad-bio/mad/scripts/devstack/internal/schedule"
)

type recorder struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (r *recorder) Invoke(ctx context.Context, fn string, p []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payloads = append(r.payloads, p)
	return []byte(`null`), nil
}

func TestScheduledEvents(t *testing.T) {
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 350*time.Millisecond)
	defer cancel()
	schedule.Run(ctx, schedule.Rule{Function: "sweeper", RuleName: "mad-local-sweeper", Period: 100 * time.Millisecond,
		Account: "123456789012", Region: "us-east-1", Invoker: rec})
	if n := len(rec.payloads); n < 2 || n > 4 {
		t.Fatalf("%d invokes in 350ms at a 100ms period", n)
	}
	// Same keys and fixed values as the SAM sample
	// (sam local generate-event cloudwatch scheduled-event).
	raw, err := os.ReadFile("testdata/sam-scheduled-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	_ = json.Unmarshal(raw, &want)
	_ = json.Unmarshal(rec.payloads[0], &got)
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("event lacks %q", k)
		}
	}
	for _, k := range []string{"detail-type", "source", "account", "region"} {
		if got[k] != want[k] {
			t.Errorf("%s = %v, want %v", k, got[k], want[k])
		}
	}
	res := got["resources"].([]any)
	if len(res) != 1 || res[0] != "arn:aws:events:us-east-1:123456789012:rule/mad-local-sweeper" {
		t.Errorf("resources %v", res)
	}
	if _, err := time.Parse(time.RFC3339, got["time"].(string)); err != nil {
		t.Errorf("time %v: %v", got["time"], err)
	}
	var ks []string
	for k := range got {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	t.Logf("keys %v", ks)
}
