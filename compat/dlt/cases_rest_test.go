package dltcompat

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// REST cases: dlt's documented rest_api configurations, on local APIs shaped as dlt's docs
// describe them. The dict each dlt script passes to rest_api_source is, word for word, the
// YAML dango reads under rest_api: (checkSameConfig enforces it).

func restCases() []sideBySide {
	return []sideBySide{
		{
			// The docs' first example: no paginator (dlt detects the `next_page` link in the
			// body), records under `data`, and a child resource resolved from each post's id.
			name: "rest_posts_comments", source: "blog", api: postsAPI, restCfg: true,
			keys: map[string][]string{"posts": {"id"}, "comments": {"id"}},
			sources: `version: 1
sources:
  - name: blog
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
      resources:
        - posts
        - name: comments
          endpoint:
            path: "posts/{post_id}/comments"
            params:
              post_id:
                type: resolve
                resource: posts
                field: id
`},
		{
			name: "rest_offset", source: "shop", api: offsetAPI, restCfg: true,
			keys: map[string][]string{"items": {"id"}},
			sources: `version: 1
sources:
  - name: shop
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
      resources:
        - name: items
          endpoint:
            path: items
            paginator:
              type: offset
              limit: 100
`},
		{
			// page_number with dlt's defaults: base_page 0, page_param page, total_path total
			// (the number of pages).
			name: "rest_page_number", source: "metrics", api: pageNumberAPI, restCfg: true,
			keys: map[string][]string{"records": {"id"}},
			sources: `version: 1
sources:
  - name: metrics
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
      resources:
        - name: records
          endpoint:
            path: records
            paginator:
              type: page_number
`},
		{
			// cursor with dlt's defaults: cursor_path cursors.next, cursor_param cursor.
			name: "rest_cursor", source: "audit", api: cursorAPI, restCfg: true,
			keys: map[string][]string{"events": {"id"}},
			sources: `version: 1
sources:
  - name: audit
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
        paginator:
          type: cursor
      resources:
        - events
`},
		{
			name: "rest_header_link", source: "people", api: headerLinkAPI, restCfg: true,
			keys: map[string][]string{"users": {"id"}},
			sources: `version: 1
sources:
  - name: people
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
      resources:
        - name: users
          endpoint:
            path: users
            paginator: header_link
`},
		{
			name: "rest_data_selector", source: "catalog", api: dataSelectorAPI, restCfg: true,
			keys: map[string][]string{"search": {"id"}},
			sources: `version: 1
sources:
  - name: catalog
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
      resources:
        - name: search
          endpoint:
            path: search
            data_selector: "$.data.items"
            paginator: single_page
`},
		{
			// Two levels of parents, a {resources.…} placeholder and {type: resolve} params,
			// include_from_parent, bearer auth, a header and resource_defaults params.
			name: "rest_include_from_parent", source: "forge", api: forgeAPI, restCfg: true,
			keys: map[string][]string{"repos": {"id"}, "issues": {"id"}, "issue_comments": {"id"}},
			sources: `version: 1
sources:
  - name: forge
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
        auth:
          type: bearer
          token: forge-token-5f2a
        headers:
          Accept: application/json
      resource_defaults:
        endpoint:
          params:
            per_page: 10
      resources:
        - name: repos
          endpoint:
            path: orgs/acme/repos
        - name: issues
          endpoint:
            path: "repos/acme/{resources.repos.name}/issues"
          include_from_parent: [name]
        - name: issue_comments
          endpoint:
            path: "issues/{issue_id}/comments"
            params:
              issue_id:
                type: resolve
                resource: issues
                field: id
          include_from_parent: [id, title]
`},
		{
			// {incremental.start_value} in a param, merged by primary key, run twice: the
			// second run asks only for what changed since the first.
			name: "rest_incremental", source: "helpdesk", api: ticketsAPI, runs: 2, restCfg: true,
			keys: map[string][]string{"tickets": {"id"}},
			sources: `version: 1
sources:
  - name: helpdesk
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
      resources:
        - name: tickets
          primary_key: id
          write_disposition: merge
          endpoint:
            path: tickets
            params:
              updated_since: "{incremental.start_value}"
            incremental:
              cursor_path: updated_at
              initial_value: "2024-01-05T00:00:00Z"
`},
		{
			// A misspelt key: dlt's config validation refuses it, and so must dango.
			name: "rest_misspelt_key", source: "typo", api: dataSelectorAPI, rejects: "data_selectr",
			sources: `version: 1
sources:
  - name: typo
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
      resources:
        - name: search
          endpoint:
            path: search
            data_selectr: "$.data.items"
`},
		{
			// The example in dlt's rest_api_resources docstring (GitHub issues and their
			// comments), on GitHub-shaped records: nested objects, lists, reactions keyed
			// "+1"/"-1", a field null until the second run, synced three times.
			name: "rest_github_issues", source: "github", api: githubAPI, runs: 3, restCfg: true,
			keys: map[string][]string{"issues": {"id"}, "issue_comments": {"id"}},
			sources: `version: 1
sources:
  - name: github
    type: rest_api
    rest_api:
      client:
        base_url: "{{API}}"
        auth:
          token: ghp-test-token-0001
      resource_defaults:
        primary_key: id
        write_disposition: merge
        endpoint:
          params:
            per_page: 100
      resources:
        - name: issues
          endpoint:
            path: issues
            params:
              sort: updated
              direction: desc
              state: open
              since: "{incremental.start_value}"
            incremental:
              cursor_path: updated_at
              initial_value: "2024-01-25T11:21:28Z"
        - name: issue_comments
          endpoint:
            path: "issues/{resources.issues.number}/comments"
`},
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// params checks that r carries only known query parameters and returns their values; it
// answers 400 itself (so a client sending something unexpected fails loudly) and returns nil.
func params(w http.ResponseWriter, r *http.Request, known ...string) map[string]string {
	out := map[string]string{}
	ok := map[string]bool{}
	for _, k := range known {
		ok[k] = true
	}
	for k, v := range r.URL.Query() {
		if !ok[k] || len(v) != 1 {
			http.Error(w, fmt.Sprintf(`{"error": "unknown or repeated query parameter %q"}`, k), http.StatusBadRequest)
			return nil
		}
		out[k] = v[0]
	}
	return out
}

func intOr(w http.ResponseWriter, s string, def int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		http.Error(w, `{"error": "not a non-negative integer: `+s+`"}`, http.StatusBadRequest)
		return 0, false
	}
	return n, true
}

func origin(r *http.Request) string { return "http://" + r.Host }

func pageOf[T any](all []T, from, size int) []T {
	if from >= len(all) {
		return []T{}
	}
	return all[from:min(from+size, len(all))]
}

// postsAPI: 25 posts, 5 a page, 50 comments per post, 10 a page; pages are 1-based and the
// body links the next one: {"data": [...], "next_page": "http://…?page=2"} (null on the last).
func postsAPI() http.Handler {
	type post = map[string]any
	var posts []post
	for i := 1; i <= 25; i++ {
		posts = append(posts, post{"id": i, "title": fmt.Sprintf("Post %d", i), "body": fmt.Sprintf("Body of post %d", i),
			"author":     map[string]any{"id": i%3 + 1, "login": fmt.Sprintf("writer%d", i%3+1)},
			"created_at": fmt.Sprintf("2024-01-%02dT10:00:00Z", i)})
	}
	page := func(w http.ResponseWriter, r *http.Request, all []post, size int) {
		q := params(w, r, "page")
		if q == nil {
			return
		}
		n, ok := intOr(w, q["page"], 1)
		if !ok {
			return
		}
		if n < 1 {
			n = 1
		}
		var next any
		if n*size < len(all) {
			next = fmt.Sprintf("%s%s?page=%d", origin(r), r.URL.Path, n+1)
		}
		writeJSON(w, map[string]any{"data": pageOf(all, (n-1)*size, size), "next_page": next})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /posts", func(w http.ResponseWriter, r *http.Request) { page(w, r, posts, 5) })
	mux.HandleFunc("GET /posts/{id}/comments", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil || id < 1 || id > len(posts) {
			http.NotFound(w, r)
			return
		}
		var cs []post
		for j := 1; j <= 50; j++ {
			cs = append(cs, post{"id": id*1000 + j, "post_id": id, "body": fmt.Sprintf("Comment %d on post %d", j, id),
				"likes": (id * j) % 7, "created_at": fmt.Sprintf("2024-02-%02dT%02d:%02d:00Z", id, j%24, j)})
		}
		page(w, r, cs, 10)
	})
	return mux
}

// offsetAPI: 1,000 items; ?offset= and ?limit= (10 when absent, at most 100); {"items", "total"}.
func offsetAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, r *http.Request) {
		q := params(w, r, "offset", "limit")
		if q == nil {
			return
		}
		off, ok1 := intOr(w, q["offset"], 0)
		if !ok1 {
			return
		}
		lim, ok2 := intOr(w, q["limit"], 10)
		if !ok2 {
			return
		}
		lim = min(lim, 100)
		var items []map[string]any
		for i := off; i < min(off+lim, 1000); i++ {
			items = append(items, map[string]any{"id": i + 1, "name": fmt.Sprintf("item %d", i+1), "price": float64(i+1) * 1.25,
				"in_stock": i%2 == 0, "added_on": fmt.Sprintf("2024-03-%02d", i%28+1)})
		}
		if items == nil {
			items = []map[string]any{}
		}
		writeJSON(w, map[string]any{"items": items, "total": 1000})
	})
	return mux
}

