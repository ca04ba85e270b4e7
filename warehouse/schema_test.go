package warehouse

import "testing"

func TestWiden(t *testing.T) {
	cases := []struct {
		old, in, want string
		ok            bool
	}{
		{"BIGINT", "BIGINT", "BIGINT", true},
		{"INTEGER", "BIGINT", "BIGINT", true},
		{"BIGINT", "INTEGER", "BIGINT", true},
		{"BIGINT", "DOUBLE", "DOUBLE", true},
		{"DOUBLE", "BIGINT", "DOUBLE", true},
		{"BIGINT", "VARCHAR", "VARCHAR", true},
		{"DOUBLE", "VARCHAR", "VARCHAR", true},
		{"DATE", "VARCHAR", "VARCHAR", true},
		{"VARCHAR", "BIGINT", "VARCHAR", true},
		{"DATE", "TIMESTAMP", "TIMESTAMP", true},
		{"TIMESTAMP", "DATE", "TIMESTAMP", true},
		{"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITH TIME ZONE", true},
		{"DECIMAL(10,2)", "DECIMAL(12,4)", "DECIMAL(12,4)", true},
		{"DECIMAL(10,2)", "DECIMAL(5,4)", "DECIMAL(12,4)", true},
		{"BIGINT", "DECIMAL(10,2)", "DECIMAL(21,2)", true},
		{"DECIMAL(38,10)", "DECIMAL(38,20)", "DOUBLE", true},
		{"DECIMAL(10,2)", "DOUBLE", "DOUBLE", true},
		{"FLOAT", "DOUBLE", "DOUBLE", true},
		{"DATE", "BIGINT", "", false},
		{"BIGINT", "DATE", "", false},
		{"BOOLEAN", "BIGINT", "", false},
		{"BIGINT", "BOOLEAN", "", false},
		{"STRUCT(a INTEGER)", "STRUCT(a BIGINT)", "", false},
		// The catalog's spelling and the writer's re-rendered form are the same type.
		{"STRUCT(a INTEGER, \"b c\" VARCHAR)", "STRUCT(\"a\" INTEGER, \"b c\" VARCHAR)", "STRUCT(\"a\" INTEGER, \"b c\" VARCHAR)", true},
		{"STRUCT(a INTEGER)[]", "STRUCT(\"a\" INTEGER)[]", "STRUCT(\"a\" INTEGER)[]", true},
		{"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", true},
		{"DECIMAL(18,3)", "DECIMAL", "DECIMAL(18,3)", true},
	}
	for _, c := range cases {
		got, ok := widen(c.old, c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("widen(%s, %s) = %s, %v; want %s, %v", c.old, c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSchemaChangeString(t *testing.T) {
	for _, c := range []struct {
		change SchemaChange
		want   string
	}{
		{SchemaChange{Table: "raw_s.t", Column: "a", Change: "add_column", NewType: "BIGINT"}, "added column raw_s.t.a (BIGINT)"},
		{SchemaChange{Table: "raw_s.t", Column: "_dlt_id", Change: "widen_type", OldType: "UUID", NewType: "VARCHAR"}, "widened raw_s.t._dlt_id from UUID to VARCHAR"},
		{SchemaChange{Table: "raw_s.t", Column: "_dlt_extracted_at", Change: "drop_not_null", OldType: "TIMESTAMP WITH TIME ZONE", NewType: "TIMESTAMP WITH TIME ZONE"},
			"raw_s.t._dlt_extracted_at may now be NULL (dlt pipelines do not write it)"},
	} {
		if got := c.change.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.change, got, c.want)
		}
	}
}
