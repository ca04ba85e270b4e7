package transform

// Python builtins and modules that dbt puts in every template's context and that Jinja2
// code in dbt packages calls (zip, modules.re, modules.itertools …).

import (
	"github.com/nikolalohinski/gonja/v2/exec"
)

// registerPyGlobals adds dbt's Python globals to a template context.
func registerPyGlobals(ctx *exec.Context) {
	ctx.Set("zip", pyZip)
}

// pyZip is Python's zip: tuples of the i-th items, as long as the shortest argument.
func pyZip(va *exec.VarArgs) []any {
	var cols [][]*exec.Value
	for _, a := range va.Args {
		var col []*exec.Value
		a.Iterate(func(_, _ int, k, _ *exec.Value) bool { col = append(col, k); return true }, func() {})
		cols = append(cols, col)
	}
	out := []any{}
	if len(cols) == 0 {
		return out
	}
	for i := 0; ; i++ {
		row := []any{}
		for _, c := range cols {
			if i >= len(c) {
				return out
			}
			row = append(row, c[i])
		}
		out = append(out, row)
	}
}
