package restapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/naming"
)

// Resource is one endpoint, its configuration resolved: resource_defaults merged in, dango's
// older keys folded into dlt's, parent bindings found.
type Resource struct {
	Name         string
	Table        string // table_name, or the name
	Path         string // may hold placeholders: {resources.p.f}, {<resolve param>}, {incremental.*}
	Method       string // GET or POST
	Params       map[string]any
	JSON         any
	Data         any            // form fields (map) or a raw body (string): dlt's endpoint.data
	AuthConfig   map[string]any // endpoint.auth: this resource's own credentials
	auth         Auth
	Headers      map[string]string
	DataSelector string
	PrimaryKey   []string
	Disposition  string
	Paginator    map[string]any // "type" normalised to dlt's name, only the keys the user wrote
	Incremental  *config.Incremental
	StartParam   string // query parameter receiving the incremental start value
	EndParam     string
	EndValue     string
	Parent       string // the resource whose records this one's requests are made from
	Binds        []Bind // placeholders filled from the parent record
	Include      []string
	Selected     bool // false: fetched for its children only
	MaxNesting   *int // dlt's max_table_nesting; nil: dlt's default
	Actions      []ResponseAction
	Line         int // where it is configured (0 when not from sources.yml)
}

// Bind fills placeholder Key with the parent record's Field.
type Bind struct {
	Key   string // "resources.posts.id", a resolve param's name, or a legacy {field}
	Field string // dotted path in the parent record
}

// ResponseAction is dlt's response_actions entry: a reply matching Status (0: any) and
// containing Content ("": any) is ignored.
type ResponseAction struct {
	Status  int
	Content string
}

// asMap reads both validated Values and plain maps (Stripe and tests build settings by hand).
func asMap(x any) (map[string]any, bool) {
	switch m := x.(type) {
	case config.Values:
		return m.Plain(), true
	case map[string]any:
		return m, true
	}
	return nil, false
}

func asList(x any) []any {
	switch l := x.(type) {
	case []any:
		return l
	case []config.Values:
		out := make([]any, len(l))
		for i, v := range l {
			out[i] = v
		}
		return out
	}
	return nil
}

func lineOf(x any) int {
	if v, ok := x.(config.Values); ok {
		return v.Line()
	}
	return 0
}

func strList(x any) []string {
	switch l := x.(type) {
	case string:
		return []string{l}
	case []string:
		return l
	case []any:
		out := make([]string, len(l))
		for i, k := range l {
			out[i] = str(k)
		}
		return out
	}
	return nil
}

// endpointKeys are the keys dango also accepts directly on a resource (its older layout).
var endpointKeys = []string{"path", "params", "data_selector", "incremental", "paginator"}

// normalize returns a resource (or resource_defaults) with its endpoint a map and dango's
// older resource-level keys moved into it.
func normalize(res map[string]any, idx, line int) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range res {
		out[k] = v
	}
	ep := map[string]any{}
	switch e := res["endpoint"].(type) {
	case nil:
	case string:
		ep["path"] = e
	default:
		m, ok := asMap(e)
		if !ok {
			return nil, resourceError(line, idx, "endpoint", "expected a path or a mapping, got %v", e)
		}
		for k, v := range m {
			ep[k] = v
		}
	}
	for _, k := range endpointKeys {
		if v, ok := res[k]; ok {
			if _, dup := ep[k]; dup {
				return nil, resourceError(line, idx, k, "set either endpoint.%s or %s (dango's older key), not both", k, k)
			}
			ep[k] = v
			delete(out, k)
		}
	}
	if _, had := res["endpoint"]; had || len(ep) > 0 {
		out["endpoint"] = ep
	}
	return out, nil
}

