package scaffold

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Sizes of the bundled sample data (the spec's demo shows 5,432 sales rows).
const (
	ExampleSalesRows     = 5432
	ExampleCustomers     = 500
	ExampleEventsPerDay  = 1200
	ExampleEventDays     = 3
	exampleDataStartDate = "2024-11-01"
)

// writeExampleData generates the demo's files deterministically, so every demo shows the
// same numbers.
func writeExampleData(dir string) ([]string, error) {
	rng := rand.New(rand.NewPCG(2024, 11))
	start, _ := time.Parse("2006-01-02", exampleDataStartDate)
	var written []string
	create := func(rel string, fill func(w *bufio.Writer) error) error {
		full := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		f, err := os.Create(full)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		if err := fill(w); err != nil {
			f.Close()
			return err
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		written = append(written, rel)
		return f.Close()
	}
	products := []struct {
		name  string
		price float64
	}{{"Notebook", 4.5}, {"Fountain Pen", 32}, {"Ink, blue", 7.25}, {"Desk Lamp", 45.9}, {"Stapler", 12}, {"Paper A4 (500)", 6.8}}
	regions := []string{"North", "South", "East", "West"}

	err := create("data/sales.csv", func(w *bufio.Writer) error {
		fmt.Fprintln(w, "Order ID,Order Date,Customer ID,Product,Quantity,Unit Price,Region")
		for i := 1; i <= ExampleSalesRows; i++ {
			p := products[rng.IntN(len(products))]
			day := start.AddDate(0, 0, -rng.IntN(180))
			product := p.name
			if rng.IntN(3) == 0 || containsComma(product) {
				product = `"` + product + `"`
			}
			fmt.Fprintf(w, "%d,%s,%d,%s,%d,%.2f,%s\n", 100000+i, day.Format("2006-01-02"), 1+rng.IntN(ExampleCustomers),
				product, 1+rng.IntN(5), p.price, regions[rng.IntN(len(regions))])
		}
		return nil
	})
	if err != nil {
		return written, err
	}
	cities := []struct{ city, country string }{{"Lisbon", "PT"}, {"Berlin", "DE"}, {"Lyon", "FR"}, {"Austin", "US"}, {"Osaka", "JP"}}
	err = create("data/customers.jsonl", func(w *bufio.Writer) error {
		enc := json.NewEncoder(w)
		for i := 1; i <= ExampleCustomers; i++ {
			c := cities[rng.IntN(len(cities))]
			rec := map[string]any{
				"id":            i,
				"name":          fmt.Sprintf("Customer %d", i),
				"email":         fmt.Sprintf("customer%d@example.com", i),
				"signupDate":    start.AddDate(0, 0, -rng.IntN(720)).Format("2006-01-02"),
				"isActive":      rng.IntN(5) != 0,
				"address":       map[string]any{"city": c.city, "countryCode": c.country},
				"lifetimeValue": float64(rng.IntN(500000)) / 100,
			}
			if err := enc.Encode(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return written, err
	}
	kinds := []string{"page_view", "add_to_cart", "checkout", "search"}
	for d := 0; d < ExampleEventDays; d++ {
		day := start.AddDate(0, 0, d)
		withReferrer := d == ExampleEventDays-1
		err = create(fmt.Sprintf("data/web_events/%s.csv", day.Format("2006-01-02")), func(w *bufio.Writer) error {
			header := "event_id,customer_id,event_type,occurred_at"
			if withReferrer {
				header += ",referrer"
			}
			fmt.Fprintln(w, header)
			for i := 1; i <= ExampleEventsPerDay; i++ {
				ts := day.Add(time.Duration(rng.IntN(86400)) * time.Second)
				fmt.Fprintf(w, "%d,%d,%s,%s", d*ExampleEventsPerDay+i, 1+rng.IntN(ExampleCustomers), kinds[rng.IntN(len(kinds))], ts.Format("2006-01-02 15:04:05"))
				if withReferrer {
					fmt.Fprintf(w, ",%s", []string{"google", "newsletter", "direct"}[rng.IntN(3)])
				}
				fmt.Fprintln(w)
			}
			return nil
		})
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func containsComma(s string) bool {
	for _, r := range s {
		if r == ',' {
			return true
		}
	}
	return false
}
