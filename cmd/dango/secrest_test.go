package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRestAPICrossHostEndToEnd syncs a REST source whose next link points to another host:
// by default the sync fails naming the host and never asks it; with allow_cross_host in
// sources.yml it loads both pages and the other host never sees the token.
func TestRestAPICrossHostEndToEnd(t *testing.T) {
	const token = "tok-e2e-SECRET"
	var foreignHits, leaks atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		if strings.Contains(fmt.Sprint(r.Header)+r.URL.String(), token) {
			leaks.Add(1)
		}
		fmt.Fprint(w, `{"data": [{"id": 2}]}`)
	}))
	defer foreign.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(401)
			return
		}
		fmt.Fprintf(w, `{"data": [{"id": 1}], "next": %q}`, foreign.URL+"/page2")
	}))
	defer api.Close()
	sources := `version: 1
sources:
  - name: app
    type: rest_api
    rest_api:
      base_url: %s
      auth: {type: bearer, token_env: APP_TOKEN}
      max_retry_time: 5s%s
      resources:
        - name: items
          path: /items
`
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow_cross_host=%v", allow), func(t *testing.T) {
			extra := ""
			if allow {
				extra = "\n      allow_cross_host: true"
			}
			dir := newProject(t, fmt.Sprintf(sources, api.URL, extra))
			writeFile(t, dir, ".env", "APP_TOKEN="+token+"\n")
			start := time.Now()
			r := dango(t, dir, "sync")
			if time.Since(start) > 30*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
			if leaks.Load() > 0 || strings.Contains(r.stdout+r.stderr, token) {
				t.Fatalf("the token leaked (foreign saw it %d times)", leaks.Load())
			}
			if !allow {
				host := strings.TrimPrefix(foreign.URL, "http://")
				if r.code != 1 || !strings.Contains(r.stdout, "source app, resource items") || !strings.Contains(r.stdout, host) ||
					!strings.Contains(r.stdout, "allow_cross_host: true") || foreignHits.Load() != 0 {
					t.Fatalf("exit %d, foreign hits %d:\n%s\n%s", r.code, foreignHits.Load(), r.stdout, r.stderr)
				}
				t.Logf("output:\n%s", r.stdout)
				return
			}
			if r.code != 0 || foreignHits.Load() == 0 {
				t.Fatalf("exit %d, foreign hits %d:\n%s\n%s", r.code, foreignHits.Load(), r.stdout, r.stderr)
			}
			if got := scalar(t, dir, "SELECT count(*) FROM raw_app.items"); got != "2" {
				t.Fatalf("rows = %s", got)
			}
		})
	}
}
