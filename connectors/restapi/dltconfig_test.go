package restapi

import (
	"context"
	"fmt"
	"github.com/dangohq/dango/batch"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dangohq/dango/connectors"
)

// recorder keeps what each request asked for.
type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies map[*http.Request]string // JSON bodies
}

func (rc *recorder) add(r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Header.Get("Content-Type") == "application/json" {
		b, _ := io.ReadAll(r.Body)
		if rc.bodies == nil {
			rc.bodies = map[*http.Request]string{}
		}
		rc.bodies[r] = string(b)
	}
	if err := r.ParseForm(); err != nil {
		panic(err)
	}
	rc.reqs = append(rc.reqs, r)
}

func (rc *recorder) find(path string) []*http.Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []*http.Request
	for _, r := range rc.reqs {
		if r.URL.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func runYAML(t *testing.T, block string) (*capture, error) {
	t.Helper()
	srcs, err := parse(t, "sources:\n  - name: api\n    type: rest_api\n    rest_api:\n"+block)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(connectors.Job{Source: srcs[0], ProjectRoot: t.TempDir()}, srcs[0].Settings)
	if err != nil {
		t.Fatal(err)
	}
	cap := &capture{t: t, ids: map[string]bool{}}
	return cap, c.Extract(context.Background(), cap)
}

// TestIncrementalAndAuthAsDlt: dlt's endpoint incremental (start_param, end_param,
// {incremental.start_value} in path, params, json and headers), dlt's oauth2 (credentials
// in the form body, access_token_request_data) and an api_key cookie.
func TestIncrementalAndAuthAsDlt(t *testing.T) {
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token", func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		fmt.Fprint(w, `{"access_token": "tok-from-form"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		fmt.Fprint(w, `[{"id": 1, "updated_at": "2024-02-01T00:00:00Z"}]`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	t.Setenv("CLIENT_SECRET", "cs-123")
	_, err := runYAML(t, `      client:
        base_url: `+srv.URL+`
        auth:
          type: oauth2_client_credentials
          access_token_url: `+srv.URL+`/oauth/token
          client_id: my-client
          client_secret_env: CLIENT_SECRET
          access_token_request_data: {scope: read, audience: api}
      resources:
        - name: events
          endpoint:
            path: events/{incremental.start_value}
            method: POST
            params: {q: "after {incremental.start_value}"}
            json: {from: "{incremental.start_value}", literal: "{{braces}}"}
            headers: {X-From: "{incremental.start_value}"}
            paginator: single_page
            incremental:
              cursor_path: updated_at
              initial_value: "2024-01-01"
              start_param: since
              end_param: until
              end_value: "2024-12-31"
`)
	if err != nil {
		t.Fatal(err)
	}
	tok := rec.find("/oauth/token")
	if len(tok) != 1 {
		t.Fatalf("%d token requests", len(tok))
	}
	if f := tok[0].PostForm; f.Get("client_id") != "my-client" || f.Get("client_secret") != "cs-123" || f.Get("grant_type") != "client_credentials" ||
		f.Get("scope") != "read" || f.Get("audience") != "api" {
		t.Errorf("token form %v", f)
	}
	if _, _, basic := tok[0].BasicAuth(); basic {
		t.Error("dlt's oauth2 sends the credentials in the form, not basic auth")
	}
	ev := rec.find("/events/2024-01-01")
	if len(ev) != 1 {
		t.Fatalf("requests: %d to /events/2024-01-01", len(ev))
	}
	r := ev[0]
	q := r.URL.Query()
	if r.Method != "POST" || q.Get("since") != "2024-01-01" || q.Get("until") != "2024-12-31" || q.Get("q") != "after 2024-01-01" ||
		r.Header.Get("X-From") != "2024-01-01" || r.Header.Get("Authorization") != "Bearer tok-from-form" {
		t.Errorf("request %s %s headers %v", r.Method, r.URL, r.Header)
	}
	if b := rec.bodies[r]; b != `{"from":"2024-01-01","literal":"{braces}"}` {
		t.Errorf("body %s", b)
	}

	// api_key in a cookie; a resource left unselected is not fetched at all.
	rec2 := &recorder{}
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec2.add(r)
		fmt.Fprint(w, `[{"id": 1}]`)
	}))
	defer srv2.Close()
	cap, err := runYAML(t, `      client:
        base_url: `+srv2.URL+`
        auth: {type: api_key, name: session, api_key: k-1, location: cookie}
      resources:
        - things
        - name: hidden
          selected: false
`)
	if err != nil {
		t.Fatal(err)
	}
	got := rec2.find("/things")
	if len(got) != 1 || cap.records != 1 || len(rec2.find("/hidden")) != 0 {
		t.Fatalf("things %d, records %d, hidden fetched %d times", len(got), cap.records, len(rec2.find("/hidden")))
	}
	if c, err := got[0].Cookie("session"); err != nil || c.Value != "k-1" {
		t.Errorf("cookie %v %v", c, err)
	}
}

