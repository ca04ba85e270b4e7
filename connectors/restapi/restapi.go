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

// pageSeed hashes page bodies to notice a page repeating.
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
		pg := newPaginator(r.Paginator)
		// handle spools one page's records and returns those a paginator may look at.
		// A page whose content equals the one before means the API ignores the paginator's
		// parameter (or clamps it at the last page): it would never end.
		var lastSum uint64
		handle := func(p *page) ([]map[string]any, error) {
			if include != nil {
				withParentFields(p, include, c.maxDepth)
			}
			raw := p.raw
			if len(raw) > 0 {
				sum := maphash.Bytes(pageSeed, p.resp.Body)
				if sum == lastSum {
					return nil, fmt.Errorf("the API returned the same page twice (GET %s had the content of the page before); it seems to ignore the paginator's parameters, stopping to avoid a loop",
						c.client.redact(p.resp.URL.RequestURI()))
				}
				lastSum = sum
			}
			if err := sp.writePage(raw, p.shape); err != nil {
				return nil, err
			}
			// Decode records only where something needs their fields: children's paths, and
			// the last record for id-based pagination.
			var records []map[string]any
			if keep {
				var err error
				if records, err = decodeAll(raw); err != nil {
					return nil, err
				}
				parents[r.Name] = append(parents[r.Name], records...)
			} else if len(raw) > 0 {
				last, err := decodeAll(raw[len(raw)-1:])
				if err != nil {
					return nil, err
				}
				records = make([]map[string]any, len(raw))
				records[len(raw)-1] = last[0]
			}
			total += int64(len(raw))
			bytes += int64(len(p.resp.Body))
			out.Progress(total, bytes)
			return records, nil
		}
		if step, ok := pg.numbered(); ok && c.prefetch > 1 {
			rq.URL, rq.Params = next, params
			return c.prefetchPages(ctx, rq, step, r.DataSelector, handle, out)
		}
		seen := map[string]bool{}
		for next != "" {
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
			p, err := preparePage(resp, r.DataSelector, c.maxDepth)
			if err != nil {
				return err
			}
			records, err := handle(p)
			if err != nil {
				return err
			}
			next, params = pg.next(resp, records, next, params)
		}
		return nil
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
		out.Logf("Loaded %s %s", humanize.Thousands(total), r.Name)
	}
	return sp.flush()
}

// page is a reply with its records found and their shape observed.
type page struct {
	resp  *Response
	raw   []json.RawMessage
	shape *jsonshape.Shape
}

// preparePage finds a reply's records and observes their shape: the work on a page that
// does not depend on the pages before it, done as it arrives.
func preparePage(resp *Response, selector string, maxDepth int) (*page, error) {
	sh := &jsonshape.Shape{MaxDepth: maxDepth}
	raw, err := selectShaped(resp.Body, selector, sh)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", resp.URL.Path, err)
	}
	if sh.Records() != len(raw) {
		// Records that were not walked on the way (a single object reply, wrapped scalars).
		sh = &jsonshape.Shape{MaxDepth: maxDepth}
		for _, rec := range raw {
			sh.Observe(rec)
		}
	}
	return &page{resp: resp, raw: raw, shape: sh}, nil
}

// prefetchPages fetches numbered pages (page numbers or offsets, step apart) up to c.prefetch
// ahead, preparing each as it arrives and handling them strictly in order, and stops at the
// first page without records. Requests past the end are cancelled or ignored.
func (c *Connector) prefetchPages(ctx context.Context, rq *Request, step numbered, selector string,
	handle func(*page) ([]map[string]any, error), out connectors.Emitter) error {
	params := rq.Params
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		page *page
		err  error
	}
	inflight := map[int]chan result{}
	launch := func(i int) {
		ch := make(chan result, 1)
		inflight[i] = ch
		np := clone(params)
		for k, v := range step.params(i) {
			np.Set(k, v)
		}
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
			p, err := preparePage(resp, selector, c.maxDepth)
			ch <- result{p, err}
		}()
	}
	// The first page alone, so a bad key or a wrong path costs one request; then fan out.
	launch(0)
	for i := 0; ; i++ {
		res := <-inflight[i]
		delete(inflight, i)
		if res.err != nil {
			return res.err
		}
		if res.page == nil { // ignored by a response action: the pages end here
			return nil
		}
		records, err := handle(res.page)
		if err != nil {
			return err
		}
		if len(records) == 0 || (step.limit > 0 && len(records) < step.limit) {
			return nil
		}
		if i == 0 {
			for j := 1; j <= c.prefetch; j++ {
				launch(j)
			}
		} else {
			launch(i + c.prefetch)
		}
	}
}

