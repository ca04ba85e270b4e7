package restapi

import (
	"bufio"
	"bytes"
	"context"
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

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
)

// shapeServer serves, under /s/<shape>/, the pagination styles of real APIs as documented
// (dlt's examples among them), each with a known number of records, and counts requests.
type shapeServer struct {
	mu       sync.Mutex
	requests map[string]int
}

func (s *shapeServer) count(shape string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[shape]
}

func recs(from, to int, extra func(i int) map[string]any) []map[string]any {
	out := []map[string]any{}
	for i := from; i < to; i++ {
		r := map[string]any{"id": i + 1, "title": fmt.Sprintf("record %d", i+1)}
		if extra != nil {
			for k, v := range extra(i) {
				r[k] = v
			}
		}
		out = append(out, r)
	}
	return out
}

func qint(r *http.Request, key string, def int) int {
	if v := r.URL.Query().Get(key); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

func (s *shapeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/s/"), "/", 2)
	shape, rest := parts[0], ""
	if len(parts) > 1 {
		rest = parts[1]
	}
	s.mu.Lock()
	s.requests[shape]++
	s.mu.Unlock()
	abs := func(path string, q string) string { return "http://" + r.Host + "/s/" + shape + "/" + path + "?" + q }
	w.Header().Set("Content-Type", "application/json")
	var body any
	switch shape {
	case "posts": // dlt's posts/comments example: a next_page link in the body, 5 per page
		page := qint(r, "page", 1)
		n, path := 25, "posts"
		var extra func(int) map[string]any
		if strings.HasSuffix(rest, "/comments") { // posts/{id}/comments: 50 per post
			post, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rest, "posts/"), "/comments"))
			n, path = 50, rest
			extra = func(i int) map[string]any { return map[string]any{"post_id": post, "id": post*1000 + i + 1} }
		}
		from := (page - 1) * 5
		b := map[string]any{"data": recs(from, min(from+5, n), extra), "next_page": nil}
		if from+5 < n {
			b["next_page"] = abs(path, fmt.Sprintf("page=%d", page+1))
		}
		body = b
	case "offset", "shorttotal", "capped": // items/total; limit defaults to 10
		limit, off := min(qint(r, "limit", 10), 100), qint(r, "offset", 0)
		if shape == "capped" {
			limit = min(limit, 50)
		}
		end := min(off+limit, 1000)
		if shape == "shorttotal" && off >= 500 {
			end = off
		}
		body = map[string]any{"items": recs(off, max(off, end), nil), "total": 1000}
	case "pagezero", "pagesshort": // pages from 0, 100 per page, total = number of pages
		page := qint(r, "page", 0)
		from, end := page*100, min(page*100+100, 1000)
		if shape == "pagesshort" && page >= 5 {
			end = from
		}
		body = map[string]any{"data": recs(from, max(from, end), nil), "total": 10}
	case "cursor": // dlt's default cursor_path: cursors.next
		from := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			from, _ = strconv.Atoi(strings.TrimPrefix(c, "c"))
		}
		var next any
		if from+100 < 1000 {
			next = fmt.Sprintf("c%d", from+100)
		}
		body = map[string]any{"items": recs(from, min(from+100, 1000), nil), "cursors": map[string]any{"next": next}}
	case "nested": // data_selector $.data.items
		body = map[string]any{"data": map[string]any{"items": recs(0, 7, nil)}, "meta": map[string]any{"n": 7}}
	case "github": // a list body, Link: rel="next"
		page := qint(r, "page", 1)
		from := (page - 1) * 30
		if from+30 < 95 {
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, abs(rest, fmt.Sprintf("page=%d", page+1)), abs(rest, "page=4")))
		}
		body = recs(from, min(from+30, 95), nil)
	case "pagesone", "pageszero": // total_pages beside the page; from 1 or from 0
		first := 1
		if shape == "pageszero" {
			first = 0
		}
		page := qint(r, "page", first)
		from := (page - first) * 10
		body = map[string]any{"results": recs(from, max(from, min(from+10, 40)), nil), "total_pages": 4, "page": page}
	case "token": // a Google-style nextPageToken, absent on the last page
		from := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			from, _ = strconv.Atoi(strings.TrimPrefix(c, "t"))
		}
		b := map[string]any{"records": recs(from, min(from+10, 35), nil)}
		if from+10 < 35 {
			b["nextPageToken"] = fmt.Sprintf("t%d", from+10)
		}
		body = b
	case "hasmore": // offset with has_more, no total
		limit, off := qint(r, "limit", 10), qint(r, "offset", 0)
		end := min(off+limit, 45)
		body = map[string]any{"data": recs(off, max(off, end), nil), "has_more": end < 45}
	case "filtered": // offset pages an API filters after paging: one page short, more after it
		off := qint(r, "offset", 0)
		sizes := map[int]int{0: 9, 10: 10, 20: 10, 30: 3}
		body = map[string]any{"data": recs(off, off+sizes[off], nil)}
	case "hcursor": // the next cursor in a response header
		from := qint(r, "after", 0)
		if from+10 < 27 {
			w.Header().Set("X-Next", strconv.Itoa(from+10))
		}
		body = map[string]any{"data": recs(from, min(from+10, 27), nil)}
	case "cursormore": // a cursor on every page, has_more false on the last
		from := qint(r, "cursor", 0)
		body = map[string]any{"items": recs(from, min(from+10, 42), nil), "next": strconv.Itoa(from + 10), "has_more": from+10 < 42}
	case "single": // one object
		body = map[string]any{"id": 1, "profile": map[string]any{"plan": "pro"}}
	case "linknested", "wrongpath": // json_link at pagination.next, relative links
		p := qint(r, "p", 1)
		from := (p - 1) * 10
		next := any(nil)
		if from+10 < 23 {
			next = fmt.Sprintf("/s/%s/items?p=%d", shape, p+1)
		}
		if shape == "wrongpath" {
			body = map[string]any{"items": recs(from, min(from+10, 23), nil), "next_page": next}
		} else {
			body = map[string]any{"items": recs(from, min(from+10, 23), nil), "pagination": map[string]any{"next": next}}
		}
	case "dicthref": // JSON:API-ish links.next.href
		p := qint(r, "p", 1)
		from := (p - 1) * 10
		links := map[string]any{"self": abs("items", fmt.Sprintf("p=%d", p))}
		if from+10 < 31 {
			links["next"] = map[string]any{"href": abs("items", fmt.Sprintf("p=%d", p+1))}
		}
		body = map[string]any{"data": recs(from, min(from+10, 31), nil), "links": links}
	case "drfcount": // Django REST framework's count/next/results, the next link ending early
		p := qint(r, "page", 1)
		from := (p - 1) * 10
		var next any
		if p < 2 {
			next = abs("items", fmt.Sprintf("page=%d", p+1))
		}
		body = map[string]any{"count": 30, "next": next, "previous": nil, "results": recs(from, from+10, nil)}
	case "html": // a login page with status 200
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!DOCTYPE html><html><body>Please sign in</body></html>")
		return
	case "cursorobj":
		body = map[string]any{"items": recs(0, 10, nil), "cursors": map[string]any{"next": map[string]any{"id": 5}}}
	case "nohasmore":
		body = map[string]any{"data": recs(0, 10, nil)}
	default:
		http.NotFound(w, r)
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

