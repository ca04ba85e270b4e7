package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryCannotTouchTheMachine: dango query of statements that would write a file, read
// one (the secrets file included), attach a database, install or load an extension, or
// turn the lockdown off fails with an error saying why, and creates nothing.
func TestQueryCannotTouchTheMachine(t *testing.T) {
	dir := newProject(t, "")
	writeFile(t, dir, ".env", "STRIPE_KEY=sk_live_do_not_show\n")
	writeFile(t, dir, "seeds/x.csv", "a\n1\n")
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "warehouse.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE answers AS SELECT 42 AS answer",
		"CREATE VIEW doubled AS SELECT answer * 2 AS d FROM answers",
		"CREATE VIEW from_seed AS SELECT * FROM read_csv('" + filepath.Join(dir, "seeds", "x.csv") + "')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	out := filepath.Join(t.TempDir(), "x")
	for _, q := range []string{
		"COPY (SELECT * FROM answers) TO '" + out + "'",
		"COPY answers TO 'answers.csv'",
		"SELECT * FROM read_text('.env')",
		"SELECT * FROM read_csv('/etc/passwd')",
		"ATTACH '" + out + ".duckdb' AS other",
		"INSTALL httpfs",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"SET lock_configuration = false",
		"SELECT * FROM from_seed",
	} {
		r := dango(t, dir, "query", q)
		if r.code != 1 || !strings.Contains(r.stderr, "dango query reads the warehouse only") || strings.Contains(r.stdout+r.stderr, "sk_live_do_not_show") {
			t.Errorf("%s: %+v", q, r)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("COPY TO wrote %s", out)
	}
	if _, err := os.Stat(out + ".duckdb"); !os.IsNotExist(err) {
		t.Errorf("ATTACH created %s", out+".duckdb")
	}
	if _, err := os.Stat(filepath.Join(dir, "answers.csv")); !os.IsNotExist(err) {
		t.Error("COPY TO wrote answers.csv in the project")
	}
	if r := dango(t, dir, "query", "SELECT * FROM from_seed"); !strings.Contains(r.stderr, "materialized='table'") {
		t.Errorf("a view reading a file: the error does not say what to do: %s", r.stderr)
	}
	// Queries over the warehouse, views included, still work.
	if got := scalar(t, dir, "SELECT d FROM doubled"); got != "84" {
		t.Errorf("view over a table: %s", got)
	}
}
