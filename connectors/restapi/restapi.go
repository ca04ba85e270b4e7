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
	"errors"
	"fmt"
	"hash/maphash"
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
	"github.com/dangohq/dango/jsonshape"
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
		{Name: "parallel_pages", Kind: config.Int, Default: int64(4), Doc: "With page_number or offset pagination, pages requested ahead (processed in order; the rate limit still holds). 1 turns it off."},
		{Name: "allow_cross_host", Kind: config.Bool, Default: false, Doc: "Follow next-page links and redirects to another host (scheme, host and port than base_url's) without any credentials or configured headers. Off: such a link or redirect fails the resource."},
		{Name: "max_response_size", Kind: config.String, Default: "100MB", Doc: "Largest reply accepted (refused while reading, so memory stays bounded)."},
		{Name: "max_json_depth", Kind: config.Int, Default: int64(jsonshape.DefaultMaxDepth), Doc: "Deepest nesting of objects and lists accepted in a reply."},
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
	prefetch   int // pages requested ahead when pages are numbered
	maxDepth   int // max_json_depth
}

// New builds the connector from settings (also used by the Stripe and Sheets types).
func New(job connectors.Job, s config.Values) (*Connector, error) {
	// One spool file per 256 MB of records: each file costs a schema sniff and a statement,
	// so fewer, larger batches load faster (measured 4 × 50,000 records → 1 × 200,000).
	c := &Connector{job: job, base: strings.TrimRight(s.String("base_url"), "/"), batchBytes: 256 << 20, prefetch: int(s.Int("parallel_pages"))}
	timeout, err := time.ParseDuration(s.String("timeout"))
	if err != nil {
		return nil, fmt.Errorf("source %s: timeout %q: %w", job.Source.Name, s.String("timeout"), err)
	}
	maxRetry, err := time.ParseDuration(s.String("max_retry_time"))
	if err != nil {
		return nil, fmt.Errorf("source %s: max_retry_time %q: %w", job.Source.Name, s.String("max_retry_time"), err)
	}
	base, err := url.Parse(c.base)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("source %s: base_url %q is not an absolute http(s) URL", job.Source.Name, c.base)
	}
	maxSize := int64(DefaultMaxResponseSize)
	if v := s.String("max_response_size"); v != "" {
		if maxSize, err = humanize.ParseBytes(v); err != nil {
			return nil, fmt.Errorf("source %s: max_response_size: %w", job.Source.Name, err)
		}
	}
	c.maxDepth = int(s.Int("max_json_depth"))
	if c.maxDepth <= 0 {
		c.maxDepth = jsonshape.DefaultMaxDepth
	}
	httpc := &http.Client{Timeout: timeout, Transport: Transport(c.prefetch)}
	c.client = &Client{HTTP: httpc, Auth: noAuth{}, Headers: map[string]string{}, MaxElapsed: maxRetry,
		Base: base, AllowCrossHost: s.Bool("allow_cross_host"), Source: job.Source.Name, MaxResponseSize: maxSize, Timeout: timeout}
	if a := s.Object("auth"); a != nil {
		switch a.String("type") {
		case "bearer":
			c.client.Auth = bearerAuth{token: a.String("token")}
		case "api_key":
			c.client.Auth = apiKeyAuth{name: a.String("name"), value: a.String("api_key"), location: a.String("location")}
		case "basic":
			c.client.Auth = basicAuth{user: a.String("username"), password: a.String("password")}
		case "oauth2_client_credentials":
			c.client.Auth = &oauth2Auth{tokenURL: a.String("token_url"), clientID: a.String("client_id"), secret: a.String("client_secret"), scope: a.String("scope"), http: TokenClient(httpc)}
		}
	}
	if h, ok := s["headers"].(map[string]any); ok {
		// Variables expanded into headers hold credentials (Authorization: Bearer ${TOKEN}):
		// each value is registered for redaction, as a header named like a secret is whole.
		expand := func(name string) string {
			v := os.Getenv(name)
			config.RegisterSecret(v)
			return v
		}
		for k, v := range h {
			c.client.Headers[k] = os.Expand(fmt.Sprint(v), expand)
			if config.SecretKey(k) {
				config.RegisterSecret(c.client.Headers[k])
			}
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
			var cross *CrossHostError
			if errors.As(err, &cross) {
				cross.Resource = r.Name // it names source and resource itself
				return err
			}
			return fmt.Errorf("%s: %w", r.Name, err)
		}
	}
	return nil
}

// errOneBased is a detected page_number pagination meeting an API that counts pages from 1.
var errOneBased = errors.New("pages count from 1")

