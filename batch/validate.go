package batch

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ObjectPrefix marks a scan file that travels in the spool object store: a worker on another
// machine uploads it and the writer downloads it (events.ObjectPrefix is this constant).
const ObjectPrefix = "nats-object://"

// Bounds on what one batch may carry. Real batches stay far below them.
const (
	maxColumns  = 10_000
	maxFiles    = 100_000
	maxPathSegs = maxTypeDepth + 1
	maxTextLen  = 4096
)

// System columns the writer adds itself; a batch must not bring them.
var systemColumns = map[string]bool{"_dlt_load_id": true, "_dlt_id": true, "_dlt_extracted_at": true, "_dango_source_file": true}

// Validate checks everything the writer relies on and normalizes the batch's types to their
// rendered parsed form (ParseType): batches come over the network, from workers the writer
// does not trust. Names must be normalized identifiers (ValidName), types parse, reader
// options pass the format's allowlist, files are clean absolute paths or object-store names,
// and tracked files carry a label and version each. Where the files are — inside the spool
// or a source's configured paths — is the loader's check, which knows the project.
func (b *Batch) Validate() error {
	if err := ValidName(b.Table); err != nil {
		return fmt.Errorf("batch table: %w", err)
	}
	if b.Scan == nil {
		return fmt.Errorf("batch for %s carries no data", b.Table)
	}
	if err := b.Resource.Validate(); err != nil {
		return fmt.Errorf("batch for %s: %w", b.Table, err)
	}
	s := b.Scan
	if _, ok := readerOptions[s.Format]; !ok {
		return fmt.Errorf("scan batch for %s: unknown format %s", b.Table, Short(s.Format))
	}
	if len(s.Files) == 0 {
		return fmt.Errorf("scan batch for %s names no files", b.Table)
	}
	if len(s.Files) > maxFiles {
		return fmt.Errorf("scan batch for %s names %d files, more than %d", b.Table, len(s.Files), maxFiles)
	}
	if len(s.Digests) > 0 && len(s.Digests) != len(s.Files) {
		return fmt.Errorf("scan batch for %s has %d digests for %d files", b.Table, len(s.Digests), len(s.Files))
	}
	for i, f := range s.Files {
		shipped := strings.HasPrefix(f, ObjectPrefix)
		d := ""
		if len(s.Digests) > 0 {
			d = s.Digests[i]
		}
		switch {
		case shipped && !digestRE.MatchString(d):
			return fmt.Errorf("shipped file %s has no valid SHA-256 digest", Short(f))
		case !shipped && d != "":
			return fmt.Errorf("local file %s has a digest; only shipped files do", Short(f))
		}
		if err := ValidFile(f); err != nil {
			return fmt.Errorf("scan batch for %s: %w", b.Table, err)
		}
	}
	if len(s.Columns) == 0 {
		return fmt.Errorf("scan batch for %s has no columns", b.Table)
	}
	if len(s.Columns) > maxColumns || len(s.ReaderColumns) > maxColumns {
		return fmt.Errorf("scan batch for %s has more than %d columns", b.Table, maxColumns)
	}
	if _, err := OptionsSQL(s.Format, s.Options); err != nil {
		return fmt.Errorf("scan batch for %s: %w", b.Table, err)
	}
	for i, c := range s.ReaderColumns {
		if err := checkText(c.Name, maxNameLen); err != nil || c.Name == "" {
			return fmt.Errorf("scan batch for %s: reader column name %s is not acceptable", b.Table, Short(c.Name))
		}
		t, err := SQLType(c.Type)
		if err != nil {
			return fmt.Errorf("scan batch for %s: reader column %s: %w", b.Table, Short(c.Name), err)
		}
		s.ReaderColumns[i].Type = t
	}
	if err := validColumns(s.Columns, b.Table, 0); err != nil {
		return err
	}
	if s.Track && (len(s.Labels) != len(s.Files) || len(s.Versions) != len(s.Files)) {
		return fmt.Errorf("scan batch for %s: tracked files need a label and a version each", b.Table)
	}
	if s.Whole && (!s.Track || len(s.Files) != 1) {
		return fmt.Errorf("scan batch for %s: a whole-table file scan needs tracking and exactly one file", b.Table)
	}
	if !s.Track && (len(s.Labels) > 0 || len(s.Replaced) > 0) {
		return fmt.Errorf("scan batch for %s: file labels without tracking", b.Table)
	}
	for _, l := range append(append([]string(nil), s.Labels...), s.Replaced...) {
		if err := ValidLabel(l); err != nil {
			return fmt.Errorf("scan batch for %s: %w", b.Table, err)
		}
	}
	if s.Bytes < 0 {
		return fmt.Errorf("scan batch for %s: negative size", b.Table)
	}
	return nil
}

