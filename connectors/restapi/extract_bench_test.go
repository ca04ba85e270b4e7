package restapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
)

type nullEmitter struct{}

func (nullEmitter) Emit(context.Context, batch.Batch) error { return nil }
func (nullEmitter) Logf(string, ...any)                     {}
func (nullEmitter) Progress(int64, int64)                   {}

// BenchmarkExtract measures fetching and spooling 20,000 records in pages of 100.
func BenchmarkExtract(b *testing.B) {
	var pages [][]byte
	for p := 0; p < 200; p++ {
		var recs []map[string]any
		for i := 0; i < 100; i++ {
			id := p*100 + i
			recs = append(recs, map[string]any{"id": id, "email": fmt.Sprintf("u%d@x.io", id), "amount": 1.5, "address": map[string]any{"city": "Lisbon"}})
		}
		data, _ := json.Marshal(map[string]any{"data": recs})
		pages = append(pages, data)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 1 || p > len(pages) {
			w.Write([]byte(`{"data": []}`))
			return
		}
		w.Write(pages[p-1])
	}))
	defer srv.Close()
	root := b.TempDir()
	for i := 0; i < b.N; i++ {
		s := config.Values{"base_url": srv.URL, "timeout": "5s", "max_retry_time": "5s",
			"resources": []any{map[string]any{"name": "r", "path": "/r", "data_selector": "data", "paginator": map[string]any{"type": "page_number", "base_page": 1, "total_path": nil}}}}
		c, err := New(connectors.Job{Source: config.Source{Name: "api"}, ProjectRoot: root}, s)
		if err != nil {
			b.Fatal(err)
		}
		c.batchBytes = 1 << 40 // measure extraction, not DuckDB's describe
		if err := c.Extract(context.Background(), nullEmitter{}); err != nil {
			b.Fatal(err)
		}
	}
}
