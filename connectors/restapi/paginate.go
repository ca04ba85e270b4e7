package restapi

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/dangohq/dango/humanize"
)

// Paginators follow dlt's rest_api: the same type names, field names, defaults and stop
// conditions (dlt/sources/helpers/rest_client/paginators.py), detection from the first reply
// as dlt's detector does it, plus dango's last_id (Stripe's has_more + starting_after). Where
// dlt would end quietly with part of the data — a reported total not reached, a next-page
// field the configuration does not find, a reply that is not JSON — the resource fails and
// says why.

// PaginatorKeys lists every paginator type (dlt's names, then dango's older aliases) with
// the keys it takes besides type, for configuration checks and the documentation.
var PaginatorKeys = map[string][]string{
	"auto":          {},
	"single_page":   {},
	"json_link":     {"next_url_path", "total_path"},
	"header_link":   {"links_next_key", "total_path"},
	"header_cursor": {"cursor_key", "cursor_param", "total_path"},
	"cursor":        {"cursor_path", "cursor_param", "cursor_body_path", "stop_after_empty_page", "has_more_path", "total_path"},
	"offset":        {"limit", "offset", "offset_param", "limit_param", "total_path", "maximum_offset", "stop_after_empty_page", "has_more_path", "offset_body_path", "limit_body_path"},
	"page_number":   {"base_page", "page", "page_param", "total_path", "maximum_page", "stop_after_empty_page", "has_more_path", "page_body_path", "initial_page", "total_pages_path"},
	"last_id":       {"param", "id_field", "has_more_path", "total_path"},
}

// ValidatePaginator checks a paginator configuration (the mapping under paginator:, or
// {type: <name>} for a bare name) as the engine will read it: known type, known keys, values
// of the right kinds, something that ends the pagination.
func ValidatePaginator(cfg map[string]any) error {
	_, err := newPaginator(cfg)
	return err
}

// paginatorAliases maps dango's older type names (and dlt's deprecated json_response) to
// dlt's.
var paginatorAliases = map[string]string{
	"next_url": "json_link", "json_response": "json_link", "link_header": "header_link", "none": "single_page",
	"page": "page_number", "json_cursor": "cursor", "has_more": "last_id", "": "auto",
}

// paginator is one resource fetch's pagination state.
type paginator struct {
	kind     string // dlt's type name
	detected bool   // kind came from the first reply

	nextURLPath  *jpath // json_link
	linksNextKey string // header_link
	cursorPath   *jpath // cursor
	cursorKey    string // header_cursor
	cursorParam  string // cursor, header_cursor

	// offset and page_number (dlt's RangePaginator)
	param          string
	initial, step  int
	base           int
	current        int
	maximum        *int
	totalPath      *jpath
	stopAfterEmpty bool
	hasMorePath    *jpath
	limitParam     string
	limit          int
	sendFirst      bool // the first request carries the parameters (not when detected)

	// last_id
	lastParam, idField string

	// recordsTotal is a dango check: the path of a total number of records that the
	// records received must reach (offset's total_path; total_path on link and cursor
	// paginators; or a count detected beside a next link).
	recordsTotal *jpath

	hasNext  bool
	nextRef  string // next URL or cursor
	pages    int
	received int
	reported int  // the last total reported, -1 when none
	short    int  // offset: the size of the last pages when they held fewer than limit
	shortRun int  // how many pages in a row held exactly short records
	stopped  bool // ended by its stop condition on an empty page
	emptyAt  int  // the offset or page number that came back empty
}

