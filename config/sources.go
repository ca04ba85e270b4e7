package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SourcesFile is the path of the sources file inside a project.
const SourcesFile = ".dango/sources.yml"

var sourceNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Source is one entry of sources.yml, validated and with its type block resolved.
type Source struct {
	Name        string
	Type        string
	Enabled     bool
	Schema      string // raw_<name> unless set
	Description string
	Settings    Values // the block named after the type
	Line        int    // where the entry starts in sources.yml
	// Defaults apply to every resource; Resources override them per resource.
	Defaults  ResourceConfig
	Resources map[string]ResourceConfig
}

// Write dispositions.
const (
	Append  = "append"
	Replace = "replace"
	Merge   = "merge"
)

// ResourceConfig says how one resource (a table of a source) loads. Empty fields mean "not
// set here": a resource's own settings override the source's, which override the connector's.
type ResourceConfig struct {
	DedupStrategy    string // for dango generate: latest_only, scd_type2, none
	WriteDisposition string
	PrimaryKey       []string
	Incremental      *Incremental
	Line             int // where it is configured, for errors found later
}

// Incremental loading: only rows whose cursor column is at or past the last value seen.
type Incremental struct {
	CursorColumn string
	InitialValue string
}

// Resource returns the effective configuration of a resource.
func (s Source) Resource(name string) ResourceConfig {
	rc := s.Defaults
	if o, ok := s.Resources[name]; ok {
		if o.WriteDisposition != "" {
			rc.WriteDisposition = o.WriteDisposition
		}
		if o.DedupStrategy != "" {
			rc.DedupStrategy = o.DedupStrategy
		}
		if o.PrimaryKey != nil {
			rc.PrimaryKey = o.PrimaryKey
		}
		if o.Incremental != nil {
			rc.Incremental = o.Incremental
		}
		rc.Line = o.Line
	}
	return rc
}

var resourceFields = []Field{
	{Name: "write_disposition", Kind: String, Enum: []string{Append, Replace, Merge},
		Doc: "append adds rows; replace swaps the table's content for this load's; merge upserts by primary_key. Default: append."},
	{Name: "primary_key", Kind: StringList, Doc: "Column(s) identifying a row (merge, deduplication, staging)."},
	{Name: "dedup_strategy", Kind: String, Enum: []string{"latest_only", "scd_type2", "none"},
		Doc: "How `dango generate` deduplicates the staging model: latest version per key, all versions with validity, or none. Default: latest_only."},
	{Name: "incremental", Kind: Object, Doc: "Load only rows at or past the cursor stored by the last sync.", Fields: []Field{
		{Name: "cursor_column", Kind: String, Required: true, Doc: "Column that grows with new or changed rows (updated_at, id)."},
		{Name: "initial_value", Kind: String, Doc: "Where the first sync starts; default: everything."},
	}},
}

// commonFields are the keys every source entry accepts next to its type block.
var commonFields = []Field{
	{Name: "name", Kind: String, Required: true, Doc: "Unique source name: lower case letters, digits and underscores, starting with a letter."},
	{Name: "type", Kind: String, Required: true, Doc: "Connector type (see `dango source types`)."},
	{Name: "enabled", Kind: Bool, Default: true, Doc: "Disabled sources are skipped by `dango sync`."},
	{Name: "schema", Kind: String, Doc: "Warehouse schema to load into; default `raw_<name>`."},
	{Name: "description", Kind: String, Doc: "Free text for people reading this file."},
	resourceFields[0], resourceFields[1], resourceFields[2], resourceFields[3],
	{Name: "resources", Kind: ObjectMap, Fields: resourceFields, Doc: "Per-resource overrides of write_disposition, primary_key and incremental."},
}

func resourceConfig(v Values, line int) ResourceConfig {
	rc := ResourceConfig{WriteDisposition: v.String("write_disposition"), DedupStrategy: v.String("dedup_strategy"), Line: line}
	if v.Has("primary_key") {
		rc.PrimaryKey = v.Strings("primary_key")
	}
	if inc := v.Object("incremental"); inc != nil {
		rc.Incremental = &Incremental{CursorColumn: inc.String("cursor_column"), InitialValue: inc.String("initial_value")}
	}
	return rc
}

// CommonSourceFields documents the keys every source accepts.
func CommonSourceFields() []Field { return commonFields }