// mergeDefaults applies resource_defaults as dlt's _merge_resource_endpoints does: the
// resource's keys win; endpoint keys merge, params and json one level deep.
func mergeDefaults(def, res map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range def {
		out[k] = v
	}
	for k, v := range res {
		out[k] = v
	}
	dep, _ := def["endpoint"].(map[string]any)
	rep, _ := res["endpoint"].(map[string]any)
	ep := map[string]any{}
	for k, v := range dep {
		ep[k] = v
	}
	for k, v := range rep {
		if k == "params" || k == "json" {
			continue
		}
		ep[k] = v
	}
	for _, k := range []string{"params", "json"} {
		rv, ok := rep[k]
		if !ok {
			continue
		}
		dm, _ := asMap(dep[k])
		rm, isMap := asMap(rv)
		if !isMap {
			ep[k] = rv
			continue
		}
		m := map[string]any{}
		for kk, vv := range dm {
			m[kk] = vv
		}
		for kk, vv := range rm {
			m[kk] = vv
		}
		ep[k] = m
	}
	out["endpoint"] = ep
	return out
}

// buildResources resolves the resources of a rest_api block, in an order where parents come
// before their children. Errors are config.CheckErrors placed at the resource's line.
func buildResources(s config.Values) ([]Resource, error) {
	list := asList(s["resources"])
	if len(list) == 0 {
		return nil, config.CheckErrorf(0, "resources", "expected a list of resources, got none")
	}
	var defaults map[string]any
	if d, ok := asMap(s["resource_defaults"]); ok {
		var err error
		if defaults, err = normalize(d, -1, lineOf(s["resource_defaults"])); err != nil {
			return nil, err
		}
	}
	var out []Resource
	byName := map[string]int{}
	for i, item := range list {
		line := lineOf(item)
		var m map[string]any
		switch x := item.(type) {
		case string: // a name, which is also the path
			m = map[string]any{"name": naming.Snake(strings.Trim(x, "/")), "endpoint": map[string]any{"path": x}}
		default:
			var ok bool
			if m, ok = asMap(x); !ok {
				return nil, resourceError(line, i, "", "expected a name or a mapping, got %v", item)
			}
		}
		m, err := normalize(m, i, line)
		if err != nil {
			return nil, err
		}
		if defaults != nil {
			m = mergeDefaults(defaults, m)
		}
		r, err := parseResource(m, i, line)
		if err != nil {
			return nil, err
		}
		if prev, dup := byName[r.Name]; dup {
			return nil, resourceError(line, i, "name", "resource %q is already defined (resources[%d])", r.Name, prev)
		}
		byName[r.Name] = i
		out = append(out, r)
	}
	for i, r := range out {
		if r.Parent == "" {
			continue
		}
		if _, ok := byName[r.Parent]; !ok {
			names := make([]string, len(out))
			for j, o := range out {
				names[j] = o.Name
			}
			return nil, resourceError(r.Line, i, "", "resource %q depends on %q, which is not a resource of this source (resources: %s)", r.Name, r.Parent, strings.Join(names, ", "))
		}
	}
	return order(out)
}