// pageSeed hashes page records to notice a page repeating.
var pageSeed = maphash.MakeSeed()

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
	sp := &spool{dir: filepath.Join(c.job.ProjectRoot, ".dango", "spool"), batchBytes: c.batchBytes, emit: func(s *batch.Scan, shape *jsonshape.Shape) error {
		if !selected {
			return nil
		}
		cols, err := file.DescribeShaped(ctx, s, shape)
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
	// Records are found where data_selector says (a JSONPath, as in dlt); unset, a path
	// ending in a {placeholder} is one object ("$", as dlt takes it), anything else is
	// detected from each fetch's first reply and kept for its later pages.
	var sel *jpath
	if r.DataSelector != "" {
		var err error
		if sel, err = compilePath(r.DataSelector); err != nil {
			return fmt.Errorf("data_selector: %w", err)
		}
	} else if singleEntityPath(r.Path) {
		sel = &jpath{src: "$"}
	}
	pagCfg := r.Paginator
	if pagCfg == nil && singleEntityPath(r.Path) {
		pagCfg = map[string]any{"type": "single_page"}
	}
	if _, err := newPaginator(pagCfg); err != nil {
		return err
	}
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
		pg, err := newPaginator(pagCfg)
		if err != nil {
			return err
		}
		pg.start(params)
		fsel := sel
		// handle spools one page's records and returns what the paginator reads of them.
		// A page whose content equals the one before means the API ignores the paginator's
		// parameter (or clamps it at the last page): it would never end.
		var lastSum uint64
		var lastResp *Response
		lastURL := func() string {
			if lastResp == nil {
				return ""
			}
			return c.client.redact(lastResp.URL.String())
		}
		handle := func(p *page) (*pageInfo, error) {
			raw := p.raw
			fsel = p.sel
			lastResp = p.resp
			if len(raw) > 0 {
				// The records, not the whole body: a reply may carry a timestamp or request id.
				var h maphash.Hash
				h.SetSeed(pageSeed)
				for _, rec := range raw {
					h.Write(rec)
					h.WriteByte(0)
				}
				sum := h.Sum64()
				if sum == lastSum {
					if pg.detected && pg.kind == "page_number" && pg.pages == 1 {
						// dlt's detected page numbers start at 0 with a first request without
						// one; an API counting from 1 answers page=1 with the first page again.
						return nil, errOneBased
					}
					return nil, fmt.Errorf("the API returned the same page twice (GET %s had the records of the page before); it seems to ignore the paginator's parameters; stopping to avoid a loop",
						c.client.redact(p.resp.URL.RequestURI()))
				}
				lastSum = sum
			}
			if err := sp.writePage(raw, p.shape); err != nil {
				return nil, err
			}
			pi := &pageInfo{resp: p.resp, url: c.client.redact, n: len(raw), depth: c.maxDepth, root: p.root, parsed: p.root != nil}
			// Decode records only where something needs their fields: children's paths, and
			// the last record for id-based pagination.
			if keep {
				records, err := decodeAll(raw)
				if err != nil {
					return nil, err
				}
				parents[r.Name] = append(parents[r.Name], records...)
			}
			if len(raw) > 0 {
				last, err := decodeAll(raw[len(raw)-1:])
				if err != nil {
					return nil, err
				}
				pi.last = last[0]
			}
			total += int64(len(raw))
			bytes += int64(len(p.resp.Body))
			out.Progress(total, bytes)
			return pi, nil
		}
		if pg.prefetchable() && c.prefetch > 1 {
			if err := c.prefetchPages(ctx, next, params, pg, fsel, handle); err != nil {
				return err
			}
			return pg.finish(lastURL())
		}
		seen := map[string]bool{}
		for {
			// The same next URL, cursor, id or page twice would repeat forever.
			key := next + "\x00" + params.Encode()
			if seen[key] {
				u := next
				if len(params) > 0 {
					u += "?" + params.Encode()
				}
				return fmt.Errorf("the API returned the same next page %s twice; stopping to avoid a loop", c.client.redact(u))
			}
			seen[key] = true
			resp, err := c.client.Get(ctx, next, params)
			if err != nil {
				return err
			}
			p, err := c.preparePage(resp, fsel)
			if err != nil {
				return err
			}
			pi, err := handle(p)
			if errors.Is(err, errOneBased) {
				out.Logf("%s: pages count from 1 (page=1 repeats the first page): skipping the repeat and going on from page 2", r.Name)
				if !pg.rebaseOne() {
					return pg.finish(lastURL())
				}
				next, params = pg.next(resp.URL, next, params)
				continue
			}
			if err != nil {
				return err
			}
			if err := pg.update(pi); err != nil {
				return err
			}
			if !pg.more() {
				return pg.finish(lastURL())
			}
			next, params = pg.next(resp.URL, next, params)
			if next == "" {
				return fmt.Errorf("the next page link %q from GET %s is not a URL", c.client.redact(pg.nextRef), lastURL())
			}
		}
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
		out.Logf("Fetched %s %s", humanize.Thousands(total), r.Name)
	}
	return sp.flush()
}

