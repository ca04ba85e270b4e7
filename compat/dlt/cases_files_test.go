package dltcompat

import (
	"encoding/json"
	"fmt"
	"strings"
)

// File cases: the same files read by dlt's filesystem source (read_csv, read_jsonl) and by
// dango's csv and json sources.

func fileCases() []sideBySide {
	return []sideBySide{
		{
			// Headers as spreadsheets export them: spaces, symbols, non-ASCII letters, +1/-1,
			// a leading digit, a trailing $, dots, double underscores, mixed case.
			name: "csv_messy_headers", source: "orders", files: map[string]string{"orders.csv": messyCSV()},
			keys: map[string][]string{"orders": {"order_id"}},
			sources: `version: 1
sources:
  - name: orders
    type: csv
    csv:
      path: "{{DATA}}/orders.csv"
`},
		{
			// A folder of daily exports: the newer file gains a column, one file has only its
			// header.
			name: "csv_folder", source: "daily_sales",
			files: map[string]string{
				"2024-01-01.csv": "sale_id,amount,region\n1,10.5,north\n2,7.25,south\n",
				"2024-01-02.csv": "sale_id,amount,region,channel\n3,3.0,north,web\n4,12.75,east,store\n5,1.5,west,web\n",
				"2024-01-03.csv": "sale_id,amount,region,channel\n",
			},
			keys: map[string][]string{"daily_sales": {"sale_id"}},
			sources: `version: 1
sources:
  - name: daily_sales
    type: csv
    csv:
      path: "{{DATA}}"
`},
		{
			name: "csv_empty", source: "empty_files",
			files: map[string]string{"empty.csv": "", "header_only.csv": "id,name\n"},
			sources: `version: 1
sources:
  - name: empty_files
    type: csv
    csv:
      path: "{{DATA}}"
`},
		{
			// Timestamps with Z, with +02:00 and without an offset, a date, a column null in
			// the first 40 records, an integer column with one string, integers then floats,
			// booleans, UUIDs, a big integer, nested objects and a list of scalars.
			name: "json_ndjson_types", source: "events", files: map[string]string{"events.jsonl": typesNDJSON()},
			keys: map[string][]string{"events": {"id"}},
			sources: `version: 1
sources:
  - name: events
    type: json
    json:
      path: "{{DATA}}/events.jsonl"
`},
		{
			name: "json_nested_lists", source: "orders", files: map[string]string{"orders.jsonl": nestedNDJSON()},
			keys: map[string][]string{"orders": {"id"}},
			sources: `version: 1
sources:
  - name: orders
    type: json
    json:
      path: "{{DATA}}/orders.jsonl"
`},
	}
}

func messyCSV() string {
	var b strings.Builder
	b.WriteString("Order ID,customer name,Price ($),ünïcödé Ñame,+1,-1,Total %,camelCaseCol,with.dot,__private,trailing$,2nd column,e-mail,ORDER DATE,Notes\n")
	names := []string{`"Smith, Ann"`, "Bob", "Zoë", `"O'Brien ""Jr"""`, "李雷"}
	for i := 1; i <= 20; i++ {
		note := ""
		if i%4 == 0 {
			note = fmt.Sprintf("note %d", i)
		}
		fmt.Fprintf(&b, "%d,%s,%.2f,%s,%d,%d,%.1f,v%d,d%d,p%d,t%d,s%d,user%d@example.com,2024-01-%02d,%s\n",
			1000+i, names[i%len(names)], float64(i)*3.5, []string{"é", "ß", "ø"}[i%3], i%5, i%3, float64(i)*1.5,
			i, i, i, i, i, i, i, note)
	}
	return b.String()
}

func typesNDJSON() string {
	var b strings.Builder
	for i := 1; i <= 60; i++ {
		rec := map[string]any{
			"id":        i,
			"ts_z":      fmt.Sprintf("2024-01-14T%02d:00:00Z", i%24),
			"ts_offset": fmt.Sprintf("2024-01-14T%02d:30:00+02:00", i%24),
			"ts_naive":  fmt.Sprintf("2024-01-14T%02d:15:00", i%24),
			"day":       fmt.Sprintf("2024-02-%02d", i%28+1),
			"late":      nil,
			"mixed":     i,
			"flag":      i%2 == 0,
			"uid":       fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7919),
			"big":       int64(1)<<62 + int64(i),
			"text":      []string{"plain", "", "ünïcode ✓ 🎉", "with \"quotes\"", "multi\nline"}[i%5],
			"meta":      map[string]any{"source": []string{"web", "ios", "android"}[i%3], "geo": map[string]any{"lat": float64(i) / 4, "lon": -float64(i) / 8}},
			"tags":      []string{"a", "b", "c", "d"}[:i%4],
		}
		if i > 40 {
			rec["late"] = fmt.Sprintf("late %d", i)
		}
		if i == 30 {
			rec["mixed"] = "thirty"
		}
		if i <= 20 {
			rec["amount"] = i * 100
		} else {
			rec["amount"] = float64(i) + 0.25
		}
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func nestedNDJSON() string {
	var b strings.Builder
	for i := 1; i <= 12; i++ {
		var items []map[string]any
		for j := 1; j <= i%4; j++ {
			var opts []map[string]any
			for k := 1; k <= (i+j)%3; k++ {
				vals := []int{}
				for v := 0; v < k+j%2; v++ {
					vals = append(vals, i*100+j*10+v)
				}
				opts = append(opts, map[string]any{"name": fmt.Sprintf("opt%d", k), "values": vals})
			}
			items = append(items, map[string]any{"sku": fmt.Sprintf("SKU-%d-%d", i, j), "qty": j,
				"tags": []string{"red", "big", "sale"}[:(i+j)%4%3], "options": opts})
		}
		rec := map[string]any{"id": i, "customer": map[string]any{"name": fmt.Sprintf("c%d", i), "emails": []string{fmt.Sprintf("c%d@example.com", i)}},
			"items": items, "notes": []string{}}
		if items == nil {
			rec["items"] = []any{}
		}
		line, _ := json.Marshal(rec)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}