// tableCapture counts emitted records per table and their distinct ids.
type tableCapture struct {
	t      *testing.T
	mu     sync.Mutex
	counts map[string]int
	ids    map[string]map[string]bool
	logs   []string
}

func (c *tableCapture) Emit(_ context.Context, b batch.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range b.Scan.Files {
		fh, err := os.Open(f)
		if err != nil {
			c.t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				c.t.Fatal(err)
			}
			c.counts[b.Table]++
			if c.ids[b.Table] == nil {
				c.ids[b.Table] = map[string]bool{}
			}
			c.ids[b.Table][fmt.Sprint(m["id"])] = true
		}
		fh.Close()
	}
	return nil
}
func (c *tableCapture) Logf(f string, a ...any) { c.logs = append(c.logs, fmt.Sprintf(f, a...)) }
func (c *tableCapture) Progress(int64, int64)   {}

func extractTables(t *testing.T, base string, resources []any, parallel int64) (*tableCapture, error) {
	t.Helper()
	// A copy: the connector may rewrite what it is given.
	var copied []any
	b, _ := json.Marshal(resources)
	if err := json.Unmarshal(b, &copied); err != nil {
		t.Fatal(err)
	}
	s := config.Values{"base_url": base, "timeout": "5s", "max_retry_time": "5s", "resources": copied, "parallel_pages": parallel}
	c, err := New(connectors.Job{Source: config.Source{Name: "api"}, ProjectRoot: t.TempDir()}, s)
	if err != nil {
		return nil, err
	}
	c.client.initialInterval = 10 * time.Millisecond
	cap := &tableCapture{t: t, counts: map[string]int{}, ids: map[string]map[string]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cap, c.Extract(ctx, cap)
}

type pagCase struct {
	name, shape string
	dango       []any // dango's resources
	dlt         []any // dlt's resources, when they differ (resolve params)
	want        map[string]int
	err         string // the error dango must fail with
	dltShort    bool   // dlt loads part of the data without an error (the reason dango fails)
}

func res(name, path string, kv ...any) map[string]any {
	m := map[string]any{"name": name, "endpoint": map[string]any{"path": path}}
	for i := 0; i+1 < len(kv); i += 2 {
		m["endpoint"].(map[string]any)[kv[i].(string)] = kv[i+1]
	}
	return m
}

// dangoRes is res in dango's resource form (the endpoint keys flattened), which the
// configuration layer produces from dlt's.
func dangoRes(m map[string]any) map[string]any {
	out := map[string]any{"name": m["name"]}
	for k, v := range m["endpoint"].(map[string]any) {
		out[k] = v
	}
	return out
}

var pagCases = []pagCase{
	{name: "posts and comments, next_page link detected", shape: "posts",
		dango: []any{dangoRes(res("posts", "posts")), map[string]any{"name": "comments", "path": "posts/{id}/comments", "parent": "posts"}},
		dlt: []any{res("posts", "posts"), res("comments", "posts/{post_id}/comments",
			"params", map[string]any{"post_id": map[string]any{"type": "resolve", "resource": "posts", "field": "id"}})},
		want: map[string]int{"posts": 25, "comments": 1250}},
	{name: "offset limit 100", shape: "offset",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 100})}, want: map[string]int{"items": 1000}},
	{name: "page_number from page 0 (dlt's default base_page)", shape: "pagezero",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "page_number"})}, want: map[string]int{"items": 1000}},
	{name: "cursor with dlt's default cursor_path", shape: "cursor",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "cursor"})}, want: map[string]int{"items": 1000}},
	{name: "data_selector $.data.items", shape: "nested",
		dango: []any{res("items", "items", "data_selector", "$.data.items")}, want: map[string]int{"items": 7}},
	{name: "data_selector data.items", shape: "nested",
		dango: []any{res("items", "items", "data_selector", "data.items")}, want: map[string]int{"items": 7}},
	{name: "data_selector $['data']", shape: "nested",
		dango: []any{res("items", "items", "data_selector", "$['data']")}, want: map[string]int{"items": 1}},
	{name: "data_selector $.data.items[*]", shape: "nested",
		dango: []any{res("items", "items", "data_selector", "$.data.items[*]")}, want: map[string]int{"items": 7}},
	{name: "Link header detected", shape: "github",
		dango: []any{res("issues", "issues")}, want: map[string]int{"issues": 95}},
	{name: "header_link configured", shape: "github",
		dango: []any{res("issues", "issues", "paginator", map[string]any{"type": "header_link"})}, want: map[string]int{"issues": 95}},
	{name: "page_number from 1 with total_pages", shape: "pagesone",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "page_number", "base_page": 1, "total_path": "total_pages"})}, want: map[string]int{"items": 40}},
	{name: "page_number with maximum_page", shape: "pagesone",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "page_number", "base_page": 1, "total_path": nil, "maximum_page": 3})}, want: map[string]int{"items": 20}},
	{name: "total_pages detected, pages from 0", shape: "pageszero",
		dango: []any{res("items", "items")}, want: map[string]int{"items": 40}},
	{name: "nextPageToken detected as a cursor", shape: "token",
		dango: []any{res("items", "items")}, want: map[string]int{"items": 35}},
	{name: "offset with has_more_path", shape: "hasmore",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 10, "total_path": nil, "has_more_path": "has_more"})}, want: map[string]int{"items": 45}},
	{name: "offset stopping at an empty page", shape: "hasmore",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 20, "total_path": nil})}, want: map[string]int{"items": 45}},
	{name: "offset with maximum_offset", shape: "offset",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 50, "maximum_offset": 300})}, want: map[string]int{"items": 300}},
	{name: "offset with one short page in the middle", shape: "filtered",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 10, "total_path": nil})}, want: map[string]int{"items": 32}},
	{name: "header_cursor", shape: "hcursor",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "header_cursor", "cursor_key": "X-Next", "cursor_param": "after"})}, want: map[string]int{"items": 27}},
	{name: "cursor with has_more_path", shape: "cursormore",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "cursor", "cursor_path": "next", "has_more_path": "has_more"})}, want: map[string]int{"items": 42}},
	{name: "single object", shape: "single",
		dango: []any{res("me", "me")}, want: map[string]int{"me": 1}},
	{name: "json_link at pagination.next, relative", shape: "linknested",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "json_link", "next_url_path": "pagination.next"})}, want: map[string]int{"items": 23}},
	{name: "links.next.href detected", shape: "dicthref",
		dango: []any{res("items", "items")}, want: map[string]int{"items": 31}},
	{name: "single_page", shape: "offset",
		dango: []any{res("items", "items", "paginator", "single_page")}, want: map[string]int{"items": 10}},

	// Where dlt ends quietly short, dango fails and says why.
	{name: "offset: total not reached", shape: "shorttotal", dltShort: true,
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 100})},
		err:   `the API reports 1,000 records (total_path "total") but 500 arrived`},
	{name: "offset: the API caps the page size", shape: "capped", dltShort: true,
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 100})},
		err:   "the API returned 50 records for limit=100 on 2 pages in a row and then more at offset 200: it caps the page size"},
	{name: "page_number: pages empty before the total", shape: "pagesshort", dltShort: true,
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "page_number"})},
		err:   `the API reports 10 pages (total_path "total") but page 5 came back empty after 500 records`},
	{name: "json_link: next link at another key", shape: "wrongpath", dltShort: true,
		dango: []any{res("items", "items", "paginator", "json_link")},
		err:   `next_url_path "next" is not in the reply, but "next_page" ("/s/wrongpath/items?p=2") is`},
	{name: "detected next link, count not reached", shape: "drfcount", dltShort: true,
		dango: []any{res("items", "items")},
		err:   `the API reports 30 records ("$.count" in the replies) but 20 arrived over 2 pages`},
	{name: "data_selector missing from the reply", shape: "nested", dltShort: true,
		dango: []any{res("items", "items", "data_selector", "results")},
		err:   `data_selector "results" matches nothing in the reply (its top-level keys are "data", "meta")`},
	{name: "cursor configured, the reply has a next link", shape: "wrongpath", dltShort: true,
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "cursor", "cursor_path": "next_cursor"})},
		err:   `cursor_path "next_cursor" is not in the reply, but "next_page" ("/s/wrongpath/items?p=2") is: the pagination would stop after this page; it holds a link: paginator: {type: json_link, next_url_path: next_page}`},
	{name: "reply is not JSON", shape: "html",
		dango: []any{res("items", "items")},
		err:   `is not JSON (no JSON value at its start; Content-Type: text/html; it starts with "<!DOCTYPE html>`},
	{name: "cursor is an object", shape: "cursorobj",
		dango: []any{res("items", "items", "paginator", "cursor")},
		err:   `cursor_path "cursors.next" holds {"id":5} in the reply, not a cursor`},
	{name: "has_more_path missing", shape: "nohasmore",
		dango: []any{res("items", "items", "paginator", map[string]any{"type": "offset", "limit": 10, "total_path": nil, "has_more_path": "has_more"})},
		err:   `has_more_path "has_more" is not in the reply`},
	{name: "page_number without total in the reply", shape: "hasmore",
		dango: []any{res("items", "items", "paginator", "page_number")},
		err:   `total_path "total" (the total number of pages) is not in the reply`},
	{name: "pages from 1 detected as from 0", shape: "pagesone", dltShort: true,
		dango: []any{res("items", "items")}, want: map[string]int{"items": 40}},
}