// LoadSources reads and validates root/.dango/sources.yml. A missing file is an empty list.
func LoadSources(root string, specs Specs, secrets *SecretResolver) ([]Source, error) {
	data, err := os.ReadFile(filepath.Join(root, SourcesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", SourcesFile, err)
	}
	return ParseSources(SourcesFile, data, specs, secrets)
}

// ParseSources validates the content of a sources file. file names it in errors.
func ParseSources(file string, data []byte, specs Specs, secrets *SecretResolver) ([]Source, error) {
	root, err := parseYAML(file, data)
	if err != nil || root == nil {
		return nil, err
	}
	d := &decoder{file: file, secrets: secrets}
	if root.Kind != yaml.MappingNode {
		return nil, errorf(file, root.Line, "expected a mapping with `version` and `sources`, got %s", describe(root))
	}
	var sourcesNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		switch k.Value {
		case "version":
			if v.Kind != yaml.ScalarNode || (v.Value != "1" && v.Value != "1.0") {
				return nil, errorf(file, v.Line, "version: unsupported version %s (this dango reads version 1)", describe(v))
			}
		case "sources":
			sourcesNode = v
		default:
			return nil, errorf(file, k.Line, "unknown top-level key %q (valid keys: sources, version)", k.Value)
		}
	}
	if sourcesNode == nil || (sourcesNode.Kind == yaml.ScalarNode && sourcesNode.Tag == "!!null") {
		return nil, nil
	}
	if sourcesNode.Kind != yaml.SequenceNode {
		return nil, errorf(file, sourcesNode.Line, "sources: expected a list of sources, got %s", describe(sourcesNode))
	}
	var out []Source
	byName := map[string]int{}
	for i, n := range sourcesNode.Content {
		src, err := d.decodeSource(resolveAlias(n), i, specs)
		if err != nil {
			return nil, err
		}
		if prev, dup := byName[src.Name]; dup {
			return nil, errorf(file, src.Line, "sources[%d].name: duplicate source name %q (first defined on line %d)", i, src.Name, prev)
		}
		byName[src.Name] = src.Line
		out = append(out, src)
	}
	return out, nil
}

func (d *decoder) decodeSource(n *yaml.Node, idx int, specs Specs) (Source, error) {
	path := fmt.Sprintf("sources[%d]", idx)
	if n.Kind != yaml.MappingNode {
		return Source{}, errorf(d.file, n.Line, "%s: expected a mapping with name and type, got %s", path, describe(n))
	}
	// Find the type first: it decides which block key is valid.
	var typ string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typ = n.Content[i+1].Value
		}
	}
	fields := append([]Field(nil), commonFields...)
	var spec *Spec
	if typ != "" {
		var ok bool
		spec, ok = specs.Spec(typ)
		if !ok {
			line := n.Line
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "type" {
					line = n.Content[i+1].Line
				}
			}
			return Source{}, errorf(d.file, line, "%s.type: unknown source type %q (known types: %s)", path, typ, strings.Join(specs.Types(), ", "))
		}
		block := Field{Name: typ, Kind: Object, Fields: spec.Fields, Doc: spec.Summary}
		if spec.Check != nil {
			check := spec.Check
			block.Check = func(v any) error { vv, _ := v.(Values); return check(vv) }
		}
		fields = append(fields, block)
	}
	vals, err := d.decodeBlock(n, path, fields)
	if err != nil {
		return Source{}, err
	}
	src := Source{
		Name:        vals.String("name"),
		Type:        typ,
		Enabled:     vals.Bool("enabled"),
		Schema:      vals.String("schema"),
		Description: vals.String("description"),
		Line:        n.Line,
	}
	if !sourceNameRE.MatchString(src.Name) {
		return Source{}, errorf(d.file, n.Line, "%s.name: %q is not a valid source name (use lower case letters, digits and underscores, starting with a letter)", path, src.Name)
	}
	if src.Schema == "" {
		src.Schema = "raw_" + src.Name
	} else if !sourceNameRE.MatchString(src.Schema) {
		return Source{}, errorf(d.file, n.Line, "%s.schema: %q is not a valid schema name", path, src.Schema)
	}
	if !vals.Has(typ) {
		// A type block whose keys all have defaults may be omitted.
		block, err := d.decodeBlock(&yaml.Node{Kind: yaml.MappingNode, Line: n.Line}, path+"."+typ, spec.Fields)
		if err != nil {
			return Source{}, errorf(d.file, n.Line, "%s: missing the `%s:` block with the source's settings", path, typ)
		}
		vals[typ] = block
	}
	src.Settings = vals.Object(typ)
	src.Defaults = resourceConfig(vals, n.Line)
	if m, ok := vals["resources"].(map[string]Values); ok {
		src.Resources = map[string]ResourceConfig{}
		for name, rv := range m {
			src.Resources[name] = resourceConfig(rv, int(rv.Int("\x00line")))
		}
	}
	return src, nil
}

func parseYAML(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, data, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	return resolveAlias(doc.Content[0]), nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlError turns yaml.v3's "yaml: line N: msg" into a file:line error. yaml.v3 names the
// line where the enclosing block started; the line that breaks the file is found as the end
// of its shortest prefix that fails to parse, which is where a user has to look.
func yamlError(file string, data []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		err = errors.New(te.Errors[0])
	}
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = strings.TrimSpace(m[2])
	}
	if bad := firstFailingLine(data); bad > 0 {
		if line > 0 && line < bad {
			msg += fmt.Sprintf(" (in the block that starts on line %d)", line)
		}
		line = bad
	}
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg, Err: err}
}

func firstFailingLine(data []byte) int {
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 2000 {
		return 0
	}
	var prefix strings.Builder
	for i, l := range lines {
		prefix.WriteString(l)
		var n yaml.Node
		if yaml.Unmarshal([]byte(prefix.String()), &n) != nil {
			return i + 1
		}
	}
	return 0
}