// pageNumberAPI: 1,000 records in 10 pages of 100, numbered from 0; "total" is the number of
// pages. Timestamps carry a +02:00 offset.
func pageNumberAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /records", func(w http.ResponseWriter, r *http.Request) {
		q := params(w, r, "page")
		if q == nil {
			return
		}
		p, ok := intOr(w, q["page"], 0)
		if !ok {
			return
		}
		recs := []map[string]any{}
		for i := p * 100; i < min(p*100+100, 1000); i++ {
			recs = append(recs, map[string]any{"id": i + 1, "value": i % 17, "ratio": float64(i%9) / 4,
				"measured_at": fmt.Sprintf("2024-01-%02dT%02d:%02d:00+02:00", i%28+1, i%24, i%60)})
		}
		writeJSON(w, map[string]any{"records": recs, "page": p, "total": 10})
	})
	return mux
}

// cursorAPI: 1,000 events, 100 a page; {"events": [...], "cursors": {"next": "<opaque>"}},
// next null on the last page; ?cursor= continues.
func cursorAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		q := params(w, r, "cursor")
		if q == nil {
			return
		}
		from := 0
		if c := q["cursor"]; c != "" {
			b, err := base64.RawURLEncoding.DecodeString(c)
			if err == nil {
				from, err = strconv.Atoi(string(b))
			}
			if err != nil {
				http.Error(w, `{"error": "bad cursor"}`, http.StatusBadRequest)
				return
			}
		}
		evs := []map[string]any{}
		for i := from; i < min(from+100, 1000); i++ {
			evs = append(evs, map[string]any{"id": fmt.Sprintf("evt_%04d", i+1), "type": []string{"login", "logout", "purchase"}[i%3],
				"payload":     map[string]any{"user": map[string]any{"id": i % 50}, "amount": i % 13},
				"occurred_at": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339)})
		}
		var next any
		if from+100 < 1000 {
			next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(from + 100)))
		}
		writeJSON(w, map[string]any{"events": evs, "cursors": map[string]any{"next": next}})
	})
	return mux
}