// newPaginator reads a paginator configuration: dlt's keys with dlt's defaults for what is
// not written. cfg nil means auto-detection.
func newPaginator(cfg map[string]any) (*paginator, error) {
	p := &paginator{kind: "auto", hasNext: true, reported: -1}
	if cfg == nil {
		return p, nil
	}
	typ := str(cfg["type"])
	if _, ok := cfg["type"]; !ok {
		typ = "auto"
	}
	if a, ok := paginatorAliases[typ]; ok {
		typ = a
	}
	keys, ok := PaginatorKeys[typ]
	if !ok {
		return nil, fmt.Errorf("paginator type %q is not known; use one of %s", typ, strings.Join(paginatorTypes(), ", "))
	}
	p.kind = typ
	allowed := map[string]bool{"type": true}
	for _, k := range keys {
		allowed[k] = true
	}
	for k := range cfg {
		if !allowed[k] {
			if len(keys) == 0 {
				return nil, fmt.Errorf("paginator %s takes no keys besides type, got %q", typ, k)
			}
			return nil, fmt.Errorf("paginator %s has no key %q; its keys are %s", typ, k, strings.Join(keys, ", "))
		}
	}
	for _, k := range []string{"cursor_body_path", "offset_body_path", "limit_body_path", "page_body_path"} {
		if _, ok := cfg[k]; ok {
			return nil, fmt.Errorf("paginator %s: %s puts the value into a JSON request body, which dango does not do yet (the body is sent as written on every page); use the matching _param key", typ, k)
		}
	}
	var err error
	text := func(k, def string) string {
		if v, ok := cfg[k]; ok && v != nil {
			return str(v)
		}
		return def
	}
	// path is a JSONPath key: absent → def; null or "" → none (as dlt's `if total_path`).
	path := func(k, def string) (*jpath, error) {
		v, ok := cfg[k]
		if !ok {
			if def == "" {
				return nil, nil
			}
			return compilePath(def)
		}
		if v == nil || str(v) == "" {
			return nil, nil
		}
		jp, err := compilePath(str(v))
		if err != nil {
			return nil, fmt.Errorf("paginator %s: %s: %w", typ, k, err)
		}
		return jp, nil
	}
	integer := func(k string) (*int, error) {
		v, ok := cfg[k]
		if !ok || v == nil {
			return nil, nil
		}
		n, err := toInt(v)
		if err != nil {
			return nil, fmt.Errorf("paginator %s: %s must be an integer, got %v", typ, k, v)
		}
		return &n, nil
	}
	boolean := func(k string, def bool) (bool, error) {
		v, ok := cfg[k]
		if !ok || v == nil {
			return def, nil
		}
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			return str2bool(b)
		}
		return false, fmt.Errorf("paginator %s: %s must be true or false, got %v", typ, k, v)
	}
	switch typ {
	case "json_link":
		if p.nextURLPath, err = path("next_url_path", "next"); err != nil {
			return nil, err
		}
		if p.nextURLPath == nil {
			return nil, fmt.Errorf("paginator json_link: next_url_path must name where the next page's URL is")
		}
	case "header_link":
		p.linksNextKey = text("links_next_key", "next")
	case "header_cursor":
		p.cursorKey, p.cursorParam = text("cursor_key", "next"), text("cursor_param", "cursor")
	case "cursor":
		if p.cursorPath, err = path("cursor_path", "cursors.next"); err != nil {
			return nil, err
		}
		if p.cursorPath == nil {
			return nil, fmt.Errorf("paginator cursor: cursor_path must name where the next cursor is")
		}
		p.cursorParam = text("cursor_param", "cursor")
		if p.stopAfterEmpty, err = boolean("stop_after_empty_page", false); err != nil {
			return nil, err
		}
		if p.hasMorePath, err = path("has_more_path", ""); err != nil {
			return nil, err
		}
	case "offset":
		l, err := integer("limit")
		if err != nil {
			return nil, err
		}
		if l == nil || *l <= 0 {
			return nil, fmt.Errorf("paginator offset needs limit: the number of records per request (a positive integer)")
		}
		p.limit, p.step = *l, *l
		off, err := integer("offset")
		if err != nil {
			return nil, err
		}
		if off != nil {
			p.initial = *off
		}
		p.param, p.limitParam = text("offset_param", "offset"), text("limit_param", "limit")
		if p.maximum, err = integer("maximum_offset"); err != nil {
			return nil, err
		}
		if err := p.rangeCommon(path, boolean); err != nil {
			return nil, err
		}
		p.recordsTotal = p.totalPath
	case "page_number":
		b, err := integer("base_page")
		if err != nil {
			return nil, err
		}
		if b != nil {
			p.base = *b
		}
		p.initial = p.base
		pg, err := integer("page")
		if err != nil {
			return nil, err
		}
		if ip, err := integer("initial_page"); err != nil {
			return nil, err
		} else if pg == nil {
			pg = ip
		}
		if pg != nil {
			p.initial = *pg
		}
		p.step = 1
		p.param = text("page_param", "page")
		if p.maximum, err = integer("maximum_page"); err != nil {
			return nil, err
		}
		if _, ok := cfg["total_path"]; !ok {
			if _, old := cfg["total_pages_path"]; old {
				cfg = copyMap(cfg)
				cfg["total_path"] = cfg["total_pages_path"]
			}
		}
		if err := p.rangeCommon(path, boolean); err != nil {
			return nil, err
		}
	case "last_id":
		p.lastParam, p.idField = text("param", "starting_after"), text("id_field", "id")
		if p.hasMorePath, err = path("has_more_path", "has_more"); err != nil {
			return nil, err
		}
	}
	if typ == "json_link" || typ == "header_link" || typ == "header_cursor" || typ == "cursor" || typ == "last_id" {
		if p.recordsTotal, err = path("total_path", ""); err != nil {
			return nil, err
		}
	}
	p.sendFirst = true
	p.current = p.initial
	return p, nil
}

