package sqldb

import (
	"strings"
	"testing"
)

func TestPostgresTypeMapping(t *testing.T) {
	for _, tc := range []struct {
		ftype, typtype, category, elem, elemType string
		duck                                     string
		ok                                       bool
	}{
		{ftype: "integer", duck: "BIGINT", ok: true},
		{ftype: "smallint", duck: "BIGINT", ok: true},
		{ftype: "real", duck: "DOUBLE", ok: true},
		{ftype: "uuid", duck: "VARCHAR", ok: true},
		{ftype: "bit(4)", duck: "VARCHAR", ok: true},
		{ftype: "bit varying", duck: "VARCHAR", ok: true},
		{ftype: "money", duck: "DECIMAL(38,2)", ok: true},
		{ftype: "time with time zone", duck: "TIME WITH TIME ZONE", ok: true},
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
		{ftype: "integer[]", category: "A", elem: "integer", duck: "JSON", ok: true},
		{ftype: "mood[]", category: "A", elem: "mood", elemType: "e", duck: "JSON", ok: true},
		{ftype: "interval[]", category: "A", elem: "interval", duck: "JSON", ok: true},
		{ftype: "point", ok: false},
		{ftype: "tsvector", ok: false},
		{ftype: "int4range", typtype: "r", ok: false},
	} {
		c, ok := pgColumn("c", tc.ftype, tc.typtype, tc.category, tc.elem, tc.elemType)
		if ok != tc.ok || ok && c.Duck != tc.duck {
			t.Errorf("%s: got %q (ok %v), want %q (ok %v)", tc.ftype, c.Duck, ok, tc.duck, tc.ok)
		}
	}
}

// Ranges split into dlt's four columns, bounds typed by the range's subtype; subtypes dlt's
// values have no type for are not split (they load as text).
func TestPostgresRangeColumns(t *testing.T) {
	for _, tc := range []struct{ sub, duck string }{
		{"integer", "BIGINT"}, {"bigint", "BIGINT"}, {"numeric", "DECIMAL(38,9)"}, {"date", "DATE"},
		{"timestamp without time zone", "TIMESTAMP WITH TIME ZONE"}, {"timestamp with time zone", "TIMESTAMP WITH TIME ZONE"},
		{"inet", ""},
	} {
		cols, ok := pgRange("rng", "r", tc.sub)
		if tc.duck == "" {
			if ok {
				t.Errorf("%s: split into %+v, want text", tc.sub, cols)
			}
			continue
		}
		var got []string
		for _, c := range cols {
			got = append(got, c.Name+" "+c.Duck)
		}
		want := []string{"rng__lower " + tc.duck, "rng__upper " + tc.duck, "rng__bounds VARCHAR", "rng__empty BOOLEAN"}
		if !ok || strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s: %v, want %v", tc.sub, got, want)
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
		{"int", "int(11)", 10, 0, "BIGINT", true},
		{"int", "int(10) unsigned", 10, 0, "BIGINT", true},
		{"tinyint", "tinyint(1)", 3, 0, "BIGINT", true},
		{"mediumint", "mediumint(9)", 7, 0, "BIGINT", true},
		{"year", "year(4)", 0, 0, "BIGINT", true},
		{"bigint", "bigint(20)", 19, 0, "BIGINT", true},
		{"bigint", "bigint(20) unsigned", 20, 0, "UBIGINT", true},
		{"bit", "bit(3)", 3, 0, "BIGINT", true},
		{"bit", "bit(64)", 64, 0, "UBIGINT", true},
		{"float", "float", 12, 0, "DOUBLE", true},
		{"double", "double", 22, 0, "DOUBLE", true},
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