// TestPaginationShapes runs every shape with pages fetched one by one and four ahead: the
// same records, each once, and with a reported total not one request more.
func TestPaginationShapes(t *testing.T) {
	srv := &shapeServer{requests: map[string]int{}}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	for _, c := range pagCases {
		t.Run(c.name, func(t *testing.T) {
			requests := map[int64]int{}
			for _, parallel := range []int64{1, 4} {
				before := srv.count(c.shape)
				got, err := extractTables(t, hs.URL+"/s/"+c.shape, c.dango, parallel)
				requests[parallel] = srv.count(c.shape) - before
				if c.err != "" {
					if err == nil || !strings.Contains(err.Error(), c.err) {
						t.Fatalf("parallel %d: err = %v\nwant it to contain %s", parallel, err, c.err)
					}
					if strings.Contains(err.Error(), "127.0.0.1") && !strings.Contains(err.Error(), "GET ") {
						t.Errorf("the error names a URL without saying which request: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("parallel %d: %v", parallel, err)
				}
				for table, n := range c.want {
					if got.counts[table] != n || len(got.ids[table]) != n {
						t.Errorf("parallel %d: %s: %d records, %d distinct; want %d", parallel, table, got.counts[table], len(got.ids[table]), n)
					}
				}
			}
			// Pages numbered against a reported total or a maximum: prefetching never asks for
			// a page the page-by-page fetch would not ask for.
			if c.err == "" && (c.shape == "offset" || c.shape == "pagezero" || c.shape == "pagesone") {
				if requests[4] != requests[1] {
					t.Errorf("with a reported total, prefetching made %d requests, one by one %d", requests[4], requests[1])
				}
			}
		})
	}
}

// TestPaginationMatchesDlt runs dlt's rest_api_source on the same server and
// configurations (dlt 1.31 from the project's venv) and compares the records per resource:
// equal where dango succeeds, and, where dango fails, dlt loading part of the data without
// an error — the silent partial load dango refuses.
func TestPaginationMatchesDlt(t *testing.T) {
	python := os.Getenv("DANGO_DLT_PYTHON")
	if python == "" {
		python, _ = filepath.Abs("../../.venv-dlt/bin/python") // the checkout's venv
	}
	if _, err := os.Stat(python); err != nil {
		t.Skipf("dlt's venv is not here (%s); set DANGO_DLT_PYTHON", python)
	}
	srv := &shapeServer{requests: map[string]int{}}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	var configs []any
	for _, c := range pagCases {
		rs := c.dlt
		if rs == nil {
			rs = c.dango
		}
		configs = append(configs, map[string]any{"client": map[string]any{"base_url": hs.URL + "/s/" + c.shape + "/"}, "resources": rs})
	}
	in, _ := json.Marshal(configs)
	script, _ := filepath.Abs("testdata/dlt_rest_api.py")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "RUNTIME__DLTHUB_TELEMETRY=false", "DLT_DATA_DIR="+cmd.Dir, "RUNTIME__LOG_LEVEL=ERROR",
		"RUNTIME__REQUEST_MAX_ATTEMPTS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dlt: %v\n%s", err, stderr.String())
	}
	var results []struct {
		Counts   map[string]int `json:"counts"`
		Distinct map[string]int `json:"distinct"`
		Error    string         `json:"error"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(pagCases) {
		t.Fatalf("dlt's output: %v\n%s", err, out)
	}
	for i, c := range pagCases {
		d := results[i]
		switch {
		case c.err == "" && !c.dltShort:
			if d.Error != "" {
				t.Errorf("%s: dlt failed: %s", c.name, d.Error)
				continue
			}
			// dango against dlt's own numbers, on the same server.
			got, err := extractTables(t, hs.URL+"/s/"+c.shape, c.dango, 4)
			if err != nil {
				t.Errorf("%s: dango: %v", c.name, err)
				continue
			}
			for table, n := range d.Counts {
				if got.counts[table] != n || len(got.ids[table]) != d.Distinct[table] {
					t.Errorf("%s: %s: dlt %d (%d distinct), dango %d (%d distinct)", c.name, table, n, d.Distinct[table], got.counts[table], len(got.ids[table]))
				}
			}
			if len(d.Counts) != len(c.want) {
				t.Errorf("%s: dlt loaded %v, the case expects %v", c.name, d.Counts, c.want)
			}
		case c.dltShort:
			if d.Error != "" {
				t.Errorf("%s: dlt failed too (%s); the case says it loads part quietly", c.name, d.Error)
				continue
			}
			if c.err != "" {
				t.Logf("%s: dlt loads %v without an error; dango fails: %s", c.name, d.Counts, c.err)
				continue
			}
			// dango loads everything where dlt loads less, or repeats records.
			for table, n := range c.want {
				if d.Distinct[table] >= n {
					t.Errorf("%s: %s: dlt has all %d distinct records; the case says it does not", c.name, table, n)
				}
			}
			t.Logf("%s: dlt loads %v records, %v distinct; dango %v, each once", c.name, d.Counts, d.Distinct, c.want)
		default:
			t.Logf("%s: dlt: %v %s", c.name, d.Counts, d.Error)
		}
	}
}

func TestPaginatorConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  map[string]any
		want string // "" : valid
	}{
		{map[string]any{"type": "offset", "limit": 100}, ""},
		{map[string]any{"type": "next_url", "next_url_path": "links.next"}, ""},
		{map[string]any{"type": "link_header"}, ""},
		{map[string]any{"type": "none"}, ""},
		{map[string]any{"type": "page_number", "initial_page": 1, "total_pages_path": "meta.pages"}, ""},
		{map[string]any{"type": "offset"}, "paginator offset needs limit"},
		{map[string]any{"type": "offset", "limit": "ten"}, "limit must be an integer"},
		{map[string]any{"type": "offset", "limit": 10, "limt": 5}, `paginator offset has no key "limt"; its keys are limit, offset`},
		{map[string]any{"type": "page_number", "total_path": nil, "stop_after_empty_page": false}, "paginator page_number would never stop: set total_path, maximum_page, has_more_path or stop_after_empty_page: true"},
		{map[string]any{"type": "cursor", "cursor_body_path": "next"}, "cursor_body_path puts the value into a JSON request body"},
		{map[string]any{"type": "json_link", "next_url_path": "$.a[?(@.x)]"}, "filter and script expressions"},
		{map[string]any{"type": "jsonlink"}, `paginator type "jsonlink" is not known; use one of auto, cursor, header_cursor, header_link, json_link, last_id, offset, page_number, single_page`},
		{map[string]any{"type": "single_page", "limit": 1}, `paginator single_page takes no keys besides type, got "limit"`},
		{map[string]any{"type": "cursor", "stop_after_empty_page": "maybe"}, `"maybe" is not a boolean`},
	}
	for _, c := range cases {
		err := ValidatePaginator(c.cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.cfg, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
}