// rangeCommon reads the keys offset and page_number share, with dlt's check that something
// can end the pagination.
func (p *paginator) rangeCommon(path func(string, string) (*jpath, error), boolean func(string, bool) (bool, error)) error {
	var err error
	if p.totalPath, err = path("total_path", "total"); err != nil {
		return err
	}
	if p.hasMorePath, err = path("has_more_path", ""); err != nil {
		return err
	}
	if p.stopAfterEmpty, err = boolean("stop_after_empty_page", true); err != nil {
		return err
	}
	if p.totalPath == nil && p.maximum == nil && p.hasMorePath == nil && !p.stopAfterEmpty {
		max := "maximum_offset"
		if p.kind == "page_number" {
			max = "maximum_page"
		}
		return fmt.Errorf("paginator %s would never stop: set total_path, %s, has_more_path or stop_after_empty_page: true", p.kind, max)
	}
	return nil
}

func paginatorTypes() []string {
	var out []string
	for k := range PaginatorKeys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// toInt is Python's int() of a configuration or reply value: integers, whole floats
// truncated, integer strings.
func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return 0, fmt.Errorf("not an integer")
		}
		return int(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return strconv.Atoi(strings.TrimSpace(str(v)))
}

func str2bool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "t", "y", "1":
		return true, nil
	case "no", "false", "f", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true/false, yes/no, t/f, y/n, 1/0)", s)
}

// start adds the first request's parameters: offset and page_number send theirs from the
// first request on, as dlt's init_request does.
func (p *paginator) start(params url.Values) {
	if p.sendFirst && (p.kind == "offset" || p.kind == "page_number") {
		p.setRange(params, p.current)
	}
}

func (p *paginator) setRange(params url.Values, value int) {
	params.Set(p.param, strconv.Itoa(value))
	if p.kind == "offset" {
		params.Set(p.limitParam, strconv.Itoa(p.limit))
	}
}

// pageInfo is what a paginator reads from one reply.
type pageInfo struct {
	resp    *Response
	url     func(string) string // redacts a URL for messages
	n       int                 // records on the page
	last    map[string]any
	root    *node
	rootErr error
	parsed  bool
	depth   int
}

