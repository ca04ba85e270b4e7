package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI serves /users as pages of 10 (page=N), with faults on a fixed schedule of requests:
// 429 with Retry-After: 1 on 3 in 10, 500 on 1 in 10. It needs "Bearer s3cret-token".
type fakeAPI struct {
	mu        sync.Mutex
	requests  int
	throttled map[int]int // page → 429 replies
	users     int
	sinces    []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer s3cret-token" {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error": {"message": "Invalid API key provided"}}`)
		return
	}
	switch n % 10 {
	case 2, 5, 8:
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page == 0 {
			page = 1
		}
		f.mu.Lock()
		if f.throttled == nil {
			f.throttled = map[int]int{}
		}
		f.throttled[page]++
		f.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(429)
		return
	case 6:
		w.WriteHeader(500)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page == 0 {
		page = 1
	}
	since := r.URL.Query().Get("since")
	f.mu.Lock()
	if page == 1 {
		f.sinces = append(f.sinces, since)
	}
	total := f.users
	f.mu.Unlock()
	// Filter, then paginate, as an API does.
	var all []map[string]any
	for i := 1; i <= total; i++ {
		ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		if since != "" {
			s, err := time.Parse(time.RFC3339, since) // the form the API itself sends
			if err != nil {
				s, err = time.Parse("2006-01-02T15:04:05", since)
			}
			if err != nil {
				w.WriteHeader(400)
				fmt.Fprintf(w, `{"message": "since must be ISO 8601, got %q"}`, since)
				return
			}
			if ts.Before(s) {
				continue
			}
		}
		all = append(all, map[string]any{"id": i, "name": fmt.Sprintf("user %d", i), "updated_at": ts.Format(time.RFC3339),
			"address": map[string]any{"city": "Lisbon", "zip": fmt.Sprint(1000 + i)}})
	}
	var items []map[string]any
	for i := (page - 1) * 10; i < page*10 && i < len(all); i++ {
		items = append(items, all[i])
	}
	json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"items": items}, "page": page})
}

const restSources = `version: 1
sources:
  - name: app
    type: rest_api
    rest_api:
      base_url: %s/v1
      auth: {type: bearer, token_env: APP_TOKEN}
      requests_per_second: 200
      max_retry_time: 1m
      resources:
        - name: users
          path: /users
          params: {since: "{incremental.start_value}"}
          data_selector: data.items
          paginator: {type: page_number, page_param: page, base_page: 1, total_path: null}
          primary_key: id
          incremental: {cursor_column: updated_at}
  - name: local
    type: csv
    csv: {path: data/l.csv}
