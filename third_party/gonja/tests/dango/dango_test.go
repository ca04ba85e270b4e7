// Package dango tests the changes dango made to gonja (see DANGO.md). cases.json holds each
// template with the output Python's Jinja2 (3.1, as dbt configures it) renders for it, or
// "fails" where Jinja2 raises; dango's transform package re-checks such cases against a live
// Jinja2.
package dango

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

type testCase struct {
	Name  string         `json:"name"`
	Tpl   string         `json:"tpl"`
	Ctx   map[string]any `json:"ctx"`
	Want  string         `json:"want"`
	Fails bool           `json:"fails"`
}

func TestJinja2Semantics(t *testing.T) {
	raw, err := os.ReadFile("cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []testCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			tpl, err := gonja.FromString(c.Tpl)
			var out string
			if err == nil {
				out, err = tpl.ExecuteToString(exec.NewContext(c.Ctx))
			}
			switch {
			case c.Fails && err == nil:
				t.Fatalf("want an error, rendered %q", out)
			case c.Fails:
				return
			case err != nil:
				t.Fatalf("%v", err)
			case out != c.Want:
				t.Fatalf("got %q, want %q", out, c.Want)
			}
		})
	}
}

// TestPanicBecomesError: a Go function that panics fails the render with an error naming
// the line, instead of crashing the program.
func TestPanicBecomesError(t *testing.T) {
	tpl, err := gonja.FromString("ok\n{{ boom() }}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.ExecuteToString(exec.NewContext(map[string]any{"boom": func() string { panic("kaboom") }}))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("want an error naming line 2 and the panic, got %v", err)
	}
}

// TestParseErrorNamesTemplate: parse errors name the template and the line, not its source.
func TestParseErrorNamesTemplate(t *testing.T) {
	loader, err := loaders.NewMemoryLoader(map[string]string{"/model.sql": "line one\n{{ (1 }}"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = exec.NewTemplate("/model.sql", gonja.DefaultConfig, loader, gonja.DefaultEnvironment)
	if err == nil || !strings.Contains(err.Error(), "model.sql") || !strings.Contains(err.Error(), "Line: 2") || strings.Contains(err.Error(), "line one") {
		t.Fatalf("want an error naming line 2 without the source, got %v", err)
	}
}

// TestLexerKeywordsAndStrings checks the token stream for the lexer changes.
func TestLexerKeywordsAndStrings(t *testing.T) {
	for _, c := range []struct {
		src  string
		want []string
	}{
		{"{{ a and\nb }}", []string{"Name:a", "And:and", "Name:b"}},
		{"{{ not(x) }}", []string{"Not:not", "Lparen:(", "Name:x", "Rparen:)"}},
		{"{{ index in(x) }}", []string{"Name:index", "In:in", "Lparen:(", "Name:x", "Rparen:)"}},
		{`{{ '\\' ~ 'x' }}`, []string{`String:\`, "Tilde:~", "String:x"}},
		{`{{ 'it\'s' }}`, []string{`String:it's`}},
	} {
		var got []string
		stream := tokens.LexAll(c.src, gonja.DefaultConfig)
		for ; !stream.End(); stream.Next() {
			tok := stream.Current()
			switch tok.Type {
			case tokens.VariableBegin, tokens.VariableEnd, tokens.Whitespace:
				continue
			}
			got = append(got, tokens.Names[tok.Type]+":"+tok.Val)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q: got %q, want %q", c.src, got, c.want)
		}
	}
}