// where is the request's URL for messages, secrets redacted.
func (pi *pageInfo) where() string {
	if pi.url == nil {
		return pi.resp.URL.String()
	}
	return pi.url(pi.resp.URL.String())
}

// doc is the reply's skeleton; a reply that is not JSON is an error here.
func (pi *pageInfo) doc() (*node, error) {
	if !pi.parsed {
		pi.parsed = true
		pi.root, pi.rootErr = parseNode(pi.resp.Body, pi.depth)
		if pi.rootErr != nil {
			pi.rootErr = notJSON(pi.resp, pi.where(), pi.rootErr)
		}
	}
	return pi.root, pi.rootErr
}

// notJSON describes a reply that cannot be read as JSON.
func notJSON(resp *Response, u string, err error) error {
	start := strings.TrimSpace(string(resp.Body))
	if len(start) > 60 {
		start = start[:60] + "…"
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "none"
	}
	return fmt.Errorf("the reply to GET %s is not JSON (%v; Content-Type: %s; it starts with %q); the paginator and data_selector cannot read it", u, err, ct, start)
}

// PaginationError is a reply the configured paginator cannot read, or a pagination that
// ended short of what the API said it had.
type PaginationError struct {
	URL, Msg string
}

func (e *PaginationError) Error() string { return e.Msg + " (last page: GET " + e.URL + ")" }

func (p *paginator) fail(pi *pageInfo, format string, a ...any) error {
	return &PaginationError{URL: pi.where(), Msg: fmt.Sprintf(format, a...)}
}

// update reads one reply and decides whether a next page follows, with dlt's stop
// conditions; errors are replies the paginator cannot read.
func (p *paginator) update(pi *pageInfo) error {
	p.pages++
	p.received += pi.n
	if p.kind == "auto" {
		if err := p.detect(pi); err != nil {
			return err
		}
	}
	if p.recordsTotal != nil {
		root, err := pi.doc()
		if err != nil {
			return err
		}
		if v := p.recordsTotal.first(root); v != nil && v.kind != 'n' {
			n, err := toInt(v.value())
			if err != nil || v.kind == '{' || v.kind == '[' {
				if !p.detected {
					return p.fail(pi, "total_path %q is %s in the reply, not a number of records", p.recordsTotal.src, v.raw)
				}
			} else {
				p.reported = n
			}
		}
	}
	switch p.kind {
	case "single_page":
		p.hasNext = false
	case "header_link":
		p.nextRef = headerLinks(pi.resp.Header.Values("Link"))[p.linksNextKey]
		p.hasNext = p.nextRef != ""
	case "header_cursor":
		p.nextRef = pi.resp.Header.Get(p.cursorKey)
		p.hasNext = p.nextRef != ""
	case "json_link":
		root, err := pi.doc()
		if err != nil {
			return err
		}
		v := p.nextURLPath.first(root)
		p.nextRef, p.hasNext = "", false
		switch {
		case v == nil:
			if err := p.missing(pi, root, "next_url_path", p.nextURLPath); err != nil {
				return err
			}
		case v.kind == 'n':
		case v.kind == '"':
			p.nextRef = v.text()
			p.hasNext = p.nextRef != ""
		default:
			return p.fail(pi, "next_url_path %q holds %.60s in the reply, not a URL", p.nextURLPath.src, v.raw)
		}
	case "cursor":
		root, err := pi.doc()
		if err != nil {
			return err
		}
		v := p.cursorPath.first(root)
		p.nextRef, p.hasNext = "", false
		switch {
		case v == nil:
			if err := p.missing(pi, root, "cursor_path", p.cursorPath); err != nil {
				return err
			}
		case v.kind == '{' || v.kind == '[':
			return p.fail(pi, "cursor_path %q holds %.60s in the reply, not a cursor", p.cursorPath.src, v.raw)
		case v.truthy():
			p.nextRef, p.hasNext = v.text(), true
		}
		if p.stopAfterEmpty && pi.n == 0 {
			p.hasNext = false
			return nil
		}
		if p.hasMorePath != nil {
			more, err := p.hasMore(pi)
			if err != nil {
				return err
			}
			p.hasNext = p.hasNext && more
		}
	case "last_id":
		more, err := p.hasMore(pi)
		if err != nil {
			return err
		}
		p.hasNext = more && pi.n > 0
		if p.hasNext {
			id, ok := pi.last[p.idField]
			if !ok || id == nil {
				return p.fail(pi, "has_more is true but the last record has no %q to continue after", p.idField)
			}
			p.nextRef = str(id)
		}
	case "offset", "page_number":
		return p.updateRange(pi)
	}
	return nil
}

