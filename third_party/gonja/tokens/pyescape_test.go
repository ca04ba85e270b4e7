package tokens

import "testing"

// TestPyUnescape checks string-literal escapes against what Python's unicode-escape gives.
func TestPyUnescape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`plain`, "plain"},
		{`a\nb\tc\rd`, "a\nb\tc\rd"},
		{`\\ \' \"`, `\ ' "`},
		{`\x41\u00e9\U0001F600\101`, "Aé😀A"},
		{`\d+\s\w`, `\d+\s\w`}, // unknown escapes stay as written
		{"a\\\nb", "ab"},       // backslash-newline joins lines
		{`\a\b\f\v\0`, "\a\b\f\v\x00"},
	} {
		got, err := pyUnescape(c.in)
		if err != nil || got != c.want {
			t.Errorf("pyUnescape(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`\x4`, `\uZZZZ`, `\U110000000`} {
		if _, err := pyUnescape(bad); err == nil {
			t.Errorf("pyUnescape(%q): want an error", bad)
		}
	}
}
