package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// blogAPI is a GitHub-like API as dlt's rest_api docs use it: /posts paginated by a
// `paging.next` link, /posts/{id}/comments (404 for post 13, which response_actions ignore),
// and POST /reactions with a JSON body naming the post.
type blogAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	bodies   []map[string]any // POST bodies received
	comments int              // comment requests
}

const blogPosts, blogPageSize, commentsPerPost = 25, 10, 3

func newBlogAPI(t *testing.T) *blogAPI {
	b := &blogAPI{}
	b.srv = httptest.NewServer(b)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *blogAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/posts":
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page == 0 {
			page = 1
		}
		var data []map[string]any
		for i := (page-1)*blogPageSize + 1; i <= min(page*blogPageSize, blogPosts); i++ {
			data = append(data, map[string]any{"id": i, "title": fmt.Sprintf("Post %d", i), "author": map[string]any{"login": fmt.Sprintf("user%d", i%4)}})
		}
		paging := map[string]any{"next": nil}
		if page*blogPageSize < blogPosts {
			paging["next"] = fmt.Sprintf("%s/posts?page=%d", b.srv.URL, page+1)
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "paging": paging})
	case r.Method == "GET" && len(parts) == 3 && parts[0] == "posts" && parts[2] == "comments":
		b.mu.Lock()
		b.comments++
		b.mu.Unlock()
		id, _ := strconv.Atoi(parts[1])
		if id == 13 {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"message": "Not Found"}`)
			return
		}
		var data []map[string]any
		for c := 1; c <= commentsPerPost; c++ {
			data = append(data, map[string]any{"id": id*100 + c, "body": fmt.Sprintf("comment %d on %d", c, id), "sort": r.URL.Query().Get("sort")})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data, "paging": map[string]any{"next": nil}})
	case r.Method == "POST" && r.URL.Path == "/reactions":
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"message": "expected a JSON body, got %q"}`, raw)
			return
		}
		b.mu.Lock()
		b.bodies = append(b.bodies, body)
		b.mu.Unlock()
		post, _ := body["post_id"].(float64)
		json.NewEncoder(w).Encode(map[string]any{"data": []map[string]any{
			{"post": post, "kind": "+1", "count": int(post) % 5},
			{"post": post, "kind": "heart", "count": 1},
		}})
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"message": "no such endpoint"}`)
	}
}

// blogConfig is dlt's RESTAPIConfig for the blog, as YAML: the same text is dango's
// `rest_api:` block and (parsed by PyYAML) the dict handed to dlt's rest_api_source.
func blogConfig(base string) string {
	return `client:
  base_url: ` + base + `
  paginator:
    type: json_link
    next_url_path: paging.next
resource_defaults:
  primary_key: id
  write_disposition: merge
  endpoint:
    data_selector: data
resources:
  - name: posts
    selected: false
    endpoint:
      path: posts
  - name: comments
    include_from_parent: [title]
    endpoint:
      path: posts/{post_id}/comments
      params:
        post_id:
          type: resolve
          resource: posts
          field: id
        sort: created
      response_actions:
        - status_code: 404
          action: ignore
  - name: reactions
    primary_key: [post, kind]
    endpoint:
      path: reactions
      method: POST
      json:
        post_id: "{resources.posts.id}"
        query: "reactions to {resources.posts.title}"
      paginator: single_page
