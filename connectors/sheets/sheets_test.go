package sheets

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

type sink struct{ batches int }

func (s *sink) Emit(context.Context, batch.Batch) error { s.batches++; return nil }
func (s *sink) Logf(string, ...any)                     {}
func (s *sink) Progress(int64, int64)                   {}

// The API key (a query parameter) goes only to api_base's host: a redirect elsewhere fails,
// or with allow_cross_host reaches the other host without the key.
func TestAPIKeyStaysWithItsHost(t *testing.T) {
	const key = "AIza-SECRET-KEY"
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow_cross_host=%v", allow), func(t *testing.T) {
			var hits, leaks atomic.Int32
			foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if strings.Contains(r.URL.String(), key) || strings.Contains(fmt.Sprint(r.Header), key) {
					leaks.Add(1)
				}
				fmt.Fprint(w, `{"values": [["a"], [1]]}`)
			}))
			defer foreign.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// Echo the key into the redirect, as a careless proxy would.
				http.Redirect(w, r, foreign.URL+r.URL.Path+"?key="+r.URL.Query().Get("key"), http.StatusFound)
			}))
			defer srv.Close()
			c, err := New(connectors.Job{ProjectRoot: t.TempDir(), Source: config.Source{Name: "sheet", Settings: config.Values{
				"spreadsheet_url_or_id": "abc", "range_names": []string{"Data"}, "api_key": key, "api_base": srv.URL,
				"requests_per_second": 50.0, "max_retry_time": "5s", "timeout": "5s", "allow_cross_host": allow}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = c.Extract(ctx, &sink{})
			if leaks.Load() > 0 {
				t.Fatal("the foreign host received the API key")
			}
			var cross *restapi.CrossHostError
			if !allow {
				if !errors.As(err, &cross) || hits.Load() != 0 || strings.Contains(err.Error(), key) {
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