// Validate checks a resource's names and settings.
func (r *Resource) Validate() error {
	if err := checkText(r.Name, maxNameLen); err != nil || r.Name == "" {
		return fmt.Errorf("resource name %s is not acceptable", Short(r.Name))
	}
	if err := ValidName(r.Table); err != nil {
		return fmt.Errorf("resource %s: table: %w", r.Name, err)
	}
	switch r.Disposition {
	case Append, Replace, Merge:
	default:
		return fmt.Errorf("resource %s: unknown write disposition %s", r.Name, Short(r.Disposition))
	}
	if len(r.PrimaryKey) > 64 {
		return fmt.Errorf("resource %s: primary key of %d columns", r.Name, len(r.PrimaryKey))
	}
	for _, k := range r.PrimaryKey {
		if err := checkText(k, maxNameLen); err != nil || k == "" {
			return fmt.Errorf("resource %s: primary key column %s is not acceptable", r.Name, Short(k))
		}
	}
	if inc := r.Incremental; inc != nil {
		if err := checkText(inc.CursorColumn, maxNameLen); err != nil || inc.CursorColumn == "" {
			return fmt.Errorf("resource %s: cursor column %s is not acceptable", r.Name, Short(inc.CursorColumn))
		}
		if err := checkText(inc.Start, 256); err != nil {
			return fmt.Errorf("resource %s: incremental start: %w", r.Name, err)
		}
	}
	return nil
}

// ValidName checks a warehouse identifier (schema, table or column) as dango's naming makes
// them: 1 to 255 bytes of lower-case letters, digits and underscores, not starting with a
// digit. Such names are still always quoted in SQL.
func ValidName(s string) error {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) {
		return fmt.Errorf("name %s is not a warehouse identifier (1 to 255 letters, digits, underscores)", Short(s))
	}
	for i, r := range s {
		ok := r == '_' || unicode.IsDigit(r) && i > 0 || unicode.IsLetter(r) && !unicode.IsUpper(r)
		if !ok || r > unicode.MaxASCII && !unicode.IsLetter(r) {
			return fmt.Errorf("name %s is not a warehouse identifier (lower-case letters, digits, underscores)", Short(s))
		}
	}
	return nil
}

// digestRE is the object store's digest of a shipped file: SHA-256 in unpadded or padded
// base64url.
var digestRE = regexp.MustCompile(`^SHA-256=[A-Za-z0-9_-]{43}=?$`)

// ValidFile checks the form of a scan's file: an object-store name (ValidObjectName) or a
// clean absolute local path without NUL bytes or glob characters (DuckDB's readers expand
// *, ? and [ ]: a path must name one file, not a pattern).
func ValidFile(f string) error {
	if name, ok := strings.CutPrefix(f, ObjectPrefix); ok {
		return ValidObjectName(name)
	}
	switch {
	case len(f) > maxTextLen || !utf8.ValidString(f) || strings.IndexByte(f, 0) >= 0:
		return fmt.Errorf("file %s is not a usable path", Short(f))
	case !filepath.IsAbs(f) || filepath.Clean(f) != f:
		return fmt.Errorf("file %s is not a clean absolute path", Short(f))
	case strings.ContainsAny(f, "*?[]{}"):
		return fmt.Errorf("file %s contains glob characters, which the readers would expand", Short(f))
	}
	return nil
}

// ValidObjectName checks a name in the spool object store, as the worker makes them
// (ObjectName): <load id>/<attempt>/<n>-<file name>, no empty, "." or ".." segment.
func ValidObjectName(name string) error {
	parts := strings.Split(name, "/")
	bad := len(parts) != 3 || len(name) > 1024 || !utf8.ValidString(name)
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			bad = true
		}
		for _, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
				bad = true
			}
		}
	}
	if bad {
		return fmt.Errorf("object store name %s is not one a worker makes (<load>/<attempt>/<n>-<file>)", Short(name))
	}
	return nil
}

