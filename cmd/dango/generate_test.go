package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// requireTool finds an external program the tests run against: $envVar, else name on PATH.
// CI must have it (make test installs it); elsewhere the test is skipped, saying how to get it.
func requireTool(t *testing.T, envVar, name string) string {
	t.Helper()
	bin := os.Getenv(envVar)
	if bin == "" {
		bin, _ = exec.LookPath(name)
	}
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must provide %s (set %s); make test installs it", name, envVar)
		}
		t.Skipf("%s not installed; `make test` installs it", name)
	}
	return bin
}

func dbtPath(t *testing.T) string { return requireTool(t, "DANGO_DBT", "dbt") }

func runDBT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(dbtPath(t), append(args, "--profiles-dir", ".dango", "--project-dir", "dbt")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dbt %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

const threeSources = `version: 1
sources:
  - name: customers
    type: csv
    primary_key: id
    csv: {path: data/customers.csv}
  - name: subscriptions
    type: csv
    dedup_strategy: scd_type2
    csv: {path: data/subs/}
  - name: events
    type: json
    json: {path: data/events.jsonl}
`

func TestGenerateAndBuildWithDBT(t *testing.T) {
	dir := newProject(t, threeSources)
	writeFile(t, dir, "data/events.jsonl", `{"seq": 1, "kind": "click"}`+"\n")
	// Three syncs: customers.csv changes each time (its rows are replaced); subscriptions get a
	// new export file each time, appending a changed version of ids 1 and 2 (the history
	// scd_type2 tracks).
	for i, v := range []string{"new", "active", "churned"} {
		writeFile(t, dir, "data/customers.csv", "id,name,status\n1,ann,"+v+"\n2,bob,"+v+"-b\n")
		writeFile(t, dir, fmt.Sprintf("data/subs/%d.csv", i), "id,plan\n1,"+v+"\n2,"+v+"\n")
		if r := dango(t, dir, "sync"); r.code != 0 {
			t.Fatalf("sync: %+v", r)
		}
	}
	r := dango(t, dir, "generate")
	if r.code != 0 {
		t.Fatalf("generate: %+v", r)
	}
	want := `Generating staging models...
Introspecting raw layer...

Found sources:
  - customers (1 table: customers)
  - subscriptions (1 table: subscriptions)
  - events (1 table: events)

Generating models...

✓ Generated stg_customers.sql (5 columns, latest_only)
✓ Generated stg_subscriptions.sql (5 columns, scd_type2)
✓ Generated stg_events.sql (4 columns, none)
  no primary key (set primary_key in sources.yml, or have an id column): latest_only falls back to none

✓ Generated _stg_customers__sources.yml
✓ Generated _stg_subscriptions__sources.yml
✓ Generated _stg_events__sources.yml

✓ Generated _stg_customers__schema.yml
✓ Generated _stg_subscriptions__schema.yml
✓ Generated _stg_events__schema.yml

3 models created in dbt/models/staging/

Next step:
`
	if !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("generate output:\n%s\nwant prefix:\n%s", r.stdout, want)
	}
	// dango's own engine builds them and passes the generated tests…
	if r := dango(t, dir, "build"); r.code != 0 || !strings.Contains(r.stdout, "ERROR=0 SKIP=0") {
		t.Fatalf("dango build of generated staging: %+v", r)
	}
	if got := scalar(t, dir, "SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM staging.stg_customers"); got != "1:churned,2:churned-b" {
		t.Errorf("latest_only (dango run) = %s", got)
	}
	// …and so does real dbt-core.
	out := runDBT(t, dir, "run")
	if !strings.Contains(out, "PASS=3") {
		t.Fatalf("dbt run:\n%s", out)
	}
	out = runDBT(t, dir, "test")
	if !regexp.MustCompile(`PASS=\d+ WARN=0 ERROR=0`).MatchString(out) {
		t.Fatalf("dbt test:\n%s", out)
	}
	if got := scalar(t, dir, "SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM staging.stg_customers"); got != "1:churned,2:churned-b" {
		t.Errorf("latest_only = %s", got)
	}
	if got := scalar(t, dir, "SELECT count(*) || '/' || count(*) FILTER (WHERE _is_current) || '/' || count(_valid_to) FROM staging.stg_subscriptions WHERE id = 1"); got != "3/1/2" {
		t.Errorf("scd_type2 versions/current/closed = %s", got)
	}
	if got := scalar(t, dir, "SELECT plan FROM staging.stg_subscriptions WHERE id = 2 AND _is_current"); got != "churned" {
		t.Errorf("current version = %s", got)
	}
}

