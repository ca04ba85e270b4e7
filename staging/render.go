package staging

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/dangohq/dango/naming"
)

// Strategies.
const (
	LatestOnly = "latest_only"
	SCDType2   = "scd_type2"
	None       = "none"
)

// Dir is where staging models go, inside the dbt project.
const Dir = "models/staging"

// File is one generated file.
type File struct {
	Name     string // file name inside models/staging
	Content  []byte
	Model    string // for model files
	Columns  int    // selected columns, for model files
	Strategy string // for model files
	Note     string // e.g. why latest_only fell back to none
	Kind     string // "model", "sources" or "schema"
	Source   string
}

// Options choose the strategy: Override (from --dedup-strategy) beats the source's config,
// which beats latest_only.
type Options struct {
	Override string
	Reserved map[string]bool // words that must be quoted as identifiers
}

// skipColumns are raw-layer columns a staging model does not carry on (as in the spec's
// example): the row id and the file a row came from.
var skipColumns = map[string]bool{"_dlt_id": true, "_dango_source_file": true}

// Render produces every file for the sources: per table a model, per source a sources and a
// schema YAML. It does no I/O.
func Render(sources []Source, o Options) []File {
	var models, srcFiles, schemaFiles []File
	for _, src := range sources {
		var schemaModels []modelDoc
		for _, t := range src.Tables {
			f, doc := renderModel(src, t, o)
			models = append(models, f)
			schemaModels = append(schemaModels, doc)
		}
		srcFiles = append(srcFiles, renderSources(src))
		schemaFiles = append(schemaFiles, renderSchema(src, schemaModels))
	}
	return append(append(models, srcFiles...), schemaFiles...)
}

// ModelName is the staging model of a raw table: stg_<source>_<table>, or stg_<source> when
// the table is named like its source.
func ModelName(source, table string) string {
	if table == source {
		return "stg_" + source
	}
	return "stg_" + source + "_" + table
}

type modelDoc struct {
	name, table, strategy string
	keys                  []string
	cols                  []Column
}

func (o Options) ident(name string) string {
	if regexp.MustCompile(`^[a-z_][a-z0-9_]*$`).MatchString(name) && !o.Reserved[name] {
		return name
	}
	return naming.Quote(name)
}

// primaryKey finds a table's key: from sources.yml, else a column named id.
func primaryKey(src Source, t Table) []string {
	has := func(c string) string {
		for _, col := range t.Columns {
			if col.Name == c || col.Name == naming.Snake(c) {
				return col.Name
			}
		}
		return ""
	}
	if src.Config != nil {
		if pk := src.Config.Resource(t.Name).PrimaryKey; len(pk) > 0 {
			var out []string
			for _, k := range pk {
				if c := has(k); c != "" {
					out = append(out, c)
				}
			}
			if len(out) == len(pk) {
				return out
			}
		}
	}
	if c := has("id"); c != "" {
		return []string{c}
	}
	return nil
}

func strategyFor(src Source, t Table, o Options) string {
	if o.Override != "" {
		return o.Override
	}
	if src.Config != nil {
		if s := src.Config.Resource(t.Name).DedupStrategy; s != "" {
			return s
		}
	}
	return LatestOnly
}

func renderModel(src Source, t Table, o Options) (File, modelDoc) {
	name := ModelName(src.Name, t.Name)
	strategy := strategyFor(src, t, o)
	keys := primaryKey(src, t)
	f := File{Name: name + ".sql", Model: name, Kind: "model", Source: src.Name}
	if strategy != None && len(keys) == 0 {
		f.Note = fmt.Sprintf("no primary key (set primary_key in sources.yml, or have an id column): %s falls back to none", strategy)
		strategy = None
	}
	f.Strategy = strategy
	// Data columns first, in table order (columns added by later loads come after the
	// first ones, not after the metadata), then the load metadata.
	hasExtracted := false
	var data, meta []Column
	for _, c := range t.Columns {
		switch {
		case skipColumns[c.Name]:
		case strings.HasPrefix(c.Name, "_dlt_"):
			meta = append(meta, c)
			hasExtracted = hasExtracted || c.Name == "_dlt_extracted_at"
		default:
			data = append(data, c)
		}
	}
	data = append(data, meta...)
	if !hasExtracted && strategy != None {
		f.Note = "no _dlt_extracted_at column to order versions by: " + strategy + " falls back to none"
		strategy, f.Strategy = None, None
	}
	ref := fmt.Sprintf("{{ source('%s', '%s') }}", src.Name, t.Name)
	quotedKeys := make([]string, len(keys))
	for i, k := range keys {
		quotedKeys[i] = o.ident(k)
	}
	partition := strings.Join(quotedKeys, ", ")
	var b strings.Builder
	b.WriteString("{{ config(materialized='view') }}\n\n")
	selectList := func(indent string, cols []Column) string {
		parts := make([]string, len(cols))
		for i, c := range cols {
			parts[i] = indent + o.ident(c.Name)
		}
		return strings.Join(parts, ",\n")
	}
	doc := modelDoc{name: name, table: t.Name, strategy: strategy, keys: keys}
	switch strategy {
	case LatestOnly:
		fmt.Fprintf(&b, "WITH deduplicated AS (\n    SELECT *,\n        ROW_NUMBER() OVER (\n            PARTITION BY %s\n            ORDER BY _dlt_extracted_at DESC\n        ) as _rn\n    FROM %s\n)\n\n", partition, ref)
		fmt.Fprintf(&b, "SELECT\n%s\nFROM deduplicated\nWHERE _rn = 1\n", selectList("    ", data))
		f.Columns = len(data)
		doc.cols = data
	case SCDType2:
		var plain []Column // the spec's shape: data columns, then the validity columns
		for _, c := range data {
			if !strings.HasPrefix(c.Name, "_dlt_") {
				plain = append(plain, c)
			}
		}
		lead := fmt.Sprintf("LEAD(_dlt_extracted_at) OVER (\n        PARTITION BY %s ORDER BY _dlt_extracted_at\n    )", partition)
		fmt.Fprintf(&b, "SELECT\n%s,\n    _dlt_extracted_at as _valid_from,\n    %s as _valid_to,\n    CASE\n        WHEN %s IS NULL THEN TRUE\n        ELSE FALSE\n    END as _is_current\nFROM %s\n",
			selectList("    ", plain), lead, strings.ReplaceAll(lead, "\n    ", "\n        "), ref)
		f.Columns = len(plain) + 3
		doc.cols = append(plain, Column{Name: "_valid_from"}, Column{Name: "_valid_to"}, Column{Name: "_is_current", NotNull: true})
	default:
		fmt.Fprintf(&b, "SELECT\n%s\nFROM %s\n", selectList("    ", data), ref)
		f.Columns = len(data)
		doc.cols = data
	}
	desc := fmt.Sprintf("%s.%s, %s", src.Schema, t.Name, strategy)
	if strategy != None {
		desc += " on " + strings.Join(keys, ", ")
	}
	f.Content = withHeader("--", desc, b.String())
	return f, doc
}

