package dltnative

import (
	"strings"
	"testing"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
)

func TestFunctionKwargsUnknownKeys(t *testing.T) {
	head := "sources:\n  - name: a\n    type: dlt_native\n    dlt_native:\n"
	cases := []struct {
		name, body string
		line       int
		want       string
	}{
		{"ok filesystem", "      source_module: filesystem\n      source_function: read_csv\n      function_kwargs:\n        bucket_url: data\n        file_glob: '*.csv'\n", 0, ""},
		{"ok sql", "      source_module: sql_database\n      function_kwargs:\n        credentials_env: X\n        table_names: [a]\n        incremental: {cursor_path: id}\n", 0, ""},
		{"misspelt", "      source_module: filesystem\n      source_function: read_csv\n      function_kwargs:\n        bucket_url: data\n        file_glbo: '*.csv'\n", 9,
			`function_kwargs.file_glbo: "file_glbo" is not an argument dango takes for filesystem read_csv`},
		{"reader argument not honoured", "      source_module: filesystem\n      source_function: read_csv\n      function_kwargs:\n        bucket_url: data\n        usecols: [a]\n", 9, `"usecols" is not an argument dango takes`},
		{"incremental key", "      source_module: sql_database\n      function_kwargs:\n        incremental:\n          cursor_path: id\n          initial_valu: 3\n", 9,
			`function_kwargs.incremental: unknown key "initial_valu"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.ParseSources("s.yml", []byte(head+c.body), connectors.Default, nil)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ce, ok := err.(*config.Error)
			if !ok || ce.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v; want line %d and %q", err, c.line, c.want)
			}
		})
	}
}