// page is a reply with its records found and their shape observed.
type page struct {
	resp  *Response
	raw   []json.RawMessage
	shape *jsonshape.Shape
	sel   *jpath // the selector used (detected on a fetch's first page)
	root  *node  // the reply's skeleton, when detection read it
}

// singleEntityPath is dlt's test for an endpoint returning one object: its last path
// segment holds a {placeholder}.
func singleEntityPath(p string) bool {
	seg := p
	if i := strings.LastIndexByte(strings.TrimRight(p, "/"), '/'); i >= 0 {
		seg = strings.TrimRight(p, "/")[i+1:]
	}
	return singleEntityRE.MatchString(seg)
}

var singleEntityRE = regexp.MustCompile(`\{([a-zA-Z0-9.\-_]+)\}`)

// preparePage finds a reply's records and observes their shape: the work on a page that
// does not depend on the pages before it, done as it arrives. With sel nil the records are
// found as dlt finds them (detectSelector).
func (c *Connector) preparePage(resp *Response, sel *jpath) (*page, error) {
	u := func() string { return c.client.redact(resp.URL.String()) }
	resp.Body = bytes.TrimPrefix(resp.Body, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark, as Python's requests reads it
	body := bytes.TrimLeft(resp.Body, " \t\r\n")
	if len(body) == 0 || !strings.ContainsRune(`{["-0123456789tfn`, rune(body[0])) {
		return nil, notJSON(resp, u(), errors.New("no JSON value at its start"))
	}
	pg := &page{resp: resp, sel: sel}
	if sel == nil {
		root, err := parseNode(resp.Body, c.maxDepth)
		if err != nil {
			var de *jsonshape.DepthError
			if errors.As(err, &de) {
				return nil, fmt.Errorf("GET %s: the reply nests JSON deeper than %d levels (max_json_depth); refusing it", c.client.redact(resp.URL.RequestURI()), de.Limit)
			}
			return nil, fmt.Errorf("GET %s: malformed JSON in the reply: %w", u(), err)
		}
		pg.root, pg.sel = root, detectSelector(root)
	}
	sh := &jsonshape.Shape{MaxDepth: c.maxDepth}
	raw, err := selectShaped(resp.Body, pg.sel, sh)
	if err != nil {
		var miss *SelectorMissError
		if errors.As(err, &miss) {
			return nil, fmt.Errorf("GET %s: %w", u(), err)
		}
		return nil, fmt.Errorf("GET %s: %w", c.client.redact(resp.URL.RequestURI()), err)
	}
	if sh.Records() != len(raw) {
		// Records that were not walked on the way (a single object reply, wrapped scalars).
		sh = &jsonshape.Shape{MaxDepth: c.maxDepth}
		for _, rec := range raw {
			sh.Observe(rec)
		}
	}
	pg.raw, pg.shape = raw, sh
	return pg, nil
}

// prefetchPages fetches offset or page_number pages up to c.prefetch ahead, preparing each
// as it arrives and handing them to the paginator strictly in order, so it stops exactly
// where a page-by-page fetch stops. Requests no reply so far makes pointless (at or past a
// reported total or the maximum) are never made; those past the stop are cancelled or
// ignored.
func (c *Connector) prefetchPages(ctx context.Context, u string, params url.Values, pg *paginator, sel *jpath,
	handle func(*page) (*pageInfo, error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		page *page
		err  error
	}
	inflight := map[int]chan result{}
	launched := map[int]bool{}
	launch := func(i int, sel *jpath) {
		ch := make(chan result, 1)
		inflight[i], launched[i] = ch, true
		np := clone(params)
		pg.setRange(np, pg.rangeValue(i))
		go func() {
			resp, err := c.client.Get(ctx, u, np)
			if err != nil {
				ch <- result{err: err}
				return
			}
			p, err := c.preparePage(resp, sel)
			ch <- result{p, err}
		}()
	}
	// The first page alone, so a bad key or a wrong path costs one request (and the
	// records' place is known); then fan out.
	for i := 0; ; i++ {
		if !launched[i] {
			launch(i, sel)
		}
		res := <-inflight[i]
		delete(inflight, i)
		if res.err != nil {
			return res.err
		}
		sel = res.page.sel
		pi, err := handle(res.page)
		if err != nil {
			return err
		}
		if err := pg.update(pi); err != nil {
			return err
		}
		if !pg.more() {
			return nil
		}
		for j := i + 1; j <= i+c.prefetch; j++ {
			if !launched[j] && pg.worthRequesting(pg.rangeValue(j)) {
				launch(j, sel)
			}
		}
	}
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
	if path == "" {
		return nil
	}
	parts := strings.Split(path, ".")
	for _, p := range parts {
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
