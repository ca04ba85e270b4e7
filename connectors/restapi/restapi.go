// Package restapi is the declarative REST engine (`type: rest_api`): resources are described
// in sources.yml (path, params, where the records are in the reply, how pages follow each
// other, incremental parameters) and fetched with a well-behaved client — per-source rate
// limits, Retry-After honoured, exponential backoff for server errors, immediate failure for
// bad credentials. Records are spooled to NDJSON files that the writer loads with DuckDB, so
// API sources get the same incremental, merge and schema-evolution behaviour as files.
package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/connectors/file"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/naming"
)

// Spec is the rest_api configuration block.
var Spec = config.Spec{Type: "rest_api", Summary: "Any JSON REST API, described declaratively: base URL, auth, and resources with paths, record selectors, paginators and incremental parameters.",
	Fields: []config.Field{
		{Name: "base_url", Kind: config.String, Required: true, Doc: "Prefix of every resource path."},
		{Name: "auth", Kind: config.Object, Doc: "Credentials.", Fields: []config.Field{
			{Name: "type", Kind: config.String, Required: true, Enum: []string{"bearer", "api_key", "basic", "oauth2_client_credentials"}, Doc: "How to authenticate."},
			{Name: "token", Kind: config.String, Doc: "Bearer token (use token_env)."},
			{Name: "name", Kind: config.String, Doc: "api_key: header or query parameter name.", Default: "Authorization"},
			{Name: "api_key", Kind: config.String, Doc: "api_key: the key (use api_key_env)."},
			{Name: "location", Kind: config.String, Enum: []string{"header", "query"}, Default: "header", Doc: "api_key: where it goes."},
			{Name: "username", Kind: config.String, Doc: "basic: user."},
			{Name: "password", Kind: config.String, Doc: "basic: password (use password_env)."},
			{Name: "client_id", Kind: config.String, Doc: "oauth2: client id."},
			{Name: "client_secret", Kind: config.String, Doc: "oauth2: client secret (use client_secret_env)."},
			{Name: "token_url", Kind: config.String, Doc: "oauth2: token endpoint."},
			{Name: "scope", Kind: config.String, Doc: "oauth2: scope."},
		}},
		{Name: "headers", Kind: config.Map, Doc: "Extra headers; ${VAR} expands from the environment."},
		{Name: "requests_per_second", Kind: config.Float, Doc: "Most requests per second for this source, whatever --workers is."},
		{Name: "rate_limit_delay", Kind: config.Float, Doc: "Seconds between requests (the spec's Stripe option)."},
		{Name: "max_retry_time", Kind: config.String, Default: "5m", Doc: "How long one request may keep retrying (429, 5xx, network)."},
		{Name: "timeout", Kind: config.String, Default: "60s", Doc: "Per-request timeout."},
		{Name: "resources", Kind: config.Any, Required: true, Doc: "List of resources: name, path, params, data_selector, primary_key, write_disposition, paginator, incremental, parent."},
	}}

func init() {
	connectors.Default.Register(connectors.Registration{Spec: Spec, New: func(job connectors.Job) (connectors.Connector, error) {
		return New(job, job.Source.Settings)
	}})
}

// Resource is one endpoint.
type Resource struct {
	Name         string
	Path         string
	Params       map[string]string
	DataSelector string
	PrimaryKey   []string
	Disposition  string
	Paginator    map[string]any
	Incremental  *config.Incremental
	Parent       string
}

// Connector is a configured REST source.
type Connector struct {
	job        connectors.Job
	base       string
	client     *Client
	resources  []Resource
	batchBytes int64
}