func TestGenerateKeepsEditsUnlessForced(t *testing.T) {
	dir := newProject(t, threeSources)
	writeFile(t, dir, "data/customers.csv", "id,name\n1,ann\n")
	writeFile(t, dir, "data/subs/0.csv", "id,plan\n1,p\n")
	writeFile(t, dir, "data/events.jsonl", `{"seq": 1}`+"\n")
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	r := dango(t, dir, "generate", "--source", "customers")
	want := "Generating staging models for customers...\nIntrospecting raw_customers.* tables...\n\n✓ Generated stg_customers.sql\n✓ Generated _stg_customers__sources.yml\n✓ Generated _stg_customers__schema.yml\n\n1 model created.\n"
	if r.code != 0 || !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("generate --source:\n%s\nwant prefix\n%s", r.stdout, want)
	}
	model := filepath.Join(dir, "dbt/models/staging/stg_customers.sql")
	edited, _ := os.ReadFile(model)
	edited = append(edited, []byte("-- my note\n")...)
	os.WriteFile(model, edited, 0o644)
	// The raw schema changes: untouched files update, the edited model is kept.
	writeFile(t, dir, "data/customers.csv", "id,name,email\n2,bo,b@x\n")
	if r := dango(t, dir, "sync", "--source", "customers"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	r = dango(t, dir, "generate")
	if r.code != 0 || !strings.Contains(r.stdout, "⚠ Kept stg_customers.sql (hand-edited, skipped; --force regenerates it)") ||
		!strings.Contains(r.stdout, "✓ Updated _stg_customers__sources.yml") || !strings.Contains(r.stdout, "✓ Generated stg_subscriptions.sql") {
		t.Fatalf("generate over an edit:\n%s", r.stdout)
	}
	if r := dango(t, dir, "generate"); r.code != 0 || !strings.Contains(r.stdout, "✓ stg_subscriptions.sql is up to date") ||
		!strings.Contains(r.stdout, "0 models created in dbt/models/staging/\n1 edited file kept as it is.") {
		t.Fatalf("second generate:\n%s", r.stdout)
	}
	if now, _ := os.ReadFile(model); string(now) != string(edited) {
		t.Fatal("the edited model was changed")
	}
	if r := dango(t, dir, "generate", "--force"); r.code != 2 || !strings.Contains(r.stderr, "needs confirmation") {
		t.Fatalf("--force without a terminal: %+v", r)
	}
	r = dango(t, dir, "generate", "--force", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, "⚠ Force mode enabled\nThis will OVERWRITE existing staging models:\n  - dbt/models/staging/stg_customers.sql\n") {
		t.Fatalf("--force --yes:\n%s", r.stdout)
	}
	if now, _ := os.ReadFile(model); strings.Contains(string(now), "my note") || !strings.Contains(string(now), "email") {
		t.Fatalf("forced model:\n%s", now)
	}
	if r := dango(t, dir, "generate", "--dedup-strategy", "newest"); r.code != 2 {
		t.Errorf("bad strategy: %+v", r)
	}
}

func TestAutoGenerateAfterSchemaChange(t *testing.T) {
	dir := newProject(t, "version: 1\nsources:\n  - name: people\n    type: csv\n    csv: {path: data/p.csv}\n")
	writeFile(t, dir, ".dango/project.yml", "auto_generate: true\n")
	writeFile(t, dir, "data/p.csv", "id,name\n1,a\n")
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "auto_generate: the raw schema of people changed; updating staging models\n✓ Generated stg_people.sql") {
		t.Fatalf("first sync: %+v", r)
	}
	// Same shape again: nothing to regenerate.
	if r := dango(t, dir, "sync"); r.code != 0 || strings.Contains(r.stdout, "auto_generate") {
		t.Fatalf("unchanged schema regenerated: %+v", r)
	}
	writeFile(t, dir, "data/p.csv", "id,name,age\n2,b,40\n")
	r = dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "✓ Updated stg_people.sql") {
		t.Fatalf("after a new column: %+v", r)
	}
	m, _ := os.ReadFile(filepath.Join(dir, "dbt/models/staging/stg_people.sql"))
	if !strings.Contains(string(m), "    age,") {
		t.Fatalf("model lacks the new column:\n%s", m)
	}
}
