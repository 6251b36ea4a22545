package rie

import "testing"

// TestClassifyInitFailure: a runtime that exits during its cold start is
// answered 200 with errorType Runtime.ExitError; that is a crash, not the
// handler's error.
func TestClassifyInitFailure(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   ErrorKind
	}{
		{200, `{"errorMessage":"Runtime exited with error: exit status 1","errorType":"Runtime.ExitError"}`, KindCrash},
		{200, `{"errorMessage":"boom","errorType":"errorString"}`, KindFunction},
		{502, `{"errorMessage":"x","errorType":"Runtime.ExitError"}`, KindCrash},
	} {
		_, err := classify("fn", c.status, []byte(c.body))
		if !IsKind(err, c.want) {
			t.Errorf("%d %s: %v, want %s", c.status, c.body, err, c.want)
		}
	}
}
