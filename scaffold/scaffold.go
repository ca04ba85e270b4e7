// Package scaffold writes a new dango project (`dango init`): the .dango settings, secrets
// files, a dbt project wired to the warehouse, and — for the demo — bundled sample data with
// sources that load it.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/dangohq/dango/naming"
)

//go:embed all:template
var templates embed.FS

// Result lists what Create did, relative to Dir.
type Result struct {
	Written  []string
	BackedUp []string // files --force replaced, kept as <file>.bak
}

// Options say where and what to create.
type Options struct {
	Dir     string
	Force   bool // overwrite an existing project's scaffold files
	Example bool // add sample data and sources for the demo
}

// ErrExists means the folder already holds a dango project.
var ErrExists = errors.New("a dango project already exists here")

// Create writes the project. With Force, an existing file whose content differs is kept as
// <file>.bak before it is replaced, so re-initialising never loses a user's sources.
func Create(o Options) (Result, error) {
	var res Result
	written, err := create(o, &res)
	res.Written = written
	return res, err
}

func create(o Options, res *Result) ([]string, error) {
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ".dango")); err == nil && !o.Force {
		return nil, fmt.Errorf("%w (%s); use --force to overwrite its settings files", ErrExists, filepath.Join(dir, ".dango"))
	}
	name := naming.Snake(filepath.Base(dir))
	if strings.HasPrefix(name, "_") {
		name = "project" + name
	}
	data := struct{ Name, Sources string }{Name: name}
	if o.Example {
		data.Sources = exampleSources
	}
	var written []string
	err = fs.WalkDir(templates, "template", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "template/")
		if rel == "gitignore" {
			rel = ".gitignore" // go:embed cannot carry a file the repo's own git would read
		}
		raw, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		out := raw
		if bytes.Contains(raw, []byte("{{")) && path.Ext(rel) != ".sql" {
			t, err := template.New(rel).Parse(string(raw))
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := t.Execute(&b, data); err != nil {
				return err
			}
			out = b.Bytes()
		}
		if old, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel))); err == nil && !bytes.Equal(old, out) {
			if err := writeFile(dir, rel+".bak", old, secretFile(rel)); err != nil {
				return err
			}
			res.BackedUp = append(res.BackedUp, rel+".bak")
		}
		if err := writeFile(dir, rel, out, secretFile(rel)); err != nil {
			return err
		}
		written = append(written, rel)
		return nil
	})
	if err != nil {
		return written, err
	}
	for _, d := range []string{"data", "dbt/models/staging", "dbt/models/intermediate", "dbt/models/marts", "dbt/seeds", "dbt/tests", "dbt/macros"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return written, err
		}
		if d != "data" && d != "dbt/macros" {
			keep := filepath.Join(d, ".gitkeep")
			if _, err := os.Stat(filepath.Join(dir, keep)); errors.Is(err, fs.ErrNotExist) {
				if err := writeFile(dir, keep, nil, false); err != nil {
					return written, err
				}
			}
		}
	}
	if o.Example {
		for rel, content := range exampleModels {
			if err := writeFile(dir, rel, []byte(content), false); err != nil {
				return written, err
			}
			written = append(written, rel)
		}
		files, err := writeExampleData(dir)
		written = append(written, files...)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func secretFile(rel string) bool { return rel == ".env" || rel == ".dlt/secrets.toml" }

func writeFile(dir, rel string, data []byte, secret bool) error {
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if secret {
		mode = 0o600
	}
	return os.WriteFile(full, data, mode)
}

const exampleSources = `  - name: sales_data
    type: csv
    description: Orders exported from the shop (sample data)
    primary_key: Order ID
    csv:
      path: data/sales.csv

  - name: customers
    type: json
    description: Customer records with a nested address (sample data)
    json:
      path: data/customers.jsonl

  - name: web_events
    type: csv
    description: One CSV file per day; newer files have an extra column (sample data)
    primary_key: event_id
    csv:
      path: data/web_events/
`

// exampleModels are the demo's marts, built on the staging models `dango generate` writes.
var exampleModels = map[string]string{
	"dbt/models/marts/customer_metrics.sql": `{{ config(materialized='table', tags=['customer', 'daily']) }}

-- One row per customer: orders and revenue from the shop's sales.
select
    c.id as customer_id,
    c.name,
    c.address__country_code as country,
    count(s.order_id) as orders,
    coalesce(round(sum(s.quantity * s.unit_price), 2), 0) as revenue
from {{ ref('stg_customers') }} c
left join {{ ref('stg_sales_data') }} s on s.customer_id = c.id
group by all
`,
	"dbt/models/marts/revenue_by_region.sql": `{{ config(materialized='table', tags=['daily']) }}

select
    region,
    count(*) as orders,
    round(sum(quantity * unit_price), 2) as revenue
from {{ ref('stg_sales_data') }}
group by region
`,
	"dbt/models/marts/_marts.yml": `version: 2
models:
  - name: customer_metrics
    description: Orders and revenue per customer.
    columns:
      - name: customer_id
        data_tests: [unique, not_null]
  - name: revenue_by_region
    columns:
      - name: region
        data_tests:
          - unique
          - accepted_values:
              values: ['North', 'South', 'East', 'West']
`,
}