// updateRange is dlt's RangePaginator.update_state, with dango's checks that the pages
// really held everything the API reported.
func (p *paginator) updateRange(pi *pageInfo) error {
	var total *int
	readTotal := func() error {
		if p.totalPath == nil {
			return nil
		}
		root, err := pi.doc()
		if err != nil {
			return err
		}
		v := p.totalPath.first(root)
		if v == nil || v.kind == 'n' {
			what := "records"
			if p.kind == "page_number" {
				what = "pages"
			}
			return p.fail(pi, "total_path %q (the total number of %s) is not in the reply; set total_path to where the API reports it, or total_path: null with maximum_%s or stop_after_empty_page",
				p.totalPath.src, what, map[string]string{"offset": "offset", "page_number": "page"}[p.kind])
		}
		n, err := toInt(v.value())
		if err != nil || v.kind == '{' || v.kind == '[' {
			return p.fail(pi, "total_path %q is %.60s in the reply, not an integer", p.totalPath.src, v.raw)
		}
		total = &n
		p.reported = n
		return nil
	}
	if p.stopAfterEmpty && pi.n == 0 {
		p.hasNext = false
		p.stopped, p.emptyAt = true, p.current
		// An empty page before the reported total is a short load, not an end: read the
		// total this page reports (when it does) for the check in finish.
		if p.totalPath != nil {
			if root, err := pi.doc(); err == nil {
				if v := p.totalPath.first(root); v != nil {
					if n, err := toInt(v.value()); err == nil && v.kind != '{' && v.kind != '[' {
						p.reported = n
					}
				}
			} else {
				return err
			}
		}
		return nil
	}
	if p.kind == "offset" {
		// Pages that all hold the same number of records, fewer than limit, followed by
		// more: the API caps the page size below limit, so stepping the offset by limit
		// skips records. (One short page alone may be an API filtering its pages.)
		if p.shortRun >= 2 && pi.n > 0 {
			return p.fail(pi, "the API returned %d records for limit=%d on %d pages in a row and then more at offset %d: it caps the page size, so stepping the offset by %d skips records; set limit: %d (or lower) on the paginator",
				p.short, p.limit, p.shortRun, p.current, p.limit, p.short)
		}
		switch {
		case pi.n >= p.limit:
			p.short, p.shortRun = 0, 0
		case pi.n == p.short:
			p.shortRun++
		default:
			p.short, p.shortRun = pi.n, 1
		}
	}
	if err := readTotal(); err != nil {
		return err
	}
	p.current += p.step
	if (total != nil && p.current >= *total+p.base) || (p.maximum != nil && p.current >= *p.maximum) {
		p.hasNext = false
	}
	if p.hasMorePath != nil {
		more, err := p.hasMore(pi)
		if err != nil {
			return err
		}
		p.hasNext = p.hasNext && more
	}
	return nil
}