// TestLegacyParentAndStaticPathParams: dango's older `parent` with {field} paths still works,
// and a path placeholder naming a static param is filled from it (dlt's _bind_path_params).
func TestLegacyParentAndStaticPathParams(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		switch {
		case r.URL.Path == "/orgs/acme/users":
			fmt.Fprint(w, `{"data": [{"id": 1, "org": {"slug": "a b"}}, {"id": 2, "org": {"slug": "c"}}]}`)
		case strings.HasPrefix(r.URL.Path, "/users/"):
			fmt.Fprint(w, `{"data": [{"id": 10}]}`)
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	cap, err := runYAML(t, `      base_url: `+srv.URL+`
      resources:
        - name: users
          path: orgs/{org}/users
          params: {org: acme, v: 2}
          paginator: none
        - name: orders
          parent: users
          path: users/{id}/orders
          paginator: none
        - name: members
          endpoint:
            path: users/{resources.users.id}/members
            params: {slug: "{resources.users.org.slug}"}
            paginator: none
          include_from_parent: [id]
`)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.find("/users/1/orders")) + len(rec.find("/users/2/orders")); n != 2 {
		t.Errorf("%d order requests", n)
	}
	m := rec.find("/users/1/members")
	if len(m) != 1 || m[0].URL.Query().Get("slug") != "a b" {
		t.Errorf("members requests %v", m)
	}
	if q := rec.find("/orgs/acme/users"); len(q) != 1 || q[0].URL.Query().Has("org") || q[0].URL.Query().Get("v") != "2" {
		t.Errorf("the static path param is also sent as a query param: %v", q)
	}
	if cap.records != 2+2+2 {
		t.Errorf("%d records", cap.records)
	}
}

// TestResponseActions: a reply matching a response action (by status, by content, or both)
// yields no records and no error, ends that request's pages, and is logged; other errors
// still fail. Both page loops (sequential and numbered pages fetched ahead) honour them.
func TestResponseActions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			w.WriteHeader(404)
			fmt.Fprint(w, `{"message": "Not Found"}`)
		case "/maintenance":
			fmt.Fprint(w, `{"status": "down for maintenance", "data": [{"id": 1}]}`)
		case "/numbered":
			if r.URL.Query().Get("page") == "3" {
				w.WriteHeader(400)
				fmt.Fprint(w, `{"message": "page out of range"}`)
				return
			}
			fmt.Fprintf(w, `{"data": [{"id": %s1}, {"id": %s2}]}`, r.URL.Query().Get("page"), r.URL.Query().Get("page"))
		case "/broken":
			w.WriteHeader(400)
			fmt.Fprint(w, `{"message": "bad request"}`)
		}
	}))
	defer srv.Close()
	cap, err := runYAML(t, `      client: {base_url: `+srv.URL+`}
      parallel_pages: 4
      resources:
        - name: gone
          endpoint:
            response_actions: [{status_code: 404, action: ignore}]
        - name: maintenance
          endpoint:
            response_actions: [{content: maintenance, action: ignore}]
        - name: numbered
          endpoint:
            paginator: {type: page_number, base_page: 1, page_param: page, total_path: null}
            response_actions: [{status_code: 400, content: out of range, action: ignore}]
`)
	if err != nil {
		t.Fatal(err)
	}
	if cap.records != 4 || !cap.ids["11"] || !cap.ids["22"] {
		t.Errorf("records %d %v, want pages 1 and 2 of numbered only", cap.records, cap.ids)
	}
	logs := strings.Join(cap.logs, "\n")
	for _, want := range []string{"Ignoring HTTP 404 from GET /gone (response_actions)", "Ignoring HTTP 200 from GET /maintenance", "Ignoring HTTP 400 from GET /numbered"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// The same 400 without the text the action names is an error.
	_, err = runYAML(t, `      client: {base_url: `+srv.URL+`}
      resources:
        - name: broken
          endpoint:
            response_actions: [{status_code: 400, content: out of range, action: ignore}]
`)
	if err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("error %v, want the HTTP 400", err)
	}
}

