package restapi

import (
	"bytes"
	"encoding/json"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/jsonshape"
)

// withParentFields adds members (include_from_parent's `"_<parent>_<field>":value,…`) to
// every record of a page, and observes the records' shape again.
func withParentFields(p *page, members []byte, maxDepth int) {
	sh := &jsonshape.Shape{MaxDepth: maxDepth}
	for i, rec := range p.raw {
		t := bytes.TrimSpace(rec)
		end := bytes.LastIndexByte(t, '}')
		if len(t) == 0 || t[0] != '{' || end < 0 {
			continue
		}
		inner := bytes.TrimSpace(t[1:end])
		out := make([]byte, 0, len(t)+len(members)+1)
		out = append(out, t[:end]...)
		if len(inner) > 0 {
			out = append(out, ',')
		}
		out = append(append(out, members...), '}')
		p.raw[i] = json.RawMessage(out)
		sh.Observe(p.raw[i])
	}
	p.shape = sh
}

func logIgnored(out connectors.Emitter, rq *Request, resp *Response) {
	method := rq.Method
	if method == "" {
		method = "GET"
	}
	out.Logf("Ignoring HTTP %d from %s %s (response_actions)", resp.Status, method, config.Redact(resp.URL.Path))
}
