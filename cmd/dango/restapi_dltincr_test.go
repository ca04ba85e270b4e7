package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// issuesAPI is GitHub-like: /issues filtered by `since` (updated_at at or after it), and
// /issues/{number}/comments. Its content grows between syncs (phase 2: ten new issues, and
// issue 5 updated).
type issuesAPI struct {
	srv    *httptest.Server
	mu     sync.Mutex
	phase  int
	sinces []string // `since` of every /issues request
}

func newIssuesAPI(t *testing.T) *issuesAPI {
	a := &issuesAPI{phase: 1}
	a.srv = httptest.NewServer(a)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *issuesAPI) updated(n int) time.Time {
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
	if a.phase == 2 && n == 5 {
		ts = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	}
	return ts
}

func (a *issuesAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	total := 20
	if a.phase == 2 {
		total = 30
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/issues":
		since := r.URL.Query().Get("since")
		a.sinces = append(a.sinces, since)
		var from time.Time
		if since != "" {
			t, err := parseInstant(since)
			if err != nil {
				w.WriteHeader(422)
				fmt.Fprintf(w, `{"message": "since: %v"}`, err)
				return
			}
			from = t
		}
		var out []map[string]any
		for n := 1; n <= total; n++ {
			if u := a.updated(n); !u.Before(from) {
				out = append(out, map[string]any{"id": 1000 + n, "number": n, "title": fmt.Sprintf("Issue %d", n), "updated_at": u.Format(time.RFC3339)})
			}
		}
		json.NewEncoder(w).Encode(out)
	case len(parts) == 3 && parts[0] == "issues" && parts[2] == "comments":
		n, _ := strconv.Atoi(parts[1])
		json.NewEncoder(w).Encode([]map[string]any{{"id": n*10 + 1, "body": "first"}, {"id": n*10 + 2, "body": "second"}})
	default:
		w.WriteHeader(404)
	}
}

// parseInstant reads an ISO 8601 time; one without an offset is UTC (how dango documents
// its stored cursors).
func parseInstant(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 time: %q", s)
}

func issuesConfig(base string) string {
	return `client:
  base_url: ` + base + `
  paginator: single_page
resource_defaults:
  primary_key: id
  write_disposition: merge
resources:
  - name: issues
    endpoint:
      path: issues
      params:
        state: open
        since:
          type: incremental
          cursor_path: updated_at
          initial_value: "2024-01-01T05:00:00Z"
  - name: issue_comments
    endpoint:
      path: issues/{resources.issues.number}/comments
    include_from_parent: [id]
`
}

// TestRestAPIDltIncremental: dlt's param-bound incremental and a {resources.x.y} child, two
// syncs with the API changing in between; dlt 1.31 runs the same config twice against its
// own copy of the API. Row counts, columns and the `since` sent on each run must agree.
func TestRestAPIDltIncremental(t *testing.T) {
	py := dltPythonForTest(t)
	// dango
	api := newIssuesAPI(t)
	dir := newProject(t, "version: 1\nsources:\n  - name: gh\n    type: rest_api\n    rest_api:\n"+indent(issuesConfig(api.srv.URL), "      "))
	for phase := 1; phase <= 2; phase++ {
		api.mu.Lock()
		api.phase = phase
		api.mu.Unlock()
		if r := dango(t, dir, "sync"); r.code != 0 {
			t.Fatalf("sync %d: %+v", phase, r)
		}
	}
	// dlt
	dapi := newIssuesAPI(t)
	work := t.TempDir()
	writeFile(t, work, "config.yml", issuesConfig(dapi.srv.URL))
	writeFile(t, work, "run.py", dltRunner)
	var dltTables map[string]struct {
		Rows    int      `json:"rows"`
		Columns []string `json:"columns"`
	}
	for phase := 1; phase <= 2; phase++ {
		dapi.mu.Lock()
		dapi.phase = phase
		dapi.mu.Unlock()
		cmd := exec.Command(py, "run.py")
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "RUNTIME__DLTHUB_TELEMETRY=false", "DLT_DATA_DIR="+filepath.Join(work, "data"), "DLT_DATASET=raw_gh")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dlt run %d: %v\n%s", phase, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &dltTables); err != nil {
			t.Fatalf("dlt output: %v\n%s", err, out)
		}
	}
	api.mu.Lock()
	dapi.mu.Lock()
	gotSince, wantSince := append([]string(nil), api.sinces...), append([]string(nil), dapi.sinces...)
	dapi.mu.Unlock()
	api.mu.Unlock()
	t.Logf("since sent: dango %q, dlt %q; dlt tables %v", gotSince, wantSince, dltTables)
	if len(gotSince) != len(wantSince) {
		t.Fatalf("/issues requests: dango %q, dlt %q", gotSince, wantSince)
	}
	for i := range gotSince {
		g, err1 := parseInstant(gotSince[i])
		w, err2 := parseInstant(wantSince[i])
		if err1 != nil || err2 != nil || !g.Equal(w) {
			t.Errorf("since of request %d: dango %q, dlt %q", i+1, gotSince[i], wantSince[i])
		}
	}
	if len(dltTables) < 2 {
		t.Fatalf("dlt loaded %v", dltTables)
	}
	for name, d := range dltTables {
		if rows := scalar(t, dir, "SELECT count(*) FROM raw_gh."+name); rows != strconv.Itoa(d.Rows) {
			t.Errorf("%s: dango %s rows, dlt %d", name, rows, d.Rows)
		}
		cols := scalar(t, dir, "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'raw_gh' AND table_name = '"+name+"' AND column_name <> '_dlt_extracted_at'")
		if want := strings.Join(sortedStrings(d.Columns), ","); cols != want {
			t.Errorf("%s columns:\ndango %s\ndlt   %s", name, cols, want)
		}
	}
}
