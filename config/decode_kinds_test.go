package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var kindSpecs = testSpecs{
	"kinds": {Type: "kinds", Fields: []Field{
		{Name: "items", Kind: ObjectList, Shorthand: "name", Fields: []Field{
			{Name: "name", Kind: String, Required: true},
			{Name: "size", Kind: Int},
			{Name: "python", Kind: Any, Refuse: "callables cannot run here"},
		}},
		{Name: "pager", Kind: Object, Shorthand: "type", DefaultType: "auto", Variants: []Variant{
			{Type: "link", Aliases: []string{"next_url"}, Fields: []Field{{Name: "path", Kind: String}}},
			{Type: "offset", Fields: []Field{{Name: "limit", Kind: Int}}},
			{Type: "auto"},
		}},
		{Name: "params", Kind: MapOf, Elem: &Field{Kind: Object, ScalarOK: true, Variants: []Variant{
			{Type: "resolve", Fields: []Field{{Name: "resource", Kind: String, Required: true}}},
		}}},
		{Name: "start", Kind: Scalar},
		{Name: "checked", Kind: Object, Fields: []Field{{Name: "a", Kind: Object, Fields: []Field{{Name: "b", Kind: Int}}}},
			Check: func(v any) error {
				if v.(Values).Object("a").Int("b") > 9 {
					return CheckErrorf(0, "a.b", "must be at most 9")
				}
				return nil
			}},
	}},
}

func parseKinds(body string) (Values, error) {
	srcs, err := ParseSources("s.yml", []byte("sources:\n  - name: k\n    type: kinds\n    kinds:\n"+body), kindSpecs, nil)
	if err != nil {
		return nil, err
	}
	return srcs[0].Settings, nil
}

func TestNewKindsDecode(t *testing.T) {
	v, err := parseKinds(`      items:
        - plain
        - {name: full, size: 3}
      pager: next_url
      params:
        a: 1
        b: [x, 2]
        c: {type: resolve, resource: r}
      start: 2024-01-01
`)
	if err != nil {
		t.Fatal(err)
	}
	items := v.List("items")
	if len(items) != 2 || items[0].String("name") != "plain" || items[1].Int("size") != 3 || items[0].Line() != 6 || items[1].Line() != 7 {
		t.Errorf("items %v", items)
	}
	if p := v.Object("pager"); !reflect.DeepEqual(p.Plain(), map[string]any{"type": "link"}) {
		t.Errorf("pager %v (the alias is normalised, nothing added)", p)
	}
	params := v["params"].(map[string]any)
	if params["a"] != int64(1) || !reflect.DeepEqual(params["b"], []any{"x", int64(2)}) || params["c"].(Values).String("resource") != "r" {
		t.Errorf("params %#v", params)
	}
	if v["start"] != "2024-01-01" {
		t.Errorf("start %#v", v["start"])
	}
	// An object without type takes DefaultType.
	if v, err := parseKinds("      pager: {}\n"); err != nil || v.Object("pager").String("type") != "auto" {
		t.Errorf("default type: %v %v", v, err)
	}
}

func TestNewKindsErrors(t *testing.T) {
	cases := []struct {
		name, body string
		line       int
		want       string
	}{
		{"item unknown key", "      items:\n        - name: a\n          sise: 2\n", 7, `kinds.items[0]: unknown key "sise" (did you mean "size"?; valid keys: name, python, size)`},
		{"item refused", "      items:\n        - name: a\n        - name: b\n          python: x\n", 8, `kinds.items[1].python: callables cannot run here`},
		{"item missing name", "      items:\n        - size: 1\n", 6, `kinds.items[0]: missing required key "name"`},
		{"items not a list", "      items: {name: a}\n", 5, `kinds.items: expected a list, got a mapping`},
		{"unknown type", "      pager: linc\n", 5, `kinds.pager.type: unknown type "linc" (did you mean "link"?; valid types: link, offset, auto)`},
		{"field of another type", "      pager:\n        type: offset\n        path: x\n", 7, `kinds.pager: with type offset, unknown key "path" (valid keys: limit, type)`},
		{"param without type", "      params:\n        c: {resource: r}\n", 6, `kinds.params.c: missing required key "type" (one of resolve)`},
		{"param variant key", "      params:\n        c:\n          type: resolve\n          resourse: r\n", 8, `kinds.params.c: with type resolve, unknown key "resourse" (did you mean "resource"?`},
		{"check sub-path line", "      checked:\n        a:\n          b: 10\n", 7, `kinds.checked.a.b: must be at most 9`},
		{"scalar not a mapping", "      start: {a: 1}\n", 5, `kinds.start: expected value, got a mapping`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseKinds(c.body)
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v; want line %d and %q", err, c.line, c.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"data_selectr", "data_selector"}, {"endpont", "endpoint"}, {"pth", "path"}, {"zzzzzz", ""}, {"ab", ""},
	} {
		got := suggestName(c.key, []string{"data_selector", "endpoint", "path", "params"})
		want := ""
		if c.want != "" {
			want = fmt.Sprintf("did you mean %q?; ", c.want)
		}
		if got != want {
			t.Errorf("%s: %q, want %q", c.key, got, want)
		}
	}
}