`
}

func indent(s, pad string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestRestAPIDltConfig runs dlt's own configuration style end to end: resolve params and
// {resources.x.y} placeholders, include_from_parent, a selected: false parent, a POST JSON
// body and a 404 ignored by response_actions; dlt 1.31 loads the same config from the same
// API and the tables' row counts and columns must agree.
func TestRestAPIDltConfig(t *testing.T) {
	api := newBlogAPI(t)
	cfg := blogConfig(api.srv.URL)
	dir := newProject(t, "version: 1\nsources:\n  - name: blog\n    type: rest_api\n    rest_api:\n"+indent(cfg, "      "))
	r := dango(t, dir, "sync")
	if r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "Ignoring HTTP 404 from GET /posts/13/comments (response_actions)") {
		t.Errorf("the ignored reply is not reported:\n%s%s", r.stdout, r.stderr)
	}
	// The parent is fetched (every comment and reaction request needs it) but not loaded.
	if got := scalar(t, dir, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_blog' AND table_name = 'posts'"); got != "0" {
		t.Errorf("selected: false posts were loaded (%s tables)", got)
	}
	wantComments := (blogPosts - 1) * commentsPerPost
	if got := scalar(t, dir, "SELECT count(*) FROM raw_blog.comments"); got != strconv.Itoa(wantComments) {
		t.Errorf("comments: %s rows, want %d", got, wantComments)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_blog.comments WHERE _posts_title = 'Post ' || (id // 100) AND sort = 'created'"); got != strconv.Itoa(wantComments) {
		t.Errorf("comments with their parent's title and the static param: %s of %d", got, wantComments)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_blog.reactions"); got != strconv.Itoa(2*blogPosts) {
		t.Errorf("reactions: %s rows, want %d", got, 2*blogPosts)
	}
	api.mu.Lock()
	bodies := append([]map[string]any(nil), api.bodies...)
	api.mu.Unlock()
	if len(bodies) != blogPosts {
		t.Fatalf("%d POST bodies, want %d", len(bodies), blogPosts)
	}
	// A string that is only a placeholder keeps the value's type (a number); text around a
	// placeholder makes a string.
	if bodies[0]["post_id"] != float64(1) || bodies[0]["query"] != "reactions to Post 1" {
		t.Errorf("first POST body %v", bodies[0])
	}

	// dlt, on the same configuration and API.
	py := os.Getenv("DANGO_DLT_PYTHON")
	if py == "" {
		if p, _ := filepath.Abs("../../.venv-dlt/bin/python"); fileExists(p) {
			py = p
		}
	}
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must provide dlt's python (DANGO_DLT_PYTHON)")
		}
		t.Skip("dlt not installed (set DANGO_DLT_PYTHON): dango's side checked, dlt's comparison skipped")
	}
	work := t.TempDir()
	writeFile(t, work, "config.yml", cfg)
	writeFile(t, work, "run.py", dltRunner)
	cmd := exec.Command(py, "run.py")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "RUNTIME__DLTHUB_TELEMETRY=false", "DLT_DATA_DIR="+filepath.Join(work, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dlt: %v\n%s", err, out)
	}
	var dltTables map[string]struct {
		Rows    int      `json:"rows"`
		Columns []string `json:"columns"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &dltTables); err != nil {
		t.Fatalf("dlt output: %v\n%s", err, out)
	}
	got := dango(t, dir, "query", "--format", "csv", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw_blog' AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\' AND table_name NOT LIKE '\\_dango%' ESCAPE '\\' ORDER BY 1")
	dangoTables := strings.Fields(strings.TrimPrefix(strings.TrimSpace(got.stdout), "table_name"))
	var dltNames []string
	for name := range dltTables {
		dltNames = append(dltNames, name)
	}
	if strings.Join(sortedStrings(dltNames), ",") != strings.Join(dangoTables, ",") {
		t.Errorf("tables: dango %v, dlt %v", dangoTables, sortedStrings(dltNames))
	}
	for name, d := range dltTables {
		if rows := scalar(t, dir, "SELECT count(*) FROM raw_blog."+name); rows != strconv.Itoa(d.Rows) {
			t.Errorf("%s: dango %s rows, dlt %d", name, rows, d.Rows)
		}
		// _dlt_extracted_at is dango's addition to the raw layer (DESIGN.md), not dlt's.
		cols := scalar(t, dir, "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'raw_blog' AND table_name = '"+name+"' AND column_name <> '_dlt_extracted_at'")
		if want := strings.Join(sortedStrings(d.Columns), ","); cols != want {
			t.Errorf("%s columns:\ndango %s\ndlt   %s", name, cols, want)
		}
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// dltRunner loads config.yml with dlt's rest_api_source into DuckDB and prints each data
// table's row count and columns as JSON.
const dltRunner = `
import json, os, yaml, dlt, duckdb
from dlt.sources.rest_api import rest_api_source
ds = os.environ.get("DLT_DATASET", "raw_blog")
config = yaml.safe_load(open("config.yml"))
p = dlt.pipeline(pipeline_name="p", destination=dlt.destinations.duckdb("dlt.duckdb"),
                 dataset_name=ds, pipelines_dir=os.path.join(os.getcwd(), "pipelines"))
p.run(rest_api_source(config, name="src"))
con = duckdb.connect("dlt.duckdb")
out = {}
for (t,) in con.execute("select table_name from information_schema.tables where table_schema=? and table_name not like '\\_dlt%' escape '\\'", [ds]).fetchall():
    cols = [c for (c,) in con.execute("select column_name from information_schema.columns where table_schema=? and table_name=?", [ds, t]).fetchall()]
    out[t] = {"rows": con.execute(f'select count(*) from "{ds}"."{t}"').fetchone()[0], "columns": cols}
print(json.dumps(out))
`
