package transform

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// querier runs statements on one connection (a *sql.Conn or *sql.Tx).
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func columnsOf(ctx context.Context, q execer, r Relation) ([]string, map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position`,
		r.Database, r.Schema, r.Identifier)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var names []string
	types := map[string]string{}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, nil, err
		}
		names = append(names, n)
		types[n] = t
	}
	return names, types, rows.Err()
}

// materialize builds one model inside a transaction on conn and returns the statements it ran
// (written to target/run) and a message for the console ("OK", "INSERT 12").
// kind is the relation's kind ("table", "view" or "") when the run started.
func (e *Engine) materialize(ctx context.Context, conn *sql.Conn, n *Node, kind string, h nodeHookSQL) (string, string, error) {
	rel := n.Relation()
	var executed []string
	if err := execHooks(ctx, conn, h.preOut, &executed); err != nil {
		return "", "", err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return "", "", err
	}
	defer tx.Rollback()
	run := func(q string) (sql.Result, error) {
		executed = append(executed, q+";")
		return tx.ExecContext(ctx, q)
	}
	if err := execHooks(ctx, tx, h.pre, &executed); err != nil {
		return "", "", err
	}
	body := strings.TrimRight(strings.TrimSpace(n.CompiledCode), ";")
	msg := "OK"
	switch n.Materialized() {
	case "view":
		if kind == "table" {
			if _, err := run("DROP TABLE " + rel.String()); err != nil {
				return "", "", err
			}
		}
		if _, err := run("CREATE OR REPLACE VIEW " + rel.String() + " AS (\n" + body + "\n)"); err != nil {
			return "", "", err
		}
	case "table":
		// Built under a temporary name and swapped in within the transaction: readers see the
		// old table or the new one, never a half-built one.
		tmp := Relation{Database: rel.Database, Schema: rel.Schema, Identifier: rel.Identifier + "__dbt_tmp"}
		if _, err := run("DROP TABLE IF EXISTS " + tmp.String()); err != nil {
			return "", "", err
		}
		if _, err := run("CREATE TABLE " + tmp.String() + " AS (\n" + body + "\n)"); err != nil {
			return "", "", err
		}
		switch kind {
		case "table":
			if _, err := run("DROP TABLE " + rel.String()); err != nil {
				return "", "", err
			}
		case "view":
			if _, err := run("DROP VIEW " + rel.String()); err != nil {
				return "", "", err
			}
		}
		if _, err := run("ALTER TABLE " + tmp.String() + " RENAME TO " + quoteIdent(rel.Identifier)); err != nil {
			return "", "", err
		}
	case "incremental":
		m, err := e.incremental(ctx, tx, n, rel, kind, body, run)
		if err != nil {
			return "", "", err
		}
		msg = m
	default:
		return "", "", fmt.Errorf("materialization %q is not supported by dango's engine (view, table, incremental, ephemeral are)", n.Materialized())
	}
	if err := execHooks(ctx, tx, h.post, &executed); err != nil {
		return "", "", err
	}
	if err := tx.Commit(); err != nil {
		return "", "", err
	}
	if err := execHooks(ctx, conn, h.postOut, &executed); err != nil {
		return "", "", err
	}
	return strings.Join(executed, "\n\n"), msg, nil
}

func (e *Engine) incremental(ctx context.Context, tx *sql.Tx, n *Node, rel Relation, kind, body string, run func(string) (sql.Result, error)) (string, error) {
	fullRefresh := e.FullRefresh
	if fr, ok := n.Config["full_refresh"].(bool); ok {
		fullRefresh = fr
	}
	if kind == "" || fullRefresh || kind == "view" {
		if kind == "view" {
			if _, err := run("DROP VIEW " + rel.String()); err != nil {
				return "", err
			}
		} else if kind == "table" {
			if _, err := run("DROP TABLE " + rel.String()); err != nil {
				return "", err
			}
		}
		if _, err := run("CREATE TABLE " + rel.String() + " AS (\n" + body + "\n)"); err != nil {
			return "", err
		}
		return "OK", nil
	}
	tmp := quoteIdent(rel.Identifier + "__dbt_tmp")
	if _, err := run("CREATE OR REPLACE TEMPORARY TABLE " + tmp + " AS (\n" + body + "\n)"); err != nil {
		return "", err
	}
	defer tx.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+tmp)
	targetCols, targetTypes, err := columnsOf(ctx, tx, rel)
	if err != nil {
		return "", err
	}
	srcCols, srcTypes, err := columnsOf(ctx, tx, Relation{Database: "temp", Schema: "main", Identifier: rel.Identifier + "__dbt_tmp"})
	if err != nil {
		return "", err
	}
	var added, removed []string
	for _, c := range srcCols {
		if _, ok := targetTypes[c]; !ok {
			added = append(added, c)
		}
	}
	for _, c := range targetCols {
		if _, ok := srcTypes[c]; !ok {
			removed = append(removed, c)
		}
	}
	onChange, _ := n.Config["on_schema_change"].(string)
	if onChange == "" {
		onChange = "ignore"
	}
	if len(added)+len(removed) > 0 {
		switch onChange {
		case "fail":
			return "", fmt.Errorf("The source and target schemas on this incremental model are out of sync (added %v, removed %v); "+
				"on_schema_change is fail: run with --full-refresh or change on_schema_change", added, removed)
		case "append_new_columns", "sync_all_columns":
			for _, c := range added {
				if _, err := run("ALTER TABLE " + rel.String() + " ADD COLUMN " + quoteIdent(c) + " " + srcTypes[c]); err != nil {
					return "", err
				}
				targetCols = append(targetCols, c)
			}
			if onChange == "sync_all_columns" {
				for _, c := range removed {
					if _, err := run("ALTER TABLE " + rel.String() + " DROP COLUMN " + quoteIdent(c)); err != nil {
						return "", err
					}
				}
			}
		}
	}
	// Insert the columns both sides have, in the target's order.
	var cols []string
	for _, c := range targetCols {
		if _, ok := srcTypes[c]; ok {
			cols = append(cols, quoteIdent(c))
		}
	}
	list := strings.Join(cols, ", ")
	keys := toStrings(n.Config["unique_key"])
	strategy, _ := n.Config["incremental_strategy"].(string)
	if strategy == "" {
		strategy = "append"
		if len(keys) > 0 {
			strategy = "delete+insert"
		}
	}
	switch strategy {
	case "append":
	case "delete+insert", "merge":
		if len(keys) == 0 {
			return "", fmt.Errorf("incremental_strategy %s needs a unique_key", strategy)
		}
		conds := make([]string, len(keys))
		for i, k := range keys {
			conds[i] = "t." + quoteIdent(k) + " = s." + quoteIdent(k)
		}
		// merge updates matching rows and inserts new ones: the same result as replacing the
		// matching rows, which is what delete+insert does.
		if _, err := run("DELETE FROM " + rel.String() + " AS t USING " + tmp + " AS s WHERE " + strings.Join(conds, " AND ")); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("incremental_strategy %q is not supported (append, delete+insert, merge are)", strategy)
	}
	res, err := run("INSERT INTO " + rel.String() + " (" + list + ") SELECT " + list + " FROM " + tmp)
	if err != nil {
		return "", err
	}
	rows, _ := res.RowsAffected()
	return fmt.Sprintf("INSERT %d", rows), nil
}
