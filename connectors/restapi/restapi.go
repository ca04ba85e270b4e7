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
)

func init() {
	connectors.Default.Register(connectors.Registration{Spec: Spec, New: func(job connectors.Job) (connectors.Connector, error) {
		return New(job, job.Source.Settings)
	}})
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
	c := &Connector{job: job, base: strings.TrimRight(baseURL(s), "/"), batchBytes: 256 << 20, prefetch: int(s.Int("parallel_pages"))}
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
	client, _ := asMap(s["client"])
	if a, ok := asMap(client["auth"]); ok {
		c.client.Auth = newAuth(a, httpc)
	} else if a, ok := asMap(s["auth"]); ok {
		c.client.Auth = newAuth(a, httpc)
	}
	headers, ok := asMap(client["headers"])
	if !ok {
		headers, ok = asMap(s["headers"])
	}
	if h := headers; ok {
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
	rs, err := buildResources(s)
	if err != nil {
		var ce *config.CheckError
		if errors.As(err, &ce) && ce.Line > 0 {
			return nil, fmt.Errorf("source %s: %s:%d: %s", job.Source.Name, config.SourcesFile, ce.Line, err)
		}
		return nil, fmt.Errorf("source %s: %w", job.Source.Name, err)
	}
	// client.paginator is every resource's default, as in dlt.
	if p, ok := client["paginator"]; ok {
		def, _ := parseResource(map[string]any{"name": "x", "endpoint": map[string]any{"paginator": p}}, 0, 0)
		for i := range rs {
			if rs[i].Paginator == nil {
				rs[i].Paginator = def.Paginator
			}
		}
	}
	for i := range rs {
		if rs[i].AuthConfig != nil {
			rs[i].auth = newAuth(rs[i].AuthConfig, httpc)
			c.client.endpointAuth = append(c.client.endpointAuth, rs[i].auth)
		}
	}
	// sources.yml's per-resource overrides must name a resource: a misspelt name would do nothing.
	names := map[string]bool{}
	var list []string
	for _, r := range rs {
		names[r.Name] = true
		list = append(list, r.Name)
	}
	for name, rc := range job.Source.Resources {
		if !names[name] {
			return nil, fmt.Errorf("source %s: %s:%d: resources.%s: no resource of this source is named %q (its resources: %s)", job.Source.Name, config.SourcesFile, rc.Line, name, name, strings.Join(list, ", "))
		}
	}
	c.resources = rs
	return c, nil
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// Resources names the source's resources that load (not those with selected: false, which
// are fetched only for the resources that depend on them).
func (c *Connector) Resources() []string {
	var out []string
	for _, r := range c.resources {
		if r.Selected {
			out = append(out, r.Name)
		}
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
		if (!c.job.Selected(r.Name) || !r.Selected) && !needed {
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
	res, mode := job.Plan(r.Name, r.Table, connectors.Defaults{Disposition: r.Disposition, PrimaryKey: r.PrimaryKey})
	selected := c.job.Selected(r.Name) && r.Selected
	if selected {
		connectors.LogMode(out, r.Name, mode)
	}
	sp := &spool{dir: filepath.Join(c.job.ProjectRoot, ".dango", "spool"), batchBytes: c.batchBytes, emit: func(s *batch.Scan, shape *jsonshape.Shape) error {
		if !selected {
			return nil
		}
		if r.MaxNesting != nil {
			shape.MaxNesting = jsonshape.Nesting(*r.MaxNesting)
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
	// fetch makes the resource's requests with vals filling the placeholders (the parent
	// record's fields, the incremental values); include is added to every record.
	fetch := func(vals map[string]any, include []byte) error {
		vals["incremental.start_value"] = mode.From
		vals["incremental.initial_value"] = mode.From
		vals["incremental.last_value"] = mode.From
		vals["incremental.end_value"] = r.EndValue
		plain := map[string]any{}
		for k, v := range r.Params {
			if t, ok := v.(string); ok && strings.Contains(t, "{incremental.") && mode.From == "" {
				continue // first sync without an initial value: fetch everything
			}
			plain[k] = v
		}
		params := queryValues(plain, vals)
		if r.StartParam != "" && mode.From != "" {
			params.Set(r.StartParam, mode.From)
		}
		if r.EndParam != "" && r.EndValue != "" {
			params.Set(r.EndParam, r.EndValue)
		}
		rq := &Request{Method: r.Method, Actions: r.Actions, Auth: r.auth}
		if r.JSON != nil {
			body, err := json.Marshal(expandJSON(r.JSON, vals))
			if err != nil {
				return fmt.Errorf("endpoint.json: %w", err)
			}
			rq.Body = body
		}
		switch d := r.Data.(type) {
		case map[string]any: // form fields, as requests encodes a dict
			rq.Body, rq.ContentType = []byte(queryValues(d, vals).Encode()), "application/x-www-form-urlencoded"
		case nil:
		default:
			rq.Body, rq.ContentType = []byte(expand(placeholderText(d), vals, nil)), "-"
		}
		if len(r.Headers) > 0 {
			rq.Headers = map[string]string{}
			for k, v := range r.Headers {
				rq.Headers[k] = expand(v, vals, nil)
				if config.SecretKey(k) { // an Authorization header is a credential: never printed
					config.RegisterSecret(rq.Headers[k])
				}
			}
		}
		path := expand(r.Path, vals, url.PathEscape)
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
			if include != nil {
				withParentFields(p, include, c.maxDepth)
			}
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
			rq.URL, rq.Params = next, params
			if err := c.prefetchPages(ctx, rq, pg, fsel, handle, out); err != nil {
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
			rq.URL, rq.Params = next, params
			resp, err := c.client.Do(ctx, rq)
			if err != nil {
				return err
			}
			if resp.Ignored {
				logIgnored(out, rq, resp)
				return nil
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
			vals, include, err := r.parentValues(parent)
			if err != nil {
				return err
			}
			if err := fetch(vals, include); err != nil {
				return err
			}
		}
	} else if err := fetch(map[string]any{}, nil); err != nil {
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
func (c *Connector) prefetchPages(ctx context.Context, rq *Request, pg *paginator, sel *jpath,
	handle func(*page) (*pageInfo, error), out connectors.Emitter) error {
	params := rq.Params
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
			req := *rq
			req.Params = np
			resp, err := c.client.Do(ctx, &req)
			if err != nil {
				ch <- result{err: err}
				return
			}
			if resp.Ignored {
				logIgnored(out, &req, resp)
				ch <- result{}
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
		if res.page == nil { // ignored by a response action: the pages end here
			return nil
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
