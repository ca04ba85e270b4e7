package sqldb

import "testing"

func TestPostgresTypeMapping(t *testing.T) {
	for _, tc := range []struct {
		ftype, typtype, category, elem, elemType string
		duck, reader                             string
		ok                                       bool
	}{
		{ftype: "integer", duck: "INTEGER", ok: true},
		{ftype: "numeric(12,4)", duck: "DECIMAL(12,4)", ok: true},
		{ftype: "numeric(5)", duck: "DECIMAL(5,0)", ok: true},
		{ftype: "numeric", duck: "DECIMAL(38,9)", ok: true},
		{ftype: "numeric(50,2)", ok: false},
		{ftype: "character varying(20)", duck: "VARCHAR", ok: true},
		{ftype: "timestamp(3) with time zone", duck: "TIMESTAMP WITH TIME ZONE", ok: true},
		{ftype: "time(6) without time zone", duck: "TIME", ok: true},
		{ftype: "interval day to second", duck: "INTERVAL", ok: true},
		{ftype: "mood", typtype: "e", duck: "VARCHAR", ok: true},
		{ftype: "jsonb", duck: "JSON", ok: true},
		{ftype: "integer[]", category: "A", elem: "integer", duck: "INTEGER[]", reader: "JSON", ok: true},
		{ftype: "mood[]", category: "A", elem: "mood", elemType: "e", duck: "VARCHAR[]", reader: "JSON", ok: true},
		{ftype: "interval[]", category: "A", elem: "interval", ok: false},
		{ftype: "point", ok: false},
		{ftype: "tsvector", ok: false},
		{ftype: "int4range", typtype: "r", ok: false},
	} {
		c, ok := pgColumn("c", tc.ftype, tc.typtype, tc.category, tc.elem, tc.elemType)
		if ok != tc.ok || ok && (c.Duck != tc.duck || c.Reader != tc.reader) {
			t.Errorf("%s: got %q (reader %q, ok %v), want %q (reader %q, ok %v)", tc.ftype, c.Duck, c.Reader, ok, tc.duck, tc.reader, tc.ok)
		}
	}
}

func TestMySQLTypeMapping(t *testing.T) {
	for _, tc := range []struct {
		dataType, colType string
		prec, scale       int
		duck              string
		ok                bool
	}{
		{"int", "int(11)", 10, 0, "INTEGER", true},
		{"int", "int(10) unsigned", 10, 0, "UINTEGER", true},
		{"bigint", "bigint(20) unsigned", 20, 0, "UBIGINT", true},
		{"decimal", "decimal(12,4)", 12, 4, "DECIMAL(12,4)", true},
		{"decimal", "decimal(65,2)", 65, 2, "", false},
		{"timestamp", "timestamp(3)", 0, 0, "TIMESTAMP WITH TIME ZONE", true},
		{"time", "time", 0, 0, "INTERVAL", true},
		{"enum", "enum('a','b')", 0, 0, "VARCHAR", true},
		{"varbinary", "varbinary(8)", 0, 0, "BLOB", true},
		{"geometry", "geometry", 0, 0, "", false},
	} {
		c, ok := myColumn("c", tc.dataType, tc.colType, tc.prec, tc.scale)
		if ok != tc.ok || ok && c.Duck != tc.duck {
			t.Errorf("%s: got %q (ok %v), want %q (ok %v)", tc.colType, c.Duck, ok, tc.duck, tc.ok)
		}
	}
}

// Network addresses are selected as they are (COPY writes PostgreSQL's output form), not
// through text(), which adds /32 to an inet host address.
func TestPostgresNetworkColumnsKeepTheirOutputForm(t *testing.T) {
	for _, ftype := range []string{"inet", "cidr", "macaddr", "macaddr8"} {
		c, ok := pgColumn("addr", ftype, "b", "I", "", "")
		if !ok || c.Duck != "VARCHAR" || c.Select != `"addr"` {
			t.Errorf("%s: %+v, %v", ftype, c, ok)
		}
	}
	if c, ok := pgColumn("o", "oid", "b", "N", "", ""); !ok || c.Duck != "BIGINT" {
		t.Errorf("oid: %+v, %v (dlt loads it as bigint)", c, ok)
	}
}

func TestMySQLZeroDate(t *testing.T) {
	for _, tc := range []struct {
		v    string
		zero bool
	}{
		{"0000-00-00", true}, {"0000-00-00 00:00:00", true}, {"2024-05-00", true}, {"2024-00-10 10:00:00", true},
		{"2024-05-01", false}, {"2024-10-20 00:00:00", false}, {"1000-01-01", false}, {"0000-01-01", false}, {"", false}, {"20240501", false},
	} {
		if got := zeroDate([]byte(tc.v)); got != tc.zero {
			t.Errorf("zeroDate(%q) = %v", tc.v, got)
		}
	}
}