// headerLinkAPI: 90 users, 30 a page, a bare JSON list with an RFC 8288 Link header.
func headerLinkAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		q := params(w, r, "page")
		if q == nil {
			return
		}
		p, ok := intOr(w, q["page"], 1)
		if !ok {
			return
		}
		p = max(p, 1)
		users := []map[string]any{}
		for i := (p - 1) * 30; i < min(p*30, 90); i++ {
			users = append(users, map[string]any{"id": 500 + i, "login": fmt.Sprintf("user-%d", i), "site_admin": i%10 == 0,
				"plan":       map[string]any{"name": []string{"free", "pro"}[i%2], "space": 1000 * (i%4 + 1)},
				"created_at": time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i*3).Format(time.RFC3339)})
		}
		if p*30 < 90 {
			w.Header().Set("Link", fmt.Sprintf(`<%s/users?page=%d>; rel="next", <%s/users?page=3>; rel="last"`, origin(r), p+1, origin(r)))
		}
		writeJSON(w, users)
	})
	return mux
}

// dataSelectorAPI: one response, the records two levels down.
func dataSelectorAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /search", func(w http.ResponseWriter, r *http.Request) {
		if params(w, r) == nil {
			return
		}
		items := []map[string]any{}
		for i := 1; i <= 7; i++ {
			items = append(items, map[string]any{"id": i, "name": fmt.Sprintf("Result %d", i), "score": float64(i) / 8,
				"tags": []string{"a", "b", "c"}[:i%3+1]})
		}
		writeJSON(w, map[string]any{"data": map[string]any{"items": items, "total": 7}, "meta": map[string]any{"took_ms": 3, "pages": []int{1}}})
	})
	return mux
}