// hasMore reads has_more_path: a boolean (or a string dlt reads as one); missing is an error.
func (p *paginator) hasMore(pi *pageInfo) (bool, error) {
	root, err := pi.doc()
	if err != nil {
		return false, err
	}
	v := p.hasMorePath.first(root)
	switch {
	case v == nil || v.kind == 'n':
		return false, p.fail(pi, "has_more_path %q is not in the reply; set it to where the API says whether more pages follow", p.hasMorePath.src)
	case v.kind == 't':
		return true, nil
	case v.kind == 'f':
		return false, nil
	case v.kind == '"':
		b, err := str2bool(v.text())
		if err != nil {
			return false, p.fail(pi, "has_more_path %q is %s in the reply, not a boolean", p.hasMorePath.src, v.raw)
		}
		return b, nil
	}
	return false, p.fail(pi, "has_more_path %q is %.60s in the reply, not a boolean", p.hasMorePath.src, v.raw)
}

// missing handles a next link or cursor path that a reply does not have: the end, as for
// dlt, unless the reply holds a next-page field somewhere else — then the configured path is
// wrong and stopping would load the first page only.
func (p *paginator) missing(pi *pageInfo, root *node, key string, want *jpath) error {
	if p.detected {
		return nil
	}
	path, v := findNextPagePath(root, nil)
	if path == nil || !v.truthy() {
		return nil
	}
	found := strings.Join(path, ".")
	isURL := v.kind == '"' && (strings.HasPrefix(v.text(), "http") || strings.HasPrefix(v.text(), "/"))
	fix := fmt.Sprintf("set %s: %s", key, found)
	switch {
	case key == "next_url_path" && !isURL:
		fix = fmt.Sprintf("it holds a cursor, not a link: paginator: {type: cursor, cursor_path: %s, cursor_param: <the API's parameter>}", found)
	case key == "cursor_path" && isURL:
		fix = fmt.Sprintf("it holds a link: paginator: {type: json_link, next_url_path: %s}", found)
	}
	return p.fail(pi, "%s %q is not in the reply, but %q (%.60s) is: the pagination would stop after this page; %s",
		key, want.src, found, v.raw, fix)
}

// rebaseOne turns a detected page_number pagination into one counting from 1 after page=1
// repeated the first reply: that page is done, the next is 2, and the reported number of
// pages now ends at total + 1. It reports whether a page follows.
func (p *paginator) rebaseOne() bool {
	p.base = 1
	p.pages++
	p.current += p.step
	if p.reported >= 0 && p.current >= p.reported+p.base {
		p.hasNext = false
	}
	return p.hasNext
}

// more reports whether another page is to be requested.
func (p *paginator) more() bool { return p.hasNext }

// next is the following request: a URL (resolved against the current one) and its params.
func (p *paginator) next(cur *url.URL, current string, params url.Values) (string, url.Values) {
	switch p.kind {
	case "json_link", "header_link":
		// dlt replaces the URL and drops the request's params: the link carries them.
		return resolve(cur, p.nextRef), url.Values{}
	case "cursor", "header_cursor":
		np := clone(params)
		np.Set(p.cursorParam, p.nextRef)
		return current, np
	case "last_id":
		np := clone(params)
		np.Set(p.lastParam, p.nextRef)
		return current, np
	case "offset", "page_number":
		np := clone(params)
		p.setRange(np, p.current)
		return current, np
	}
	return "", nil
}

// finish checks, once the paginator stopped, that nothing the API reported is missing.
func (p *paginator) finish(lastURL string) error {
	switch p.kind {
	case "page_number":
		if p.stopped && p.reported >= 0 && p.emptyAt < p.reported+p.base && p.maximum == nil {
			return fmt.Errorf("the API reports %d pages (total_path %q) but page %d came back empty after %s records (GET %s); the load would be partial, so the resource fails. Check page_param and base_page (the first page's number, %d now)",
				p.reported, p.totalPath.src, p.emptyAt, humanize.Thousands(int64(p.received)), lastURL, p.base)
		}
	default:
		if p.recordsTotal == nil || p.reported < 0 {
			return nil
		}
		want := p.reported
		if p.kind == "offset" {
			want -= p.initial
			if p.maximum != nil && *p.maximum-p.initial < want {
				return nil // the configuration asked for less
			}
		}
		if p.received < want {
			how := fmt.Sprintf("total_path %q", p.recordsTotal.src)
			if p.detected {
				how = fmt.Sprintf("%q in the replies", p.recordsTotal.src)
			}
			return fmt.Errorf("the API reports %s records (%s) but %s arrived over %d pages (last page: GET %s); the load would be partial, so the resource fails. Check the paginator settings (page size, limit, next link)",
				humanize.Thousands(int64(want)), how, humanize.Thousands(int64(p.received)), p.pages, lastURL)
		}
	}
	return nil
}