// order sorts resources so that parents come first, keeping the configured order otherwise.
func order(rs []Resource) ([]Resource, error) {
	idx := map[string]int{}
	for i, r := range rs {
		idx[r.Name] = i
	}
	state := make([]int, len(rs)) // 0 new, 1 visiting, 2 done
	var out []Resource
	var visit func(i int, chain []string) error
	visit = func(i int, chain []string) error {
		switch state[i] {
		case 2:
			return nil
		case 1:
			return resourceError(rs[i].Line, i, "", "resources depend on each other in a circle: %s", strings.Join(append(chain, rs[i].Name), " → "))
		}
		state[i] = 1
		if p := rs[i].Parent; p != "" {
			if err := visit(idx[p], append(chain, rs[i].Name)); err != nil {
				return err
			}
		}
		state[i] = 2
		out = append(out, rs[i])
		return nil
	}
	for i := range rs {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseResource(m map[string]any, idx, line int) (Resource, error) {
	r := Resource{Name: str(m["name"]), Line: line, Selected: true, Method: "GET"}
	fail := func(sub, format string, args ...any) (Resource, error) {
		return r, resourceError(line, idx, sub, format, args...)
	}
	ep, _ := m["endpoint"].(map[string]any)
	r.Path = str(ep["path"])
	if r.Name == "" {
		if r.Path == "" {
			return fail("", "missing required key \"name\"")
		}
		r.Name = naming.Snake(strings.Trim(r.Path, "/"))
	}
	if r.Path == "" {
		r.Path = r.Name
	}
	r.Table = naming.Snake(r.Name)
	if t := str(m["table_name"]); t != "" {
		r.Table = naming.Snake(t)
	}
	if v := str(ep["method"]); v != "" {
		r.Method = strings.ToUpper(v)
		if r.Method != "GET" && r.Method != "POST" {
			return fail("endpoint.method", "%q is not one of GET, POST", v)
		}
	}
	r.DataSelector = str(ep["data_selector"])
	switch wd := m["write_disposition"].(type) {
	case nil:
	case string:
		r.Disposition = wd
	default:
		w, _ := asMap(wd)
		r.Disposition = str(w["disposition"])
		if st := str(w["strategy"]); st != "" && r.Disposition != "merge" {
			return fail("write_disposition.strategy", "a strategy applies to disposition merge only, not %q", r.Disposition)
		}
	}
	if pk, ok := m["primary_key"]; ok {
		r.PrimaryKey = strList(pk)
	}
	if sel, ok := m["selected"].(bool); ok {
		r.Selected = sel
	}
	r.Include = strList(m["include_from_parent"])
	if v, ok := m["max_table_nesting"]; ok && v != nil {
		n, err := toInt(v)
		if err != nil || n < 0 {
			return fail("max_table_nesting", "must be a whole number of levels, 0 or more, got %v", v)
		}
		r.MaxNesting = &n
	}
	switch p := ep["paginator"].(type) {
	case nil:
	case string:
		r.Paginator = map[string]any{"type": paginatorType(p)}
	default:
		pm, _ := asMap(p)
		r.Paginator = map[string]any{}
		for k, v := range pm {
			r.Paginator[k] = v
		}
		r.Paginator["type"] = paginatorType(str(pm["type"]))
	}
	if r.Paginator != nil {
		if err := ValidatePaginator(r.Paginator); err != nil {
			return fail("endpoint.paginator", "%v", err)
		}
	}
	if h, ok := asMap(ep["headers"]); ok {
		r.Headers = map[string]string{}
		for k, v := range h {
			r.Headers[k] = str(v)
		}
	}
	if j, ok := ep["json"]; ok {
		if jm, isMap := asMap(j); isMap {
			j = jm
		}
		r.JSON = j
	}
	if a, ok := asMap(ep["auth"]); ok {
		if msg := checkOAuth(config.Values(a)); msg != "" {
			return fail("endpoint.auth", "%s", msg)
		}
		r.AuthConfig = a
	}
	if d, ok := ep["data"]; ok && d != nil {
		if r.JSON != nil {
			return fail("endpoint.data", "set either json or data (the request has one body)")
		}
		if dm, isMap := asMap(d); isMap {
			d = dm
		}
		r.Data = d
	}
	for i, a := range asList(ep["response_actions"]) {
		am, ok := asMap(a)
		if !ok {
			return fail(fmt.Sprintf("endpoint.response_actions[%d]", i), "expected a mapping {status_code, content, action}; callables are Python, which dango cannot run")
		}
		if str(am["action"]) != "ignore" {
			return fail(fmt.Sprintf("endpoint.response_actions[%d].action", i), "dango supports only `action: ignore`")
		}
		ra := ResponseAction{Content: str(am["content"])}
		if sc, ok := am["status_code"]; ok {
			if _, err := fmt.Sscan(str(sc), &ra.Status); err != nil {
				return fail(fmt.Sprintf("endpoint.response_actions[%d].status_code", i), "%v is not an HTTP status", sc)
			}
		}
		if ra.Status == 0 && ra.Content == "" {
			return fail(fmt.Sprintf("endpoint.response_actions[%d]", i), "set status_code or content (or both): which replies to ignore")
		}
		r.Actions = append(r.Actions, ra)
	}
	if inc, ok := asMap(ep["incremental"]); ok {
		cursor := str(inc["cursor_path"])
		if cursor == "" {
			cursor = str(inc["cursor_column"])
		}
		if cursor == "" {
			return fail("endpoint.incremental", "missing required key \"cursor_path\"")
		}
		r.Incremental = &config.Incremental{CursorColumn: cursorColumn(cursor), InitialValue: str(inc["initial_value"])}
		r.StartParam, r.EndParam, r.EndValue = str(inc["start_param"]), str(inc["end_param"]), str(inc["end_value"])
	}
	// Params: plain values, resolve bindings, at most one param-bound incremental.
	params, _ := asMap(ep["params"])
	r.Params = map[string]any{}
	resolveParams := map[string]string{} // param → parent field
	var names []string
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := params[k]
		pm, isMap := asMap(v)
		if !isMap {
			r.Params[k] = v
			continue
		}
		switch str(pm["type"]) {
		case "resolve":
			parent := str(pm["resource"])
			if r.Parent != "" && r.Parent != parent {
				return fail("endpoint.params."+k, "a resource has one parent; %q and %q are both named", r.Parent, parent)
			}
			r.Parent = parent
			resolveParams[k] = str(pm["field"])
		case "incremental":
			if r.Incremental != nil {
				return fail("endpoint.params."+k, "only one incremental per endpoint: this param and endpoint.incremental (or another param) both set one")
			}
			r.Incremental = &config.Incremental{CursorColumn: cursorColumn(str(pm["cursor_path"])), InitialValue: str(pm["initial_value"])}
			r.StartParam = k
		default:
			return fail("endpoint.params."+k, "a param mapping needs type: resolve or incremental")
		}
	}
	hasInc := r.Incremental != nil
	legacyParent := str(m["parent"])
	boundStatic := map[string]bool{} // static params the path takes (not sent as query params)
	// Placeholders: the path binds static params and resolve params; every template may hold
	// {resources.<r>.<f>} and (with an incremental) {incremental.*}.
	checkTemplate := func(sub, s string, inPath bool) (string, error) {
		segs, err := parseTemplate(s)
		if err != nil {
			return "", resourceError(line, idx, sub, "%v", err)
		}
		var b strings.Builder
		for _, sg := range segs {
			if !sg.field {
				b.WriteString(escapeBraces(sg.text))
				continue
			}
			name := sg.text
			switch {
			case strings.HasPrefix(name, "resources."):
				parts := strings.SplitN(name, ".", 3)
				if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
					return "", resourceError(line, idx, sub, "placeholder {%s}: expected {resources.<resource>.<field>}", name)
				}
				if r.Parent != "" && r.Parent != parts[1] {
					return "", resourceError(line, idx, sub, "a resource has one parent; %q and %q are both named", r.Parent, parts[1])
				}
				r.Parent = parts[1]
				r.Binds = appendBind(r.Binds, Bind{Key: name, Field: parts[2]})
			case strings.HasPrefix(name, "incremental."):
				if !hasInc {
					return "", resourceError(line, idx, sub, "placeholder {%s} needs an incremental: add endpoint.incremental (cursor_path, initial_value)", name)
				}
				switch strings.TrimPrefix(name, "incremental.") {
				case "start_value", "initial_value", "last_value", "end_value":
				default:
					return "", resourceError(line, idx, sub, "placeholder {%s}: expected one of incremental.start_value, incremental.end_value, incremental.initial_value, incremental.last_value", name)
				}
			case inPath && resolveParams[name] != "":
				r.Binds = appendBind(r.Binds, Bind{Key: name, Field: resolveParams[name]})
				delete(resolveParams, name)
			case inPath && r.Params[name] != nil: // a static param bound into the path
				b.WriteString(escapeBraces(placeholderText(r.Params[name])))
				boundStatic[name] = true
				continue
			case inPath && legacyParent != "":
				r.Binds = appendBind(r.Binds, Bind{Key: name, Field: name})
			case inPath:
				return "", resourceError(line, idx, sub, "the path %q has a placeholder {%s}, but endpoint.params has no %q (or a resolve param of that name)", s, name, name)
			default:
				return "", resourceError(line, idx, sub, "placeholder {%s} is not valid here: expected {resources.<resource>.<field>} or {incremental.start_value}; write {{ and }} for literal braces", name)
			}
			b.WriteString("{" + name + "}")
		}
		return b.String(), nil
	}
	var err error
	origPath := r.Path
	if r.Path, err = checkTemplate("endpoint.path", r.Path, true); err != nil {
		return r, err
	}
	for k := range boundStatic {
		delete(r.Params, k)
	}
	for k, v := range resolveParams {
		return fail("endpoint.params."+k, "resolve param %q is not bound in the path %q: put {%s} in the path, or use {resources.%s.%s} in a query param", k, r.Path, k, r.Parent, v)
	}
	for k, v := range r.Params {
		if err := walkStrings(v, func(s string) error { _, err := checkTemplate("endpoint.params."+k, s, false); return err }); err != nil {
			return r, err
		}
	}
	if err := walkStrings(r.JSON, func(s string) error { _, err := checkTemplate("endpoint.json", s, false); return err }); err != nil {
		return r, err
	}
	if err := walkStrings(r.Data, func(s string) error { _, err := checkTemplate("endpoint.data", s, false); return err }); err != nil {
		return r, err
	}
	for k, v := range r.Headers {
		if _, err := checkTemplate("endpoint.headers."+k, v, false); err != nil {
			return r, err
		}
	}
	if legacyParent != "" {
		if r.Parent != "" && r.Parent != legacyParent {
			return fail("parent", "a resource has one parent; %q and %q are both named", legacyParent, r.Parent)
		}
		r.Parent = legacyParent
	}
	if len(r.Include) > 0 && r.Parent == "" {
		return fail("include_from_parent", "this resource has no parent (no resolve param or {resources.<parent>.<field>} placeholder) to include fields from")
	}
	if r.Parent == r.Name {
		return fail("", "resource %q cannot be its own parent", r.Name)
	}
	// dlt's single_entity_path: a last path segment holding a placeholder names one entity,
	// the whole reply (data_selector "$") on one page.
	if singleEntityRE.MatchString(path.Base(origPath)) {
		if r.Paginator == nil {
			r.Paginator = map[string]any{"type": "single_page"}
		}
		if r.DataSelector == "" {
			r.DataSelector = "$"
		}
	}
	return r, nil
}