// forgeAPI: 3 repos; 12 issues each, per_page 10 with Link headers; 0–3 comments per issue.
// Every request needs the bearer token and per_page.
func forgeAPI() http.Handler {
	repos := []string{"api", "web", "docs"}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer forge-token-5f2a" || r.Header.Get("Accept") != "application/json" {
				http.Error(w, `{"message": "Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	perPage := func(w http.ResponseWriter, r *http.Request) (int, int, bool) {
		q := params(w, r, "per_page", "page")
		if q == nil {
			return 0, 0, false
		}
		if q["per_page"] != "10" {
			http.Error(w, `{"error": "per_page=10 is required here"}`, http.StatusBadRequest)
			return 0, 0, false
		}
		p, ok := intOr(w, q["page"], 1)
		return 10, max(p, 1), ok
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orgs/acme/repos", auth(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := perPage(w, r); !ok {
			return
		}
		var out []map[string]any
		for i, n := range repos {
			out = append(out, map[string]any{"id": 10 + i, "name": n, "full_name": "acme/" + n, "private": i == 2,
				"owner": map[string]any{"login": "acme", "type": "Organization"}})
		}
		writeJSON(w, out)
	}))
	mux.HandleFunc("GET /repos/acme/{repo}/issues", auth(func(w http.ResponseWriter, r *http.Request) {
		ri := -1
		for i, n := range repos {
			if n == r.PathValue("repo") {
				ri = i
			}
		}
		if ri < 0 {
			http.NotFound(w, r)
			return
		}
		size, p, ok := perPage(w, r)
		if !ok {
			return
		}
		var all []map[string]any
		for j := 1; j <= 12; j++ {
			all = append(all, map[string]any{"id": (ri+1)*100 + j, "number": j, "title": fmt.Sprintf("%s issue %d", repos[ri], j),
				"state": []string{"open", "closed"}[j%2], "comments": j % 4})
		}
		if p*size < len(all) {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?per_page=10&page=%d>; rel="next"`, origin(r), r.URL.Path, p+1))
		}
		writeJSON(w, pageOf(all, (p-1)*size, size))
	}))
	mux.HandleFunc("GET /issues/{id}/comments", auth(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil || id < 101 || id > 312 || id%100 == 0 || id%100 > 12 {
			http.NotFound(w, r)
			return
		}
		if _, _, ok := perPage(w, r); !ok {
			return
		}
		out := []map[string]any{}
		for k := 1; k <= id%100%4; k++ {
			out = append(out, map[string]any{"id": id*10 + k, "body": fmt.Sprintf("comment %d on %d", k, id), "author": fmt.Sprintf("dev%d", k)})
		}
		writeJSON(w, out)
	}))
	return mux
}

// ticketsAPI: ?updated_since= (RFC 3339) returns the tickets updated at or after it, oldest
// first. Phase 1 updates ticket 3 and adds tickets 21–25.
func ticketsAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tickets", func(w http.ResponseWriter, r *http.Request) {
		q := params(w, r, "updated_since")
		if q == nil {
			return
		}
		var since time.Time
		if s := q["updated_since"]; s != "" {
			var err error
			if since, err = time.Parse(time.RFC3339, s); err != nil {
				http.Error(w, `{"error": "updated_since must be RFC 3339"}`, http.StatusBadRequest)
				return
			}
		}
		type ticket struct {
			ID      int       `json:"id"`
			Subject string    `json:"subject"`
			Status  string    `json:"status"`
			Updated time.Time `json:"updated_at"`
		}
		var all []ticket
		for i := 1; i <= 20; i++ {
			all = append(all, ticket{i, fmt.Sprintf("Ticket %d", i), "open", time.Date(2024, 1, i, 9, 0, 0, 0, time.UTC)})
		}
		if phase(r) >= 1 {
			all[2].Status, all[2].Updated = "closed", time.Date(2024, 2, 1, 9, 0, 0, 0, time.UTC)
			for i := 21; i <= 25; i++ {
				all = append(all, ticket{i, fmt.Sprintf("Ticket %d", i), "new", time.Date(2024, 2, i-19, 9, 30, 0, 0, time.UTC)})
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].Updated.Before(all[j].Updated) })
		out := []ticket{}
		for _, t := range all {
			if !t.Updated.Before(since) {
				out = append(out, t)
			}
		}
		writeJSON(w, out)
	})
	return mux
}