// detect picks the paginator from the first reply as dlt's detector does, in its order: a
// Link header with rel="next"; a next-page link in the body (a key starting with "next",
// or its href/url, holding a URL or a path); a total_pages/pages/totalpages number (page
// numbers); any other next-page value (a cursor); then dango's has_more with record ids
// (Stripe's style, which dlt does not detect); else a single page.
func (p *paginator) detect(pi *pageInfo) error {
	p.detected, p.sendFirst = true, false
	if headerLinks(pi.resp.Header.Values("Link"))["next"] != "" {
		p.kind, p.linksNextKey = "header_link", "next"
		p.detectTotal(pi)
		return nil
	}
	root, err := pi.doc()
	if err != nil {
		return err
	}
	if root.kind != '{' {
		p.kind = "single_page"
		return nil
	}
	path, v := findNextPagePath(root, nil)
	if path != nil && v.kind == '"' && (strings.HasPrefix(v.text(), "http") || strings.HasPrefix(v.text(), "/")) {
		p.kind, p.nextURLPath = "json_link", fieldPath(path)
		p.detectTotal(pi)
		return nil
	}
	if tp, tv := findTotalPagesPath(root, nil); tp != nil {
		if _, err := toInt(tv.value()); err == nil {
			p.kind, p.step, p.param, p.totalPath, p.stopAfterEmpty = "page_number", 1, "page", fieldPath(tp), true
			return nil
		}
	}
	if path != nil {
		p.kind, p.cursorPath, p.cursorParam = "cursor", fieldPath(path), "cursor"
		p.detectTotal(pi)
		return nil
	}
	if hm := root.field("has_more"); hm != nil && (hm.kind == 't' || hm.kind == 'f') && pi.n > 0 && pi.last != nil && pi.last["id"] != nil {
		p.kind, p.lastParam, p.idField, p.hasMorePath = "last_id", "starting_after", "id", fieldPath([]string{"has_more"})
		return nil
	}
	p.kind = "single_page"
	return nil
}

// Names of a total number of records that APIs put beside next links (Django REST
// framework's count, total_count, …), at the top of the reply or under meta/pagination.
var totalRecordKeys = []string{"total", "total_count", "totalCount", "count", "total_results", "totalResults", "total_items", "totalItems", "total_records", "totalRecords"}

// detectTotal is a dango check for detected link and cursor pagination: a total number of
// records reported beside the link must be reached. Counting the records of every page is
// at least any count a page reports of itself, so a per-page count never fails the check.
func (p *paginator) detectTotal(pi *pageInfo) {
	root, err := pi.doc()
	if err != nil || root.kind != '{' {
		return
	}
	for _, under := range [][]string{nil, {"meta"}, {"pagination"}} {
		n := root
		for _, k := range under {
			n = n.field(k)
		}
		if n == nil {
			continue
		}
		for _, k := range totalRecordKeys {
			if v := n.field(k); v != nil && v.kind == '0' {
				if _, err := strconv.Atoi(string(v.raw)); err == nil {
					p.recordsTotal = fieldPath(append(append([]string{}, under...), k))
					return
				}
			}
		}
	}
}

