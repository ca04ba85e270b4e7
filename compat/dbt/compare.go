package dbtcompat

import (
	"fmt"
	"sort"
	"strings"
)

// Difference is one way the two sides differ: Key is "<kind> <subject>" (what a row of the
// differences table matches); DBT and Dango say what each side has, in a few words.
type Difference struct {
	Key, DBT, Dango string
}

// Kind is the difference's kind.
func (d Difference) Kind() string { k, _, _ := strings.Cut(d.Key, " "); return k }

// exitClass folds exit codes to what both tools promise: 0 success, 1 a node failed, 2 the
// command could not run (dbt's codes); anything else is kept as is.
func exitClass(s StepResult) string {
	switch {
	case s.Code == -1:
		return "not run: " + s.Err
	case s.Code == 0:
		return "exit 0"
	default:
		return fmt.Sprintf("exit %d", s.Code)
	}
}

// Compare lists every difference between ref (real dbt) and got (dango), sorted by key.
func Compare(ref, got *Result) []Difference {
	var out []Difference
	add := func(kind, subject, a, b string) {
		out = append(out, Difference{Key: kind + " " + subject, DBT: a, Dango: b})
	}
	for _, s := range Steps {
		a, b := exitClass(ref.Step(s.Name)), exitClass(got.Step(s.Name))
		if a != b {
			add(KindStep, s.Name, a, b)
		}
	}
	for _, id := range sortedKeys(ref.Nodes) {
		if _, ok := got.Nodes[id]; !ok {
			add(KindNodeMissing, id, ref.Nodes[id], "not listed")
		}
	}
	for _, id := range sortedKeys(got.Nodes) {
		if _, ok := ref.Nodes[id]; !ok {
			add(KindNodeExtra, id, "not listed", got.Nodes[id])
		}
	}
	ids := map[string]bool{}
	for id := range ref.Statuses {
		ids[id] = true
	}
	for id := range got.Statuses {
		ids[id] = true
	}
	for _, id := range sortedKeys(ids) {
		a, okA := ref.Statuses[id]
		b, okB := got.Statuses[id]
		if !okA {
			a = "no result"
		}
		if !okB {
			b = "no result"
		}
		if a != b {
			add(KindStatus, id, a, b)
		}
	}
	// The file set under target/compiled, then each node's code from run_results.json (a
	// file two nodes share holds either's code, so file contents are not compared).
	for _, p := range sortedKeys(ref.Compiled) {
		if _, ok := got.Compiled[p]; !ok {
			add(KindSQLMissing, p, "compiled", "no file")
		}
	}
	for _, id := range sortedKeys(ref.CompiledByID) {
		a := ref.CompiledByID[id]
		b, ok := got.CompiledByID[id]
		switch {
		case !ok:
			add(KindSQL, id, clip(a, 0), "no compiled_code in run_results.json")
		case b != a:
			at := firstDiff(a, b)
			add(KindSQL, id, clip(a, at), clip(b, at))
		}
	}
	for _, p := range sortedKeys(got.Compiled) {
		if _, ok := ref.Compiled[p]; !ok {
			add(KindSQLExtra, p, "no file", "compiled")
		}
	}
	out = append(out, compareWarehouses(ref, got)...)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func compareWarehouses(ref, got *Result) []Difference {
	var out []Difference
	add := func(kind, subject, a, b string) {
		out = append(out, Difference{Key: kind + " " + subject, DBT: a, Dango: b})
	}
	ra, rb := map[string]*Relation{}, map[string]*Relation{}
	if ref.WH != nil {
		ra = ref.WH.Relations
	}
	if got.WH != nil {
		rb = got.WH.Relations
	}
	for _, n := range sortedKeys(ra) {
		a, b := ra[n], rb[n]
		if b == nil {
			why := "absent"
			if got.WHErr != "" {
				why = got.WHErr
			}
			add(KindTableMissing, n, strings.ToLower(a.Kind), why)
			continue
		}
		if a.Kind != b.Kind {
			add(KindRelationType, n, a.Kind, b.Kind)
		}
		ca, cb := map[string]string{}, map[string]string{}
		var oa, ob []string
		for _, c := range a.Columns {
			ca[c.Name], oa = c.Type, append(oa, c.Name)
		}
		for _, c := range b.Columns {
			cb[c.Name], ob = c.Type, append(ob, c.Name)
		}
		same := true
		for _, c := range a.Columns {
			t, ok := cb[c.Name]
			switch {
			case !ok:
				add(KindColumnMissing, n+"."+c.Name, c.Type, "absent")
				same = false
			case t != c.Type:
				add(KindType, n+"."+c.Name, c.Type, t)
			}
		}
		for _, c := range b.Columns {
			if _, ok := ca[c.Name]; !ok {
				add(KindColumnExtra, n+"."+c.Name, "absent", c.Type)
				same = false
			}
		}
		if same && strings.Join(oa, ",") != strings.Join(ob, ",") {
			add(KindColumnOrder, n, strings.Join(oa, ", "), strings.Join(ob, ", "))
		}
		if same {
			out = append(out, compareRows(n, a, b)...)
		}
	}
	for _, n := range sortedKeys(rb) {
		if ra[n] == nil {
			add(KindTableExtra, n, "absent", strings.ToLower(rb[n].Kind))
		}
	}
	return out
}

// compareRows compares two relations' rows. Each column's values are compared as a
// multiset first, so that a column whose values differ (say, the time of the run) is reported
// once, as `value schema.name.column`, and the other columns are still checked; `rows` is
// reported only when every column agrees but the values pair up into other rows. On a
// difference each side says its row count and the first value the other side lacks.
func compareRows(name string, a, b *Relation) []Difference {
	if a.RowsErr != "" || b.RowsErr != "" {
		if a.RowsErr != "" && b.RowsErr != "" {
			return nil // neither can be read: the status comparison says why
		}
		return []Difference{{Key: KindRows + " " + name, DBT: orText(a.RowsErr, fmt.Sprintf("%d rows", len(a.Rows))), Dango: orText(b.RowsErr, fmt.Sprintf("%d rows", len(b.Rows)))}}
	}
	if len(a.Rows) > MaxRows || len(b.Rows) > MaxRows {
		if len(a.Rows) == len(b.Rows) {
			return nil
		}
		return []Difference{{Key: KindRows + " " + name, DBT: fmt.Sprintf("%d rows (read up to %d)", len(a.Rows), MaxRows), Dango: fmt.Sprintf("%d rows", len(b.Rows))}}
	}
	side := func(n int, only []string) string {
		s := fmt.Sprintf("%d rows", n)
		if len(only) > 0 {
			s += fmt.Sprintf(", %d not on the other side, e.g. (%s)", len(only), clip(only[0], 0))
		}
		return s
	}
	onlyA, onlyB := multisetDiff(a.Rows, b.Rows)
	if len(onlyA) == 0 && len(onlyB) == 0 {
		return nil
	}
	var out []Difference
	if len(a.Rows) == len(b.Rows) {
		ca, cb := columnsOf(a), columnsOf(b)
		for i, col := range ca.names {
			va, vb := multisetDiff(ca.values[i], cb.values[cb.index[col]])
			if len(va) > 0 || len(vb) > 0 {
				out = append(out, Difference{Key: KindValue + " " + name + "." + col, DBT: side(len(a.Rows), va), Dango: side(len(b.Rows), vb)})
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return []Difference{{Key: KindRows + " " + name, DBT: side(len(a.Rows), onlyA), Dango: side(len(b.Rows), onlyB)}}
}

type columnValues struct {
	names  []string
	index  map[string]int
	values [][]string // per column, sorted
}

// columnsOf splits a relation's rows (values in column-name order, see readRows) by column.
func columnsOf(r *Relation) columnValues {
	var c columnValues
	for _, col := range r.Columns {
		c.names = append(c.names, col.Name)
	}
	sort.Strings(c.names)
	c.index = map[string]int{}
	for i, n := range c.names {
		c.index[n] = i
	}
	c.values = make([][]string, len(c.names))
	for _, row := range r.Rows {
		vals := strings.Split(row, rowSep)
		for i := range c.names {
			if i < len(vals) {
				c.values[i] = append(c.values[i], vals[i])
			}
		}
	}
	for i := range c.values {
		sort.Strings(c.values[i])
	}
	return c
}

func orText(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// multisetDiff returns the elements of sorted a not in sorted b and vice versa.
func multisetDiff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			i++
			j++
		case a[i] < b[j]:
			onlyA = append(onlyA, a[i])
			i++
		default:
			onlyB = append(onlyB, b[j])
			j++
		}
	}
	return append(onlyA, a[i:]...), append(onlyB, b[j:]...)
}

func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// clip shows about 120 characters of s around byte offset at.
func clip(s string, at int) string {
	const w = 120
	start := max(0, at-w/3)
	end := min(len(s), start+w)
	for start > 0 && start < len(s) && s[start]&0xC0 == 0x80 {
		start--
	}
	for end < len(s) && s[end]&0xC0 == 0x80 {
		end++
	}
	out := s[start:end]
	if start > 0 {
		out = "…" + out
	}
	if end < len(s) {
		out += "…"
	}
	return out
}

// Judged is a comparison checked against the differences table.
type Judged struct {
	Allowed    []Difference
	Unexpected []Difference
	Used       map[int]bool // lines of allowances that matched something
}

// Judge splits diffs into those an allowance of project p covers and the rest.
func Judge(p string, diffs []Difference, allow []Allowance) Judged {
	j := Judged{Used: map[int]bool{}}
	for _, d := range diffs {
		ok := false
		for _, a := range allow {
			if a.Matches(p, d.Key) {
				j.Used[a.Line], ok = true, true
			}
		}
		if ok {
			j.Allowed = append(j.Allowed, d)
		} else {
			j.Unexpected = append(j.Unexpected, d)
		}
	}
	return j
}

// Summary is a short per-kind account of diffs: counts, then the first n examples of each.
func Summary(diffs []Difference, n int) string { return SummaryOf(diffs, n, "dbt", "dango") }

// SummaryOf is Summary with other names for the two sides.
func SummaryOf(diffs []Difference, n int, left, right string) string {
	w := max(len(left), len(right)) + 1
	by := map[string][]Difference{}
	for _, d := range diffs {
		by[d.Kind()] = append(by[d.Kind()], d)
	}
	var b strings.Builder
	for _, k := range kinds {
		ds := by[k]
		if len(ds) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %s: %d\n", k, len(ds))
		for i, d := range ds {
			if i == n {
				fmt.Fprintf(&b, "    … %d more\n", len(ds)-n)
				break
			}
			_, subj, _ := strings.Cut(d.Key, " ")
			fmt.Fprintf(&b, "    %s\n      %-*s %s\n      %-*s %s\n", subj, w, left+":", d.DBT, w, right+":", d.Dango)
		}
	}
	return b.String()
}
