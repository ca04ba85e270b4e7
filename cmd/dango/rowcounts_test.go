package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSyncRowCountsAgree syncs an API whose pages repeat records (a merge on id keeps one
// each) and whose first total is not reached: the printed numbers say what each is — fetched,
// kept and why — and a short pagination fails instead of printing a smaller success.
func TestSyncRowCountsAgree(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/orders": // 3 pages of 4 records; ids 1..6, each twice
			page := 0
			fmt.Sscan(r.URL.Query().Get("page"), &page)
			var items []map[string]any
			for i := 0; i < 4 && page < 3; i++ {
				items = append(items, map[string]any{"id": (page*4+i)%6 + 1, "v": page*4 + i})
			}
			json.NewEncoder(w).Encode(map[string]any{"data": items, "total": 3})
		case "/short": // reports 1,000 records, serves 200
			off := 0
			fmt.Sscan(r.URL.Query().Get("offset"), &off)
			var items []map[string]any
			for i := off; i < off+100 && i < 200; i++ {
				items = append(items, map[string]any{"id": i})
			}
			json.NewEncoder(w).Encode(map[string]any{"items": items, "total": 1000})
		}
	}))
	defer srv.Close()
	dir := newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: api
    type: rest_api
    rest_api:
      base_url: %s
      resources:
        - name: orders
          path: /orders
          primary_key: id
          write_disposition: merge
          paginator: {type: page_number}
`, srv.URL))
	r := dango(t, dir, "sync")
	if r.code != 0 {
		t.Fatalf("sync: %+v", r)
	}
	for _, want := range []string{"Fetched 12 orders", "Kept 6 of 12 fetched rows in raw_api.orders: 6 were duplicates by primary key (the last one kept)", "✓ Sync complete (6 rows"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_api.orders"); got != "6" {
		t.Errorf("rows = %s, want 6", got)
	}

	dir = newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: api
    type: rest_api
    rest_api:
      base_url: %s
      resources:
        - name: short
          path: /short
          data_selector: items
          paginator: {type: offset, limit: 100}
`, srv.URL))
	r = dango(t, dir, "sync")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "the API reports 1,000 records (total_path \"total\") but 200 arrived over 3 pages") {
		t.Fatalf("a short load must fail saying why: %+v", r)
	}
	if strings.Contains(r.stdout, "✓ Sync complete") {
		t.Errorf("printed a success:\n%s", r.stdout)
	}
}