func appendBind(bs []Bind, b Bind) []Bind {
	for _, x := range bs {
		if x.Key == b.Key {
			return bs
		}
	}
	return append(bs, b)
}

var singleEntityRE = regexp.MustCompile(`\{([a-zA-Z0-9.\-_]+)\}`)

// paginatorType normalises dango's older paginator names to dlt's.
func paginatorType(t string) string {
	switch t {
	case "next_url", "json_response":
		return "json_link"
	case "link_header":
		return "header_link"
	case "none":
		return "single_page"
	case "page":
		return "page_number"
	case "json_cursor":
		return "cursor"
	case "has_more":
		return "last_id"
	case "":
		return "auto"
	}
	return t
}

// cursorColumn turns dlt's cursor_path (a field, "$.field" or a dotted path into nested
// objects) into the column the writer finds it in.
func cursorColumn(p string) string {
	p = strings.TrimPrefix(strings.TrimPrefix(p, "$"), ".")
	parts := strings.Split(p, ".")
	if len(parts) == 1 {
		return p
	}
	for i, s := range parts {
		parts[i] = naming.Snake(s)
	}
	return strings.Join(parts, "__")
}

func walkStrings(v any, fn func(string) error) error {
	switch x := v.(type) {
	case string:
		return fn(x)
	case map[string]any:
		for k, e := range x {
			if err := fn(k); err != nil {
				return err
			}
			if err := walkStrings(e, fn); err != nil {
				return err
			}
		}
	case config.Values:
		return walkStrings(x.Plain(), fn)
	case []any:
		for _, e := range x {
			if err := walkStrings(e, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// segment is literal text or a {field} of a str.format-style template.
type segment struct {
	text  string
	field bool
}

// parseTemplate splits a template as Python's str.format does: {name} fields, {{ and }} for
// literal braces.
func parseTemplate(s string) ([]segment, error) {
	var out []segment
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: a '{' without its '}' (write {{ for a literal brace)", s)
			}
			name := strings.TrimSpace(s[i+1 : i+end])
			if name == "" || strings.ContainsAny(name, "{!:") {
				return nil, fmt.Errorf("%q: placeholder {%s} is not a plain name (format specs and conversions are not supported)", s, name)
			}
			if lit.Len() > 0 {
				out = append(out, segment{text: lit.String()})
				lit.Reset()
			}
			out = append(out, segment{text: name, field: true})
			i += end
		case c == '}':
			return nil, fmt.Errorf("%q: a '}' without its '{' (write }} for a literal brace)", s)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		out = append(out, segment{text: lit.String()})
	}
	return out, nil
}

func escapeBraces(s string) string {
	return strings.NewReplacer("{", "{{", "}", "}}").Replace(s)
}

// expand fills a checked template's placeholders from vals; escape quotes each value (for
// paths), or nil.
func expand(s string, vals map[string]any, escape func(string) string) string {
	segs, err := parseTemplate(s)
	if err != nil {
		return s // checked when the configuration was read
	}
	var b strings.Builder
	for _, sg := range segs {
		if !sg.field {
			b.WriteString(sg.text)
			continue
		}
		v := placeholderText(vals[sg.text])
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// placeholderText is a value as Python's str() prints it into a template.
func placeholderText(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case json.Number:
		return x.String()
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// expandJSON fills placeholders in a JSON body; a string that is only one placeholder
// becomes the value itself, keeping its type (dlt's preserve_value_type).
func expandJSON(v any, vals map[string]any) any {
	switch x := v.(type) {
	case string:
		if segs, err := parseTemplate(x); err == nil && len(segs) == 1 && segs[0].field {
			return vals[segs[0].text]
		}
		return expand(x, vals, nil)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[expand(k, vals, nil)] = expandJSON(e, vals)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expandJSON(e, vals)
		}
		return out
	}
	return v
}

// queryValues turns expanded params into a query; lists repeat the parameter, null drops it
// (as requests does).
func queryValues(params map[string]any, vals map[string]any) url.Values {
	q := url.Values{}
	for k, v := range params {
		switch x := v.(type) {
		case nil:
		case []any:
			for _, e := range x {
				if e != nil {
					q.Add(k, expand(placeholderText(e), vals, nil))
				}
			}
		case string:
			q.Set(k, expand(x, vals, nil))
		default:
			q.Set(k, placeholderText(x))
		}
	}
	return q
}

// parentValues are the placeholder values of one parent record, and the JSON members
// include_from_parent adds to each child record (nil when none).
func (r Resource) parentValues(parent map[string]any) (map[string]any, []byte, error) {
	vals := map[string]any{}
	for _, b := range r.Binds {
		v := lookup(parent, strings.TrimPrefix(strings.TrimPrefix(b.Field, "$"), "."))
		if v == nil {
			return nil, nil, fmt.Errorf("a record of %s has no field %q, needed for {%s} (its fields: %s)", r.Parent, b.Field, b.Key, fieldList(parent))
		}
		vals[b.Key] = v
	}
	if len(r.Include) == 0 {
		return vals, nil, nil
	}
	var buf []byte
	for i, f := range r.Include {
		v, ok := parent[f]
		if !ok {
			return nil, nil, fmt.Errorf("include_from_parent: a record of %s has no field %q (its fields: %s)", r.Parent, f, fieldList(parent))
		}
		k, _ := json.Marshal("_" + r.Parent + "_" + f) // dlt's make_parent_key_name
		val, err := json.Marshal(v)
		if err != nil {
			return nil, nil, err
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(append(append(buf, k...), ':'), val...)
	}
	return vals, buf, nil
}

func fieldList(m map[string]any) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