// ObjectName names a shipped file in the spool object store: unique per load, attempt and
// file, with the file's base name kept (characters outside [A-Za-z0-9._-] become _) for
// people reading the store.
func ObjectName(loadID string, attempt int, n int64, file string) string {
	base := []rune(filepath.Base(file))
	for i, r := range base {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			base[i] = '_'
		}
	}
	b := string(base)
	if len(b) > 200 {
		b = b[len(b)-200:]
	}
	return fmt.Sprintf("%s/%d/%d-%s", loadID, attempt, n, b)
}

// ValidLabel checks a tracked file's label: the project-relative path (or absolute path
// outside the project) the connector records.
func ValidLabel(l string) error {
	if l == "" || len(l) > maxTextLen || !utf8.ValidString(l) || strings.IndexByte(l, 0) >= 0 {
		return fmt.Errorf("file label %s is not a usable path", Short(l))
	}
	return nil
}

// validColumns checks a table's columns (a child table's at depth > 0, whose paths start at
// the list element) and re-renders their types from the parsed form.
func validColumns(cols []Column, table string, depth int) error {
	if depth > maxPathSegs {
		return fmt.Errorf("scan batch for %s: child tables nested more than %d deep", table, maxPathSegs)
	}
	seen := make(map[string]bool, len(cols))
	for i, c := range cols {
		key := c.Name
		if len(c.Children) > 0 { // a child table: its name may be a column's too (dlt's obj__a and table __obj__a)
			key = "\x00list " + key
		}
		if err := ValidName(c.Name); err != nil {
			return fmt.Errorf("scan batch for %s: column: %w", table, err)
		}
		if systemColumns[c.Name] || seen[key] || (depth > 0 && childColumns[c.Name]) {
			return fmt.Errorf("scan batch for %s: column %s is reserved or appears twice", table, c.Name)
		}
		seen[key] = true
		if len(c.Path) == 0 || len(c.Path) > maxPathSegs || (depth > 0 && c.Path[0] != ElemPath) {
			return fmt.Errorf("scan batch for %s: column %s needs a field path of 1 to %d names", table, c.Name, maxPathSegs)
		}
		if len(c.JSONPath) > maxPathSegs {
			return fmt.Errorf("scan batch for %s: column %s: JSON path longer than %d keys", table, c.Name, maxPathSegs)
		}
		for _, p := range c.JSONPath {
			if err := checkText(p, maxNameLen); err != nil {
				return fmt.Errorf("scan batch for %s: column %s: JSON key %s is not acceptable", table, c.Name, Short(p))
			}
		}
		for _, p := range c.Path {
			if err := checkText(p, maxNameLen); err != nil || p == "" {
				return fmt.Errorf("scan batch for %s: column %s: path segment %s is not acceptable", table, c.Name, Short(p))
			}
		}
		t, err := SQLType(c.Type)
		if err != nil {
			return fmt.Errorf("scan batch for %s: column %s: %w", table, c.Name, err)
		}
		if c.Coerce != "" || c.Variant != "" {
			// The column's type follows from the dlt types, whatever the batch says.
			want := DltTypes[c.Coerce]
			if c.Variant != "" {
				want = DltTypes[c.Variant]
				if _, ok := jsonTypes[c.Variant]; !ok {
					want = ""
				}
			}
			if want == "" || c.Inline || len(c.Children) > 0 {
				return fmt.Errorf("scan batch for %s: column %s: coerce %s / variant %s is not a dlt type", table, c.Name, Short(c.Coerce), Short(c.Variant))
			}
			t = want
		}
		cols[i].Type = t
		if len(c.Children) > 0 {
			if _, ok := ListElement(t); !ok || c.Inline {
				return fmt.Errorf("scan batch for %s: column %s has child columns but is not a list", table, c.Name)
			}
			if err := validColumns(c.Children, table+"__"+c.Name, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// childColumns are the columns the writer adds to a child table.
var childColumns = map[string]bool{"_dlt_parent_id": true, "_dlt_list_idx": true, "_dlt_root_id": true}