// findNextPagePath is dlt's find_next_page_path: depth first in key order, the first key
// starting with "next" (any case) that holds a string or number, or an object whose key
// starting with href or url holds one.
func findNextPagePath(n *node, path []string) ([]string, *node) {
	if n == nil || n.kind != '{' {
		return nil, nil
	}
	for i, k := range n.keys {
		v := n.vals[i]
		p := append(append([]string{}, path...), k)
		if strings.HasPrefix(strings.ToLower(k), "next") {
			if v.kind == '{' {
				for j, dk := range v.keys {
					lk := strings.ToLower(dk)
					if (strings.HasPrefix(lk, "href") || strings.HasPrefix(lk, "url")) && isScalar(v.vals[j]) {
						return append(p, dk), v.vals[j]
					}
				}
			} else if isScalar(v) {
				return p, v
			}
		}
		if v.kind == '{' {
			if rp, rv := findNextPagePath(v, p); rp != nil {
				return rp, rv
			}
		}
	}
	return nil, nil
}

// isScalar is Python's isinstance(v, (str, int, float)) (bool is an int there).
func isScalar(n *node) bool { return n.kind == '"' || n.kind == '0' || n.kind == 't' || n.kind == 'f' }

// findTotalPagesPath is dlt's find_total_pages_path: a key total_pages, pages or totalpages
// (any case) holding a string or number.
func findTotalPagesPath(n *node, path []string) ([]string, *node) {
	if n == nil || n.kind != '{' {
		return nil, nil
	}
	for i, k := range n.keys {
		v := n.vals[i]
		p := append(append([]string{}, path...), k)
		switch strings.ToLower(k) {
		case "total_pages", "pages", "totalpages":
			if isScalar(v) {
				return p, v
			}
		}
		if v.kind == '{' {
			if rp, rv := findTotalPagesPath(v, p); rp != nil {
				return rp, rv
			}
		}
	}
	return nil, nil
}

// headerLinks parses Link headers as Python's requests does (response.links): each link
// keyed by its rel, or by its URL when it has none.
func headerLinks(values []string) map[string]string {
	out := map[string]string{}
	for _, h := range values {
		for _, part := range splitLinks(h) {
			part = strings.TrimSpace(part)
			if !strings.HasPrefix(part, "<") {
				continue
			}
			end := strings.IndexByte(part, '>')
			if end < 0 {
				continue
			}
			u := strings.TrimSpace(part[1:end])
			key := u
			for _, param := range strings.Split(part[end+1:], ";") {
				k, v, ok := strings.Cut(param, "=")
				if !ok {
					continue
				}
				if strings.EqualFold(strings.Trim(k, " '\""), "rel") {
					key = strings.Trim(v, " '\"")
				}
			}
			if _, dup := out[key]; !dup {
				out[key] = u
			}
		}
	}
	return out
}

// splitLinks splits a Link header at the commas between links (not those inside <…>).
func splitLinks(h string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(h); i++ {
		switch h[i] {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth <= 0 {
				out = append(out, h[start:i])
				start = i + 1
			}
		}
	}
	return append(out, h[start:])
}

func resolve(base *url.URL, ref string) string {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return ""
	}
	return base.ResolveReference(u).String()
}

func clone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// prefetchable reports whether later requests can be made before earlier replies arrive:
// offset and page_number configured explicitly, whose i-th request is known in advance.
func (p *paginator) prefetchable() bool {
	return !p.detected && p.sendFirst && (p.kind == "offset" || p.kind == "page_number")
}

// rangeValue is the offset or page number of the i-th request.
func (p *paginator) rangeValue(i int) int { return p.initial + i*p.step }

// worthRequesting reports whether the request with value v can still be needed, by what
// the replies so far said: below the reported total and the maximum. Requests past them
// are never made (the sequential stop would not make them either).
func (p *paginator) worthRequesting(v int) bool {
	if p.maximum != nil && v >= *p.maximum {
		return false
	}
	if p.totalPath != nil && p.reported >= 0 && v >= p.reported+p.base {
		return false
	}
	return true
}