// selectShaped returns the records of a reply as raw JSON, without decoding them: the list at
// data_selector (a dotted path such as "data" or "result.items"); without one, the reply
// itself when it is a list, else the first list under data, results, items, records or
// values. Scalars are wrapped as {"value": …}.
//
// It only finds where each record starts and ends (a structural scan, ~10× faster than
// encoding/json); DuckDB validates the records when it loads the spooled file, and a reply
// that is not even structurally JSON fails here. The records of a list are also added to
// shape (when not nil), each walked once.
func selectShaped(body []byte, selector string, shape *jsonshape.Shape) ([]json.RawMessage, error) {
	sc := &jscan{b: body, shape: shape, maxDepth: jsonshape.DefaultMaxDepth}
	if shape != nil && shape.MaxDepth > 0 {
		sc.maxDepth = shape.MaxDepth
	}
	raw, err := sc.selectRecords(selector)
	var de *jsonshape.DepthError
	if errors.As(err, &de) {
		return nil, fmt.Errorf("the reply nests JSON deeper than %d levels (max_json_depth); refusing it", de.Limit)
	}
	return raw, err
}

func (sc *jscan) selectRecords(selector string) ([]json.RawMessage, error) {
	body := sc.b
	var path []string
	if selector != "" && selector != "$" {
		path = strings.Split(selector, ".")
	}
	for _, part := range path {
		found, err := sc.enterKey(part)
		if err != nil {
			return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
		}
		if !found {
			return nil, nil
		}
	}
	sc.ws()
	if len(path) == 0 && sc.peek() == '{' {
		start := sc.i
		for _, k := range []string{"data", "results", "items", "records", "values"} {
			sc.i = start
			found, err := sc.enterKey(k)
			if err != nil {
				return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
			}
			if sc.ws(); found && sc.peek() == '[' {
				return sc.list()
			}
		}
		sc.i = start
		a, b, err := sc.value()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
		}
		return []json.RawMessage{body[a:b]}, nil
	}
	switch sc.peek() {
	case '[':
		return sc.list()
	case '{':
		a, b, err := sc.value()
		if err != nil {
			return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
		}
		return []json.RawMessage{body[a:b]}, nil
	case 'n':
		return nil, nil
	}
	return nil, fmt.Errorf("data_selector %q does not lead to records", selector)
}

// jscan walks JSON structure without decoding values.
type jscan struct {
	b        []byte
	i        int
	shape    *jsonshape.Shape // observes list elements, when set
	maxDepth int
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// value skips one value and returns its span.
func (s *jscan) value() (int, int, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return 0, 0, errors.New("unexpected end")
	}
	switch c := s.b[s.i]; c {
	case '"':
		return start, s.i, s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if err := s.str(); err != nil {
					return 0, 0, err
				}
				continue
			case '{', '[':
				if depth++; depth > s.maxDepth {
					return 0, 0, &jsonshape.DepthError{Limit: s.maxDepth}
				}
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return start, s.i, nil
				}
			}
			s.i++
		}
		return 0, 0, errors.New("unexpected end inside " + string(c))
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return 0, 0, fmt.Errorf("unexpected %q", s.b[s.i])
				}
				return start, s.i, nil
			}
			s.i++
		}
		return start, s.i, nil
	}
}

// str skips a string starting at s.i; s.i ends after its closing quote.
func (s *jscan) str() error {
	s.i++
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return nil
		}
		s.i++
	}
	return errors.New("unterminated string")
}

// enterKey moves into the value of key in the object at s.i, reporting whether it exists.
func (s *jscan) enterKey(key string) (bool, error) {
	s.ws()
	if s.peek() != '{' {
		return false, nil
	}
	s.i++
	for {
		s.ws()
		switch s.peek() {
		case '}':
			s.i++
			return false, nil
		case ',':
			s.i++
			continue
		case '"':
		default:
			return false, fmt.Errorf("unexpected %q in an object", s.peek())
		}
		a, b, err := s.value()
		if err != nil {
			return false, err
		}
		var k string
		if err := json.Unmarshal(s.b[a:b], &k); err != nil {
			return false, err
		}
		s.ws()
		if s.peek() != ':' {
			return false, errors.New("expected ':' after a key")
		}
		s.i++
		s.ws()
		if k == key {
			return true, nil
		}
		if _, _, err := s.value(); err != nil {
			return false, err
		}
	}
}

// list returns the elements of the list at s.i.
func (s *jscan) list() ([]json.RawMessage, error) {
	s.i++ // [
	var out []json.RawMessage
	for {
		s.ws()
		switch s.peek() {
		case ']':
			s.i++
			return wrapScalars(out), nil
		case ',':
			s.i++
			continue
		case 0:
			return nil, errors.New("malformed JSON in the reply: unexpected end of a list")
		}
		var a, b int
		var err error
		if s.shape != nil && s.peek() == '{' {
			a = s.i
			b, err = s.shape.ObserveAt(s.b, s.i)
			s.i = b
		} else {
			a, b, err = s.value()
		}
		if err != nil {
			return nil, fmt.Errorf("malformed JSON in the reply: %w", err)
		}
		out = append(out, s.b[a:b])
	}
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

// lookup follows a dotted path into decoded JSON (or a lazily decoded reply).
func lookup(v any, path string) any {
	if path == "" {
		return nil
	}
	parts := strings.Split(path, ".")
	if b, ok := v.(lazyBody); ok {
		v, parts = b.field(parts[0]), parts[1:]
	}
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
