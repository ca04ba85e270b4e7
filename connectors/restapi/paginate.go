package restapi

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// paginator decides the next request from a reply: the next URL (empty when done) and its
// params.
type paginator struct {
	kind string
	cfg  map[string]any
	page int
	off  int
}

func newPaginator(cfg map[string]any) *paginator {
	p := &paginator{cfg: cfg, kind: "auto"}
	if cfg != nil {
		p.kind = str(cfg["type"])
	}
	p.page = intOr(cfg["initial_page"], 1)
	return p
}

func intOr(v any, def int) int {
	if v == nil {
		return def
	}
	if n, err := strconv.Atoi(str(v)); err == nil {
		return n
	}
	return def
}

func (p *paginator) opt(key, def string) string {
	if p.cfg != nil {
		if v := str(p.cfg[key]); v != "" {
			return v
		}
	}
	return def
}

var linkNextRE = regexp.MustCompile(`<([^>]+)>\s*;[^,]*rel="?next"?`)

func (p *paginator) next(resp *Response, records []map[string]any, current string, params url.Values) (string, url.Values) {
	// Only the fields a paginator reads are decoded, never the whole page of records.
	body := lazyBody{raw: resp.Body}
	kind := p.kind
	if kind == "auto" || kind == "" {
		kind = detectPaginator(resp, body)
		p.kind = kind // the first page decides for the rest
	}
	switch kind {
	case "link_header", "header_link":
		if m := linkNextRE.FindStringSubmatch(resp.Header.Get("Link")); m != nil {
			return resolve(resp.URL, m[1]), nil
		}
	case "next_url", "json_link", "json_response":
		if s, ok := lookup(body, p.opt("next_url_path", "next")).(string); ok && s != "" {
			return resolve(resp.URL, s), nil
		}
	case "cursor", "json_cursor":
		c := lookup(body, p.opt("cursor_path", "next_cursor"))
		if c != nil && str(c) != "" && len(records) > 0 {
			np := clone(params)
			np.Set(p.opt("cursor_param", "cursor"), str(c))
			return current, np
		}
	case "last_id", "has_more": // Stripe: has_more plus starting_after=<last record's id>
		if more, _ := lookup(body, p.opt("has_more_path", "has_more")).(bool); more && len(records) > 0 {
			np := clone(params)
			np.Set(p.opt("param", "starting_after"), str(records[len(records)-1][p.opt("id_field", "id")]))
			return current, np
		}
	case "offset":
		limit := intOr(p.cfg["limit"], 100)
		if len(records) >= limit {
			if total := lookup(body, p.opt("total_path", "")); total != nil && p.off+limit >= intOr(total, 0) {
				return "", nil
			}
			p.off += limit
			np := clone(params)
			np.Set(p.opt("limit_param", "limit"), strconv.Itoa(limit))
			np.Set(p.opt("offset_param", "offset"), strconv.Itoa(p.off))
			return current, np
		}
	case "page_number", "page":
		if len(records) > 0 {
			if total := lookup(body, p.opt("total_pages_path", "")); total != nil && p.page >= intOr(total, 0) {
				return "", nil
			}
			p.page++
			np := clone(params)
			np.Set(p.opt("page_param", "page"), strconv.Itoa(p.page))
			return current, np
		}
	}
	return "", nil
}

// detectPaginator guesses from the first reply, as users of dlt's rest_api expect.
func detectPaginator(resp *Response, body lazyBody) string {
	if linkNextRE.MatchString(resp.Header.Get("Link")) {
		return "link_header"
	}
	if s, ok := lookup(body, "next").(string); ok && s != "" {
		return "next_url"
	}
	if _, ok := lookup(body, "has_more").(bool); ok {
		return "last_id"
	}
	for _, k := range []string{"next_cursor", "cursor"} {
		if v := lookup(body, k); v != nil && str(v) != "" {
			return "cursor"
		}
	}
	return "none"
}

// lazyBody is a reply whose top-level fields are decoded only when asked for.
type lazyBody struct {
	raw []byte
	top map[string]json.RawMessage
	ok  bool
}

func (b *lazyBody) field(name string) any {
	if b.top == nil && !b.ok {
		b.ok = true
		_ = json.Unmarshal(b.raw, &b.top) // a list or invalid reply has no fields
	}
	raw, found := b.top[name]
	if !found {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
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

// numbered describes pagination whose requests can be computed ahead: page numbers or offsets.
type numbered struct {
	param      string // page or offset parameter
	first      int
	step       int
	limitParam string
	limit      int // offset pagination: page size (a short page is the last)
}

func (n numbered) params(i int) map[string]string {
	out := map[string]string{n.param: strconv.Itoa(n.first + i*n.step)}
	if n.limitParam != "" {
		out[n.limitParam] = strconv.Itoa(n.limit)
	}
	return out
}

// numbered reports whether later pages can be requested before earlier ones arrive: page
// numbers or offsets configured explicitly, with no total to read from the replies.
func (p *paginator) numbered() (numbered, bool) {
	switch p.kind {
	case "page_number", "page":
		if p.opt("total_pages_path", "") != "" {
			return numbered{}, false
		}
		return numbered{param: p.opt("page_param", "page"), first: p.page, step: 1}, true
	case "offset":
		if p.opt("total_path", "") != "" {
			return numbered{}, false
		}
		limit := intOr(p.cfg["limit"], 100)
		return numbered{param: p.opt("offset_param", "offset"), first: 0, step: limit, limitParam: p.opt("limit_param", "limit"), limit: limit}, true
	}
	return numbered{}, false
}
