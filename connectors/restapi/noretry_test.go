package restapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dangohq/dango/config"
)

// max_retry_time: 0 means no retries: the first failure is the answer, and no Retry-After,
// however long, is waited for. Before this, 0 meant "no limit" and a 429 with
// Retry-After: 999999999 paused the source for 31 years.
func TestMaxRetryTimeZeroMeansNoRetries(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		header  string
		rateErr bool // a RateLimitError is expected
		want    string
	}{
		{"429 with a huge Retry-After", 429, "999999999", true, "max_retry_time is 0"},
		{"429 with a Retry-After date", 429, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), true, "max_retry_time is 0"},
		{"429 with a short Retry-After", 429, "1", true, "max_retry_time is 0"},
		{"429 without Retry-After", 429, "", true, "max_retry_time is 0"},
		{"503 with Retry-After", 503, "999999999", false, "503"},
		{"500", 500, "", false, "500"},
	}
	for _, tc := range cases {
		for _, zero := range []string{"0", "0s"} {
			t.Run(tc.name+"/"+zero, func(t *testing.T) {
				var hits atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					if tc.header != "" {
						w.Header().Set("Retry-After", tc.header)
					}
					w.WriteHeader(tc.status)
				}))
				defer srv.Close()
				start := time.Now()
				_, err := extract(t, config.Values{"base_url": srv.URL, "resources": []any{"x"}, "max_retry_time": zero}, 5*time.Second)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want it to say %q", err, tc.want)
				}
				var rl *RateLimitError
				if errors.As(err, &rl) != tc.rateErr {
					t.Errorf("err = %v (%T), RateLimitError wanted: %v", err, err, tc.rateErr)
				}
				if n := hits.Load(); n != 1 {
					t.Errorf("%d requests, want 1 (no retries)", n)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("took %s", d)
				}
			})
		}
	}
}