`

func TestRestAPIExactlyOnceUnderFaults(t *testing.T) {
	api := &fakeAPI{users: 95}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := newProject(t, fmt.Sprintf(restSources, srv.URL))
	writeFile(t, dir, "data/l.csv", "x\n1\n")
	writeFile(t, dir, ".env", "APP_TOKEN=s3cret-token\n")
	start := time.Now()
	r := dango(t, dir, "sync")
	took := time.Since(start)
	if r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT id) || '/' || min(id) || '/' || max(id) FROM raw_app.users"); got != "95/95/1/95" {
		t.Fatalf("users rows/distinct/min/max = %s", got)
	}
	if got := scalar(t, dir, "SELECT address__city || ' ' || address__zip FROM raw_app.users WHERE id = 7"); got != "Lisbon 1007" {
		t.Errorf("nested object = %s", got)
	}
	// Pages fetched ahead past the end are cancelled once the empty page 11 arrives, so only
	// the waits of pages 1–11 must have been taken.
	api.mu.Lock()
	throttled := 0
	for page, n := range api.throttled {
		if page <= 11 {
			throttled += n
		}
	}
	api.mu.Unlock()
	if throttled == 0 || took < time.Duration(throttled)*time.Second {
		t.Errorf("took %s for %d Retry-After: 1 replies on the pages it needed", took, throttled)
	}
	for _, want := range []string{"Fetching users (incremental, first sync: everything)", "Retrying GET /v1/users in 1s", "Fetched 95 users", "Writing to raw_app.users"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret-token") {
		t.Fatal("the token appears in the output")
	}
	// Incremental: the next sync asks from the stored cursor and loads only new rows.
	api.mu.Lock()
	api.users = 98
	api.mu.Unlock()
	r = dango(t, dir, "sync", "--source", "app")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching users (incremental from 2024-01-04T23:00:00Z)") {
		t.Fatalf("second sync: %+v", r)
	}
	api.mu.Lock()
	last := api.sinces[len(api.sinces)-1]
	api.mu.Unlock()
	// updated_at is RFC 3339 with its zone: a TIMESTAMP WITH TIME ZONE column, whose cursor
	// goes back in the same form the API sent (dlt passes the record's own value).
	if last != "2024-01-04T23:00:00Z" {
		t.Errorf("second sync asked since=%q", last)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(DISTINCT id) FROM raw_app.users"); got != "98/98" {
		t.Fatalf("after incremental sync rows/distinct = %s", got)
	}
}

func TestRestAPIWrongKeyFailsAtOnce(t *testing.T) {
	api := &fakeAPI{users: 5}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := newProject(t, fmt.Sprintf(restSources, srv.URL))
	writeFile(t, dir, "data/l.csv", "x\n1\n")
	writeFile(t, dir, ".env", "APP_TOKEN=wrong-key-123\n")
	start := time.Now()
	r := dango(t, dir, "sync")
	if r.code != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("exit %d after %s: %+v", r.code, time.Since(start), r)
	}
	if !strings.Contains(r.stdout, "✗ Sync failed for app\nusers: AuthenticationError: Invalid API key provided (HTTP 401)") ||
		!strings.Contains(r.stdout, "Success: 1/2 sources") {
		t.Fatalf("output:\n%s", r.stdout)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.requests != 1 {
		t.Errorf("a 401 was retried: %d requests", api.requests)
	}
	if strings.Contains(r.stdout+r.stderr, "wrong-key-123") {
		t.Fatal("the key appears in the output")
	}
}

// TestRestAPILateShapeChanges serves 30,000 records whose shape changes only near the end
// (a new key, a new nested key, a fraction in an integer field, text in a date field): the
// sample-typed fast path must notice each and land every value, like typing every record.
// The types are dlt 1.31's for the same records (a score typed bigint by its first value, the
// fraction in dlt's variant column score__v_double; RFC 3339 times with their zone).
func TestRestAPILateShapeChanges(t *testing.T) {
	const total, per = 30000, 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		var items []map[string]any
		for i := (p-1)*per + 1; i <= p*per && i <= total; i++ {
			rec := map[string]any{"id": i, "score": i % 50, "day": fmt.Sprintf("2024-01-%02d", i%28+1),
				"at": time.Date(2024, 1, 1, 0, 0, i%60, 0, time.UTC).Format(time.RFC3339), "meta": map[string]any{"a": "x"}}
			switch i {
			case 25001:
				rec["late"] = "surprise"
			case 26001:
				rec["meta"] = map[string]any{"a": "y", "b": 7}
			case 27001:
				rec["score"] = 2.5
			case 28001:
				rec["day"] = "unknown"
			}
			items = append(items, rec)
		}
		json.NewEncoder(w).Encode(map[string]any{"data": items})
	}))
	defer srv.Close()
	dir := newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: api
    type: rest_api
    rest_api:
      base_url: %s
      resources:
        - name: things
          path: /things
          data_selector: data
          paginator: {type: page_number, base_page: 1, total_path: null}
`, srv.URL))
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	for q, want := range map[string]string{
		"SELECT count(*) FROM raw_api.things": "30000",
		"SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'raw_api' AND table_name = 'things' AND column_name NOT LIKE '\\_dlt%' ESCAPE '\\'": "at TIMESTAMP WITH TIME ZONE, day VARCHAR, id BIGINT, late VARCHAR, meta__a VARCHAR, meta__b BIGINT, score BIGINT, score__v_double DOUBLE",
		"SELECT late FROM raw_api.things WHERE id = 25001":                                  "surprise",
		"SELECT meta__b FROM raw_api.things WHERE id = 26001":                               "7",
		"SELECT score__v_double FROM raw_api.things WHERE id = 27001":                       "2.5",
		"SELECT day FROM raw_api.things WHERE id = 28001":                                   "unknown",
		"SELECT count(*) FROM raw_api.things WHERE late IS NOT NULL OR meta__b IS NOT NULL": "2",
	} {
		if got := scalar(t, dir, q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
}