// New builds the connector from settings (also used by the Stripe and Sheets types).
func New(job connectors.Job, s config.Values) (*Connector, error) {
	// One spool file per 256 MB of records: each file costs a schema sniff and a statement,
	// so fewer, larger batches load faster (measured 4 × 50,000 records → 1 × 200,000).
	c := &Connector{job: job, base: strings.TrimRight(s.String("base_url"), "/"), batchBytes: 256 << 20}
	timeout, err := time.ParseDuration(s.String("timeout"))
	if err != nil {
		return nil, fmt.Errorf("source %s: timeout %q: %w", job.Source.Name, s.String("timeout"), err)
	}
	maxRetry, err := time.ParseDuration(s.String("max_retry_time"))
	if err != nil {
		return nil, fmt.Errorf("source %s: max_retry_time %q: %w", job.Source.Name, s.String("max_retry_time"), err)
	}
	httpc := &http.Client{Timeout: timeout}
	c.client = &Client{HTTP: httpc, Auth: noAuth{}, Headers: map[string]string{}, MaxElapsed: maxRetry}
	if a := s.Object("auth"); a != nil {
		switch a.String("type") {
		case "bearer":
			c.client.Auth = bearerAuth{token: a.String("token")}
		case "api_key":
			c.client.Auth = apiKeyAuth{name: a.String("name"), value: a.String("api_key"), location: a.String("location")}
		case "basic":
			c.client.Auth = basicAuth{user: a.String("username"), password: a.String("password")}
		case "oauth2_client_credentials":
			c.client.Auth = &oauth2Auth{tokenURL: a.String("token_url"), clientID: a.String("client_id"), secret: a.String("client_secret"), scope: a.String("scope"), http: httpc}
		}
	}
	if h, ok := s["headers"].(map[string]any); ok {
		for k, v := range h {
			c.client.Headers[k] = os.Expand(fmt.Sprint(v), os.Getenv)
		}
	}
	switch {
	case s.Float("requests_per_second") > 0:
		c.client.Limiter = rate.NewLimiter(rate.Limit(s.Float("requests_per_second")), 1)
	case s.Float("rate_limit_delay") > 0:
		c.client.Limiter = rate.NewLimiter(rate.Every(time.Duration(s.Float("rate_limit_delay")*float64(time.Second))), 1)
	}
	list, ok := s["resources"].([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("source %s: resources must be a list of endpoints", job.Source.Name)
	}
	for i, item := range list {
		r, err := parseResource(item)
		if err != nil {
			return nil, fmt.Errorf("source %s: resources[%d]: %w", job.Source.Name, i, err)
		}
		c.resources = append(c.resources, r)
	}
	return c, nil
}

func parseResource(item any) (Resource, error) {
	var r Resource
	switch x := item.(type) {
	case string: // just a path: "users"
		r.Name, r.Path = naming.Snake(strings.Trim(x, "/")), x
		return r, nil
	case map[string]any:
		r.Name = str(x["name"])
		r.Path = str(x["path"])
		if ep, ok := x["endpoint"].(map[string]any); ok { // dlt's endpoint: {path, params, …}
			for k, v := range ep {
				x[k] = v
			}
			r.Path = str(ep["path"])
		}
		if r.Path == "" {
			r.Path = r.Name
		}
		if r.Name == "" {
			r.Name = naming.Snake(strings.Trim(r.Path, "/"))
		}
		r.DataSelector = str(x["data_selector"])
		r.Disposition = str(x["write_disposition"])
		r.Parent = str(x["parent"])
		switch pk := x["primary_key"].(type) {
		case string:
			r.PrimaryKey = []string{pk}
		case []any:
			for _, k := range pk {
				r.PrimaryKey = append(r.PrimaryKey, str(k))
			}
		}
		if p, ok := x["params"].(map[string]any); ok {
			r.Params = map[string]string{}
			for k, v := range p {
				r.Params[k] = str(v)
			}
		}
		switch p := x["paginator"].(type) {
		case string:
			r.Paginator = map[string]any{"type": p}
		case map[string]any:
			r.Paginator = p
		}
		if inc, ok := x["incremental"].(map[string]any); ok {
			cursor := str(inc["cursor_column"])
			if cursor == "" {
				cursor = str(inc["cursor_path"])
			}
			if cursor == "" {
				return r, fmt.Errorf("incremental needs cursor_column")
			}
			r.Incremental = &config.Incremental{CursorColumn: cursor, InitialValue: str(inc["initial_value"])}
		}
		return r, nil
	}
	return r, fmt.Errorf("expected a path or a mapping, got %v", item)
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Resources names the source's resources.
func (c *Connector) Resources() []string {
	out := make([]string, len(c.resources))
	for i, r := range c.resources {
		out[i] = r.Name
	}
	return out
}

// Extract fetches every selected resource in order (parents before their children).
func (c *Connector) Extract(ctx context.Context, out connectors.Emitter) error {
	c.client.OnRetry = func(msg string) { out.Logf("%s", msg) }
	parents := map[string][]map[string]any{} // records of resources that others need
	for _, r := range c.resources {
		if r.Parent != "" {
			parents[r.Parent] = nil
		}
	}
	for _, r := range c.resources {
		_, needed := parents[r.Name]
		if !c.job.Selected(r.Name) && !needed {
			continue
		}
		if err := c.extractResource(ctx, r, parents, out); err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
	}
	return nil
}

var placeholderRE = regexp.MustCompile(`\{([^{}]+)\}`)

func (c *Connector) extractResource(ctx context.Context, r Resource, parents map[string][]map[string]any, out connectors.Emitter) error {
	// Configuration from sources.yml overrides what the resource declares.
	src := c.job.Source
	if src.Resources == nil || src.Resources[r.Name].Incremental == nil {
		if r.Incremental != nil && src.Resource(r.Name).Incremental == nil {
			if src.Resources == nil {
				src.Resources = map[string]config.ResourceConfig{}
			}
			rc := src.Resources[r.Name]
			rc.Incremental = r.Incremental
			src.Resources[r.Name] = rc
		}
	}
	job := c.job
	job.Source = src
	res, mode := job.Plan(r.Name, naming.Snake(r.Name), connectors.Defaults{Disposition: r.Disposition, PrimaryKey: r.PrimaryKey})
	selected := c.job.Selected(r.Name)
	if selected {
		connectors.LogMode(out, r.Name, mode)
	}
	sp := &spool{dir: filepath.Join(c.job.ProjectRoot, ".dango", "spool"), batchBytes: c.batchBytes, emit: func(s *batch.Scan) error {
		if !selected {
			return nil
		}
		cols, err := file.Describe(ctx, s)
		if err != nil {
			return err
		}
		s.Columns = cols
		return out.Emit(ctx, batch.Batch{Table: res.Table, Resource: res, ExtractedAt: time.Now().UTC(), Scan: s})
	}}
	defer sp.discard()
	_, keep := parents[r.Name]
	var total int64
	var bytes int64
	fetch := func(path string) error {
		params := url.Values{}
		for k, v := range r.Params {
			v = strings.ReplaceAll(v, "{incremental.start_value}", mode.From)
			v = strings.ReplaceAll(v, "{incremental.initial_value}", mode.From)
			if strings.Contains(r.Params[k], "{incremental.") && mode.From == "" {
				continue // first sync without an initial value: fetch everything
			}
			params.Set(k, v)
		}
		next := c.base + "/" + strings.TrimLeft(path, "/")
		pg := newPaginator(r.Paginator)
		for next != "" {
			resp, err := c.client.Get(ctx, next, params)
			if err != nil {
				return err
			}
			raw, err := selectRaw(resp.Body, r.DataSelector)
			if err != nil {
				return fmt.Errorf("GET %s: %w", resp.URL.Path, err)
			}
			for _, rec := range raw {
				if err := sp.writeRaw(rec); err != nil {
					return err
				}
			}
			// Decode records only where something needs their fields: children's paths, and
			// the last record for id-based pagination.
			var records []map[string]any
			if keep {
				if records, err = decodeAll(raw); err != nil {
					return err
				}
				parents[r.Name] = append(parents[r.Name], records...)
			} else if len(raw) > 0 {
				last, err := decodeAll(raw[len(raw)-1:])
				if err != nil {
					return err
				}
				records = make([]map[string]any, len(raw))
				records[len(raw)-1] = last[0]
			}
			total += int64(len(records))
			bytes += int64(len(resp.Body))
			out.Progress(total, bytes)
			next, params = pg.next(resp, records, next, params)
		}
		return nil
	}
	if r.Parent != "" {
		for _, parent := range parents[r.Parent] {
			path := placeholderRE.ReplaceAllStringFunc(r.Path, func(m string) string {
				return url.PathEscape(str(lookup(parent, m[1:len(m)-1])))
			})
			if err := fetch(path); err != nil {
				return err
			}
		}
	} else if err := fetch(r.Path); err != nil {
		return err
	}
	if selected {
		out.Logf("Loaded %s %s", humanize.Thousands(total), r.Name)
	}
	return sp.flush()
}

// selectRaw returns the records of a reply as raw JSON, without decoding them: the list at
// data_selector (a dotted path such as "data" or "result.items"); without one, the reply
// itself when it is a list, else the first list under data, results, items, records or
// values. Scalars are wrapped as {"value": …}. It walks the reply once with the decoder's
// token stream, so a page is scanned one time however deep its records sit.
func selectRaw(body []byte, selector string) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var path []string
	if selector != "" && selector != "$" {
		path = strings.Split(selector, ".")
	}
	malformed := func(err error) error { return fmt.Errorf("malformed JSON in the reply: %v", err) }
	// descend follows path; with no path it looks for a known list key in an object root.
	for depth := 0; ; depth++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed(err)
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '[' {
				if depth < len(path) {
					return nil, fmt.Errorf("data_selector %q does not match the reply", selector)
				}
				return readList(dec, malformed)
			}
			if t != '{' {
				return nil, malformed(fmt.Errorf("unexpected %v", t))
			}
			if depth == len(path) && len(path) > 0 { // the selector names an object: one record
				var rest json.RawMessage
				obj, err := objectRest(dec)
				if err != nil {
					return nil, malformed(err)
				}
				rest = obj
				return []json.RawMessage{rest}, nil
			}
			// find the key to descend into
			found := false
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, malformed(err)
				}
				key, _ := kt.(string)
				want := depth < len(path) && key == path[depth]
				if len(path) == 0 {
					switch key {
					case "data", "results", "items", "records", "values":
						// take it only if it is a list
						var v json.RawMessage
						if err := dec.Decode(&v); err != nil {
							return nil, malformed(err)
						}
						if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
							var list []json.RawMessage
							if err := json.Unmarshal(t, &list); err != nil {
								return nil, malformed(err)
							}
							return wrapScalars(list), nil
						}
						continue
					}
				}
				if want {
					found = true
					break
				}
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return nil, malformed(err)
				}
			}
			if !found {
				if len(path) == 0 { // an object without a list: the object is the record
					if !json.Valid(body) {
						return nil, malformed(fmt.Errorf("invalid JSON"))
					}
					return []json.RawMessage{body}, nil
				}
				return nil, nil
			}
		default:
			if tok == nil && depth == len(path) {
				return nil, nil // null where the records would be
			}
			return nil, fmt.Errorf("data_selector %q does not lead to records", selector)
		}
	}
}

// readList reads the elements of a list whose '[' was consumed.
func readList(dec *json.Decoder, malformed func(error) error) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for dec.More() {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, malformed(err)
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed(err)
	}
	return wrapScalars(out), nil
}

// objectRest re-reads the rest of an object whose '{' was consumed, as raw JSON.
func objectRest(dec *json.Decoder) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(kt)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func wrapScalars(list []json.RawMessage) []json.RawMessage {
	for i, e := range list {
		if e := bytes.TrimSpace(e); len(e) == 0 || e[0] != '{' {
			list[i] = json.RawMessage(`{"value":` + string(e) + `}`)
		}
	}
	return list
}

func decodeAll(raw []json.RawMessage) ([]map[string]any, error) {
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		if err := dec.Decode(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lookup follows a dotted path into decoded JSON.
func lookup(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
