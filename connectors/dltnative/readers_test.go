package dltnative

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dangohq/dango/config"
)

// The reader arguments land as the file connector's settings (or fail naming the argument).
func TestReaderArgs(t *testing.T) {
	for _, c := range []struct {
		fn     string
		kwargs map[string]any
		want   config.Values // checked keys only
		err    string
	}{
		{"read_csv", map[string]any{"sep": "\t", "encoding": "ISO-8859-1", "decimal": ","},
			config.Values{"delimiter": "\t", "encoding": "latin-1", "decimal_separator": ","}, ""},
		{"read_csv", map[string]any{"sep": `\t`}, config.Values{"delimiter": "\t"}, ""},
		{"read_csv", map[string]any{"header": 2, "skiprows": 1}, config.Values{"header": true, "skip_rows": int64(3)}, ""},
		{"read_csv", map[string]any{"header": nil}, config.Values{"header": false}, ""},
		{"read_csv", map[string]any{"keep_default_na": false, "na_values": []any{"x", "y"}}, config.Values{"null_values": []string{"x", "y"}}, ""},
		{"read_csv", map[string]any{"dtype": "str"}, config.Values{"all_varchar": true}, ""},
		{"read_csv", map[string]any{"dtype": map[string]any{"zip": "str", "n": "int64"}}, config.Values{"column_types": map[string]any{"zip": "VARCHAR", "n": "BIGINT"}}, ""},
		{"read_csv", map[string]any{"chunksize": 10, "engine": "c"}, config.Values{}, ""},
		{"read_csv", map[string]any{"dtype": "int64"}, nil, "only as str"},
		{"read_csv", map[string]any{"skiprows": []any{1, 3}}, nil, "a list of line numbers is not supported"},
		{"read_csv", map[string]any{"encoding_errors": "ignore"}, nil, "only strict is supported"},
		{"read_csv", map[string]any{"nrows": 5}, nil, `"nrows" is not an argument dango takes for filesystem read_csv`},
		{"read_csv_duckdb", map[string]any{"header": false, "all_varchar": true, "na_values": "-"},
			config.Values{"header": false, "all_varchar": true, "null_values": []string{"-"}}, ""},
		{"read_csv_duckdb", map[string]any{"delim": ","}, nil, `"delim" is not an argument`},
		{"read_parquet", map[string]any{"use_pyarrow": true, "chunksize": 5}, config.Values{}, ""},
	} {
		set := config.Values{}
		err := readerArgs(config.Values{}, "src", c.fn, c.kwargs, set)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %v: err = %v, want %q", c.fn, c.kwargs, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", c.fn, c.kwargs, err)
			continue
		}
		for k, w := range c.want {
			if !reflect.DeepEqual(set[k], w) {
				t.Errorf("%s %v: %s = %#v, want %#v", c.fn, c.kwargs, k, set[k], w)
			}
		}
		if c.fn == "read_csv" && c.kwargs["keep_default_na"] == nil {
			if na, _ := set["null_values"].([]string); len(na) < len(pandasNA) {
				t.Errorf("%s %v: pandas' missing-value strings not applied: %v", c.fn, c.kwargs, na)
			}
		}
	}
}
