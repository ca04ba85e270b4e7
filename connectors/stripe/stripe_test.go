package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/connectors/restapi"
)

type sink struct{}

func (sink) Emit(context.Context, batch.Batch) error { return nil }
func (sink) Logf(string, ...any)                     {}
func (sink) Progress(int64, int64)                   {}

// The secret key goes only to api_base's host, whatever a redirect says.
func TestSecretKeyStaysWithItsHost(t *testing.T) {
	const key = "sk_test_SECRET_51H"
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow_cross_host=%v", allow), func(t *testing.T) {
			var hits, leaks atomic.Int32
			foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if strings.Contains(r.URL.String()+fmt.Sprint(r.Header), key) {
					leaks.Add(1)
				}
				fmt.Fprint(w, `{"object": "list", "data": [{"id": "ch_1", "created": 1}], "has_more": false}`)
			}))
			defer foreign.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, foreign.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			}))
			defer srv.Close()
			c, err := New(connectors.Job{ProjectRoot: t.TempDir(), Source: config.Source{Name: "pay", Settings: config.Values{
				"stripe_secret_key": config.Secret(key), "endpoints": []string{"charges"}, "api_base": srv.URL,
				"requests_per_second": 50.0, "max_retry_time": "5s", "allow_cross_host": allow}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = c.Extract(ctx, sink{})
			if leaks.Load() > 0 {
				t.Fatal("the foreign host received the secret key")
			}
			if !allow {
				var cross *restapi.CrossHostError
				if !errors.As(err, &cross) || hits.Load() != 0 || !strings.Contains(err.Error(), "source pay, resource charges") || strings.Contains(err.Error(), key) {
					t.Fatalf("err = %v, foreign hits %d", err, hits.Load())
				}
				return
			}
			if err != nil || hits.Load() == 0 {
				t.Fatalf("err = %v, foreign hits %d", err, hits.Load())
			}
		})
	}
}

// Dates and timestamps reach Stripe as unix seconds; unix seconds reach the console as dates.
func TestUnixSecondsAndDates(t *testing.T) {
	for _, c := range []struct{ in, unix, shown string }{
		{"2024-01-01", "1704067200", "2024-01-01"},
		{"2024-01-14T10:00:00+02:00", "1705219200", "2024-01-14T08:00:00Z"},
		{"2024-01-14T08:00:00Z", "1705219200", "2024-01-14T08:00:00Z"},
		{"1234567890", "1234567890", "2009-02-13T23:31:30Z"},
	} {
		u, err := toUnix(c.in)
		if err != nil || u != c.unix {
			t.Errorf("toUnix(%q) = %q, %v; want %s", c.in, u, err, c.unix)
		}
		if got := showUnix(u); got != c.shown {
			t.Errorf("showUnix(%s) = %q, want %s", u, got, c.shown)
		}
	}
	for _, bad := range []string{"01/02/2024", "yesterday", ""} {
		if _, err := toUnix(bad); err == nil {
			t.Errorf("toUnix(%q) accepted", bad)
		}
	}
	if got := showUnix("not-a-number"); got != "not-a-number" {
		t.Errorf("showUnix kept %q", got)
	}
}