// TestFormData: dlt's endpoint.data as a mapping is a form body, as a string a raw body;
// placeholders are filled in both.
func TestFormData(t *testing.T) {
	rec := &recorder{}
	raw := map[string]string{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/raw" {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			raw[r.Header.Get("Content-Type")] = string(b)
			mu.Unlock()
		} else {
			rec.add(r)
		}
		fmt.Fprint(w, `[{"id": 7}]`)
	}))
	defer srv.Close()
	_, err := runYAML(t, `      client: {base_url: `+srv.URL+`}
      resources:
        - name: ids
        - name: form
          endpoint:
            method: POST
            data: {parent: "{resources.ids.id}", kind: all, n: 3}
        - name: raw
          endpoint:
            method: POST
            data: "id={resources.ids.id}"
`)
	if err != nil {
		t.Fatal(err)
	}
	f := rec.find("/form")
	if len(f) != 1 || f[0].PostForm.Get("parent") != "7" || f[0].PostForm.Get("kind") != "all" || f[0].PostForm.Get("n") != "3" {
		t.Fatalf("form requests %v", f)
	}
	if raw[""] != "id=7" {
		t.Errorf("raw bodies by content type %q", raw)
	}
}

// TestEndpointAuth: a resource's own auth replaces the client's for its requests only, and
// its secret is redacted like the client's.
func TestEndpointAuth(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		if r.URL.Path == "/fails" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"message": "key %s rejected"}`, r.URL.Query().Get("key"))
			return
		}
		fmt.Fprint(w, `[{"id": 1}]`)
	}))
	defer srv.Close()
	t.Setenv("EP_KEY", "ep-key-777")
	_, err := runYAML(t, `      client:
        base_url: `+srv.URL+`
        auth: {token_env: BLOG_TOKEN}
      resources:
        - plain
        - name: own
          endpoint:
            auth: {type: api_key, name: key, api_key_env: EP_KEY, location: query}
`)
	if err != nil {
		t.Fatal(err)
	}
	p, o := rec.find("/plain"), rec.find("/own")
	if len(p) != 1 || p[0].Header.Get("Authorization") != "Bearer tok-secret" || p[0].URL.Query().Has("key") {
		t.Errorf("plain %v", p)
	}
	if len(o) != 1 || o[0].Header.Get("Authorization") != "" || o[0].URL.Query().Get("key") != "ep-key-777" {
		t.Errorf("own %v %v", o[0].URL, o[0].Header)
	}
	_, err = runYAML(t, `      client: {base_url: `+srv.URL+`}
      resources:
        - name: fails
          endpoint:
            auth: {type: api_key, name: key, api_key_env: EP_KEY, location: query}
`)
	if err == nil || strings.Contains(err.Error(), "ep-key-777") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %v: want the key redacted", err)
	}
}

// TestMaxTableNesting: a resource's max_table_nesting decides which nested lists become child
// tables (planned as Children of a list column) and which stay JSON in the row, as in dlt.
func TestMaxTableNesting(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id": 1, "items": [{"sku": "a", "tags": ["x", "y"]}]}]`)
	}))
	defer srv.Close()
	for _, c := range []struct {
		nesting string
		want    string // the type of column items
	}{
		{"", "list"}, {"max_table_nesting: 1\n", "list"}, {"max_table_nesting: 0\n", "JSON"},
	} {
		cap, err := runYAML(t, "      client: {base_url: "+srv.URL+"}\n      resources:\n        - name: orders\n          endpoint: {paginator: single_page}\n"+
			strings.ReplaceAll("          "+c.nesting, "          \n", ""))
		if err != nil {
			t.Fatal(err)
		}
		var items *batch.Column
		for i, col := range cap.columns["orders"] {
			if col.Name == "items" {
				items = &cap.columns["orders"][i]
			}
		}
		if items == nil {
			t.Fatalf("%q: no items column in %+v", c.nesting, cap.columns["orders"])
		}
		_, isList := batch.ListElement(items.Type)
		if got := map[bool]string{true: "list", false: items.Type}[isList || len(items.Children) > 0]; got != c.want {
			t.Errorf("%q: items is %s (%+v), want %s", c.nesting, got, items, c.want)
		}
		if c.nesting == "max_table_nesting: 1\n" {
			for _, ch := range items.Children {
				if ch.Name == "tags" && len(ch.Children) > 0 {
					t.Errorf("max_table_nesting 1: tags became a child table of the child table: %+v", ch)
				}
			}
		}
	}
}