func renderSources(src Source) File {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 2\n\nsources:\n  - name: %s\n    schema: %s\n    description: %s\n    tables:\n", src.Name, src.Schema,
		yamlString(fmt.Sprintf("Raw tables of source %s, loaded by dango sync.", src.Name)))
	for _, t := range src.Tables {
		fmt.Fprintf(&b, "      - name: %s\n        columns:\n", yamlString(t.Name))
		for _, c := range t.Columns {
			fmt.Fprintf(&b, "          - name: %s\n            data_type: %s\n", yamlString(c.Name), yamlString(c.Type))
		}
	}
	return File{Name: "_stg_" + src.Name + "__sources.yml", Kind: "sources", Source: src.Name,
		Content: withHeader("#", "sources of "+src.Schema, b.String())}
}

func renderSchema(src Source, models []modelDoc) File {
	var b strings.Builder
	b.WriteString("version: 2\n\nmodels:\n")
	for _, m := range models {
		what := map[string]string{
			LatestOnly: "the latest version of each " + strings.Join(m.keys, ", "),
			SCDType2:   "every version of each " + strings.Join(m.keys, ", ") + " with its validity period",
			None:       "every row as loaded",
		}[m.strategy]
		fmt.Fprintf(&b, "  - name: %s\n    description: %s\n    columns:\n", m.name, yamlString(fmt.Sprintf("Staging view of %s.%s: %s.", src.Schema, m.table, what)))
		for _, c := range m.cols {
			var tests []string
			isKey := contains(m.keys, c.Name)
			if isKey && m.strategy == LatestOnly && len(m.keys) == 1 {
				tests = append(tests, "unique")
			}
			if (isKey && m.strategy != None) || c.NotNull {
				tests = append(tests, "not_null")
			}
			fmt.Fprintf(&b, "      - name: %s\n", yamlString(c.Name))
			if len(tests) > 0 {
				b.WriteString("        data_tests:\n")
				for _, t := range tests {
					fmt.Fprintf(&b, "          - %s\n", t)
				}
			}
		}
	}
	return File{Name: "_stg_" + src.Name + "__schema.yml", Kind: "schema", Source: src.Name,
		Content: withHeader("#", "staging models of "+src.Schema, b.String())}
}

// yamlString quotes a scalar when YAML would read it as something else.
func yamlString(s string) string {
	if regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_ .,()/-]*$`).MatchString(s) && !strings.Contains(s, ": ") &&
		!contains([]string{"true", "false", "yes", "no", "on", "off", "null", "y", "n"}, strings.ToLower(s)) {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

var headerRE = regexp.MustCompile(`^(--|#) dango generate: .*\[checksum ([0-9a-f]{16})\]$`)

// withHeader prefixes body with the marker line that carries its checksum.
func withHeader(comment, what, body string) []byte {
	return []byte(fmt.Sprintf("%s dango generate: %s. Edited files are kept; --force regenerates them. [checksum %s]\n%s", comment, what, checksum(body), body))
}

func checksum(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:8])
}

// Pristine reports whether content was written by dango generate and not changed since:
// false for a file without the marker, or one whose body no longer matches its checksum.
func Pristine(content []byte) (generated, untouched bool) {
	s := string(content)
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return false, false
	}
	m := headerRE.FindStringSubmatch(s[:nl])
	if m == nil {
		return false, false
	}
	return true, checksum(s[nl+1:]) == m[2]
}