// githubAPI: GitHub-shaped /issues and /issues/{number}/comments. 30 open issues updated an
// hour apart from 2024-01-25; `draft` and `milestone` are null everywhere in phase 0; phase 1
// makes issue 15 a draft, relabels it and adds issue 31; phase 2 changes nothing.
func githubAPI() http.Handler {
	base := time.Date(2024, 1, 25, 0, 0, 0, 0, time.UTC)
	issue := func(n, ph int) map[string]any {
		labels := []map[string]any{}
		if n%3 == 0 {
			labels = append(labels, map[string]any{"id": 1, "name": "bug", "color": "d73a4a", "default": true})
		}
		if n%5 == 0 {
			labels = append(labels, map[string]any{"id": 2, "name": "good first issue", "color": "7057ff", "default": false})
		}
		updated := base.Add(time.Duration(n) * time.Hour)
		var draft any
		if ph >= 1 && n == 15 {
			draft, updated = true, base.Add(72*time.Hour)
			labels = append(labels, map[string]any{"id": 3, "name": "wip", "color": "ededed", "default": false})
		}
		it := map[string]any{"id": 9000 + n, "number": n, "title": fmt.Sprintf("Issue #%d: ünïcode ✓", n), "state": "open",
			"user":   map[string]any{"login": fmt.Sprintf("octo%d", n%4), "id": 100 + n%4, "site_admin": false},
			"labels": labels, "assignees": []any{}, "comments": n % 4,
			"reactions": map[string]any{"+1": n % 5, "-1": n % 2, "laugh": 0, "total_count": n%5 + n%2},
			"draft":     draft, "milestone": nil, "closed_at": nil, "locked": false,
			"created_at": base.Add(-time.Duration(n) * 24 * time.Hour).Format(time.RFC3339), "updated_at": updated.Format(time.RFC3339),
			"body": fmt.Sprintf("Steps:\n1. run `dango sync`\n2. see %d rows", n*10)}
		if n%7 == 0 {
			it["pull_request"] = map[string]any{"url": fmt.Sprintf("https://example.invalid/pulls/%d", n), "merged_at": nil}
		}
		return it
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /issues", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ghp-test-token-0001" {
			http.Error(w, `{"message": "Requires authentication"}`, http.StatusUnauthorized)
			return
		}
		q := params(w, r, "sort", "direction", "state", "since", "per_page", "page")
		if q == nil {
			return
		}
		if q["sort"] != "updated" || q["direction"] != "desc" || q["state"] != "open" || q["per_page"] != "100" {
			http.Error(w, `{"message": "this test API expects sort=updated, direction=desc, state=open, per_page=100"}`, http.StatusBadRequest)
			return
		}
		var since time.Time
		if s := q["since"]; s != "" {
			var err error
			if since, err = time.Parse(time.RFC3339, s); err != nil {
				http.Error(w, `{"message": "since must be ISO 8601"}`, http.StatusUnprocessableEntity)
				return
			}
		}
		last := 30
		if phase(r) >= 1 {
			last = 31
		}
		out := []map[string]any{}
		for n := 1; n <= last; n++ {
			it := issue(n, phase(r))
			u, _ := time.Parse(time.RFC3339, it["updated_at"].(string))
			if !u.Before(since) {
				out = append(out, it)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["updated_at"].(string) > out[j]["updated_at"].(string) })
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /issues/{number}/comments", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ghp-test-token-0001" {
			http.Error(w, `{"message": "Requires authentication"}`, http.StatusUnauthorized)
			return
		}
		if params(w, r, "per_page", "page") == nil {
			return
		}
		n, err := strconv.Atoi(r.PathValue("number"))
		if err != nil || n < 1 || n > 31 {
			http.NotFound(w, r)
			return
		}
		out := []map[string]any{}
		for k := 1; k <= n%4; k++ {
			out = append(out, map[string]any{"id": n*100 + k, "body": fmt.Sprintf("+1 from %d", k),
				"user":       map[string]any{"login": fmt.Sprintf("octo%d", k), "id": 100 + k},
				"reactions":  map[string]any{"+1": k, "-1": 0, "total_count": k},
				"created_at": base.Add(time.Duration(n*60+k) * time.Minute).In(time.FixedZone("CET", 3600)).Format(time.RFC3339)})
		}
		writeJSON(w, out)
	})
	return mux
}
