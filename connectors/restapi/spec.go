package restapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/jsonshape"
)

// The configuration surface follows dlt's RESTAPIConfig (dlt/sources/rest_api/typing.py):
// a dict from dlt's docs written as YAML validates here unchanged. dango's older flat keys
// (base_url, auth and headers at the top, path/params/paginator/parent on a resource) remain
// as aliases.

var authField = config.Field{Name: "auth", Kind: config.Object, DefaultType: "bearer",
	Doc: "Credentials, as dlt's auth config: `type` (default bearer) and its fields. Secrets belong in `<key>_env` (the variable's name). They are only ever sent to base_url's origin.",
	Variants: []config.Variant{
		{Type: "bearer", Doc: "The token in the Authorization header, bearer scheme.", Fields: []config.Field{
			{Name: "token", Kind: config.String, Doc: "The token (use token_env)."},
		}},
		{Type: "api_key", Doc: "A key in a header, query parameter or cookie.", Fields: []config.Field{
			{Name: "name", Kind: config.String, Default: "Authorization", Doc: "Header, query parameter or cookie name."},
			{Name: "api_key", Kind: config.String, Doc: "The key (use api_key_env)."},
			{Name: "location", Kind: config.String, Default: "header", Enum: []string{"header", "query", "param", "cookie"}, Doc: "Where the key goes (param = query, as in dlt)."},
		}},
		{Type: "http_basic", Aliases: []string{"basic"}, Doc: "HTTP basic authentication.", Fields: []config.Field{
			{Name: "username", Kind: config.String, Doc: "User name."},
			{Name: "password", Kind: config.String, Doc: "Password (use password_env)."},
		}},
		{Type: "oauth2_client_credentials", Doc: "OAuth 2.0 client credentials: the token is fetched (and refreshed when it expires) from access_token_url.", Fields: []config.Field{
			{Name: "access_token_url", Kind: config.String, Doc: "Token endpoint; client_id and client_secret are sent in the form body, as dlt does."},
			{Name: "token_url", Kind: config.String, Doc: "dango's older key: token endpoint, client credentials sent as HTTP basic auth."},
			{Name: "client_id", Kind: config.String, Doc: "Client id (or client_id_env)."},
			{Name: "client_secret", Kind: config.String, Doc: "Client secret (use client_secret_env)."},
			{Name: "access_token", Kind: config.String, Doc: "Accepted as in dlt, which counts it as expired: a token is fetched before the first request."},
			{Name: "access_token_request_data", Kind: config.Map, Doc: "Extra form fields of the token request (scope, audience…)."},
			{Name: "default_token_expiration", Kind: config.Int, Default: int64(3600), Doc: "Seconds a token lasts when the endpoint does not say (expires_in)."},
			{Name: "scope", Kind: config.String, Doc: "dango's older key: the scope form field."},
			{Name: "session", Kind: config.Any, Refuse: "a requests Session is a Python object; dango has its own HTTP client, remove this key"},
		}},
	}}

// paginatorField: dlt's paginator types and fields; dango's older names are aliases. Only the
// keys a user wrote reach the paginator (no defaults here: the paginator applies dlt's).
var paginatorField = config.Field{Name: "paginator", Kind: config.Object, Shorthand: "type", DefaultType: "auto",
	Doc: "How pages follow each other, as dlt's paginator config: `{type: …, …}` or just the type. Detected from the first reply when unset (`auto`).",
	Variants: []config.Variant{
		{Type: "json_link", Aliases: []string{"next_url", "json_response"}, Doc: "The next page's URL is in the body.", Fields: []config.Field{
			{Name: "next_url_path", Nullable: true, Kind: config.String, Doc: "JSONPath of the next URL (default `next`)."},
		}},
		{Type: "header_link", Aliases: []string{"link_header"}, Doc: "RFC 8288 `Link: <…>; rel=\"next\"` header.", Fields: []config.Field{
			{Name: "links_next_key", Kind: config.String, Doc: "The rel of the next link (default `next`)."},
		}},
		{Type: "header_cursor", Doc: "The next cursor is in a response header.", Fields: []config.Field{
			{Name: "cursor_key", Kind: config.String, Doc: "Header holding the cursor (default `next`)."},
			{Name: "cursor_param", Kind: config.String, Doc: "Query parameter to send it in (default `cursor`)."},
		}},
		{Type: "offset", Doc: "`limit` and `offset` query parameters.", Fields: []config.Field{
			{Name: "limit", Kind: config.Int, Doc: "Records per page (required by dlt)."},
			{Name: "offset", Kind: config.Int, Doc: "First offset (default 0)."},
			{Name: "offset_param", Kind: config.String, Doc: "Default `offset`."},
			{Name: "limit_param", Kind: config.String, Doc: "Default `limit`."},
			{Name: "total_path", Nullable: true, Kind: config.String, Doc: "JSONPath of the total record count (default `total`)."},
			{Name: "maximum_offset", Nullable: true, Kind: config.Int, Doc: "Stop at this offset."},
			{Name: "stop_after_empty_page", Kind: config.Bool, Doc: "Stop at the first empty page (default true)."},
			{Name: "has_more_path", Nullable: true, Kind: config.String, Doc: "JSONPath of a boolean saying whether more pages follow."},
			{Name: "offset_body_path", Kind: config.String, Doc: "Send the offset in the JSON body at this path (POST)."},
			{Name: "limit_body_path", Kind: config.String, Doc: "Send the limit in the JSON body at this path (POST)."},
		}},
		{Type: "page_number", Aliases: []string{"page"}, Doc: "A page number query parameter.", Fields: []config.Field{
			{Name: "base_page", Kind: config.Int, Doc: "Number of the first page (default 0)."},
			{Name: "page", Kind: config.Int, Doc: "Page to start at (default base_page)."},
			{Name: "page_param", Kind: config.String, Doc: "Default `page`."},
			{Name: "total_path", Nullable: true, Kind: config.String, Doc: "JSONPath of the total page count (default `total`)."},
			{Name: "maximum_page", Nullable: true, Kind: config.Int, Doc: "Stop after this page."},
			{Name: "stop_after_empty_page", Kind: config.Bool, Doc: "Stop at the first empty page (default true)."},
			{Name: "has_more_path", Nullable: true, Kind: config.String, Doc: "JSONPath of a boolean saying whether more pages follow."},
			{Name: "page_body_path", Kind: config.String, Doc: "Send the page number in the JSON body at this path (POST)."},
			{Name: "initial_page", Kind: config.Int, Doc: "dango's older key for `page`."},
			{Name: "total_pages_path", Nullable: true, Kind: config.String, Doc: "dango's older key for `total_path`."},
		}},
		{Type: "cursor", Aliases: []string{"json_cursor"}, Doc: "A cursor from the body, sent back as a query parameter.", Fields: []config.Field{
			{Name: "cursor_path", Nullable: true, Kind: config.String, Doc: "JSONPath of the cursor (default `cursors.next`)."},
			{Name: "cursor_param", Kind: config.String, Doc: "Query parameter to send it in (default `cursor`)."},
			{Name: "cursor_body_path", Kind: config.String, Doc: "Send the cursor in the JSON body at this path (POST)."},
			{Name: "stop_after_empty_page", Kind: config.Bool, Doc: "Stop at the first empty page."},
			{Name: "has_more_path", Nullable: true, Kind: config.String, Doc: "JSONPath of a boolean saying whether more pages follow."},
		}},
		{Type: "single_page", Aliases: []string{"none"}, Doc: "One request, no pagination."},
		{Type: "auto", Doc: "Detect the paginator from the first reply, as dlt does."},
		{Type: "last_id", Aliases: []string{"has_more"}, Doc: "dango's Stripe-style paginator: `has_more` plus `starting_after=<last record's id>`.", Fields: []config.Field{
			{Name: "param", Kind: config.String, Doc: "Default `starting_after`."},
			{Name: "id_field", Kind: config.String, Doc: "Default `id`."},
			{Name: "has_more_path", Nullable: true, Kind: config.String, Doc: "Default `has_more`."},
		}},
	}}

var incrementalFields = []config.Field{
	{Name: "cursor_path", Nullable: true, Kind: config.String, Doc: "Field of each record that grows with new or changed records (updated_at, id); a dotted path reaches into nested objects."},
	{Name: "cursor_column", Kind: config.String, Doc: "dango's older key for cursor_path."},
	{Name: "initial_value", Kind: config.Scalar, Doc: "Where the first sync starts; default: everything."},
	{Name: "end_value", Kind: config.Scalar, Doc: "Where the range ends: sent as end_param / `{incremental.end_value}` (dango does not filter records past it, see docs/dlt-differences.md)."},
	{Name: "start_param", Kind: config.String, Doc: "Query parameter that receives the start value."},
	{Name: "end_param", Kind: config.String, Doc: "Query parameter that receives end_value."},
	{Name: "last_value_func", Kind: config.String, Enum: []string{"max"}, Doc: "Only `max` (dlt's default): the cursor moves forward."},
	{Name: "range_start", Kind: config.String, Enum: []string{"closed"}, Doc: "Only `closed` (dlt's default): the last value is fetched again and deduplicated."},
	{Name: "range_end", Kind: config.String, Enum: []string{"open"}, Doc: "Only `open` (dlt's default)."},
	{Name: "convert", Kind: config.Any, Refuse: "convert is a Python callable; dango cannot run it. Send the value as it is stored (ISO 8601 or the cursor's own form) or put a format in the placeholder's parameter yourself"},
	{Name: "transform", Kind: config.Any, Refuse: "transform (dlt's old name for convert) is a Python callable; dango cannot run it"},
	{Name: "primary_key", Kind: config.Any, Refuse: "an incremental's own primary_key is not supported; set the resource's primary_key"},
	{Name: "row_order", Kind: config.Any, Refuse: "row_order is not supported by dango; remove it"},
	{Name: "lag", Kind: config.Any, Refuse: "lag is not supported by dango; remove it (the start is re-fetched and deduplicated anyway)"},
	{Name: "allow_external_schedulers", Kind: config.Any, Refuse: "allow_external_schedulers is not supported by dango; remove it"},
	{Name: "on_cursor_value_missing", Kind: config.Any, Refuse: "on_cursor_value_missing is not supported by dango; remove it"},
}

var paramField = config.Field{Kind: config.Object, ScalarOK: true,
	Doc: "A query parameter: a plain value (placeholders `{resources.<r>.<field>}` and `{incremental.start_value}` allowed), or a binding.",
	Variants: []config.Variant{
		{Type: "resolve", Doc: "One request per record of `resource`, its `field` filling this parameter (or the `{<param>}` placeholder in the path).", Fields: []config.Field{
			{Name: "resource", Kind: config.String, Required: true, Doc: "The parent resource."},
			{Name: "field", Kind: config.String, Required: true, Doc: "The parent record's field (a dotted path reaches into nested objects)."},
		}},
		{Type: "incremental", Doc: "This parameter receives the incremental start value (dlt's param-bound incremental).", Fields: []config.Field{
			{Name: "cursor_path", Nullable: true, Kind: config.String, Required: true, Doc: "Field of each record that grows."},
			{Name: "initial_value", Kind: config.Scalar, Doc: "Where the first sync starts."},
			{Name: "convert", Kind: config.Any, Refuse: "convert is a Python callable; dango cannot run it"},
			{Name: "transform", Kind: config.Any, Refuse: "transform is a Python callable; dango cannot run it"},
			{Name: "end_value", Kind: config.Any, Refuse: "only cursor_path and initial_value are allowed in a param-bound incremental (as in dlt); put end_value in the endpoint's incremental"},
			{Name: "end_param", Kind: config.Any, Refuse: "only cursor_path and initial_value are allowed in a param-bound incremental (as in dlt); put end_param in the endpoint's incremental"},
		}},
	}}

var responseActionFields = []config.Field{
	{Name: "status_code", Kind: config.Int, Doc: "HTTP status this action applies to."},
	{Name: "content", Kind: config.String, Doc: "Text the body must contain for this action to apply."},
	{Name: "action", Kind: config.String, Required: true, Doc: "`ignore`: the reply is skipped, no records, no error; the resource (or this parent record's request) ends.",
		Check: func(v any) error {
			if v != "ignore" {
				return fmt.Errorf("%q: dango supports only `action: ignore`; other actions are Python callables, which dango cannot run", v)
			}
			return nil
		}},
}

func endpointFields() []config.Field {
	return []config.Field{
		{Name: "path", Kind: config.String, Doc: "Path after base_url (default: the resource's name). `{resources.<r>.<field>}`, `{<resolve param>}` and `{incremental.start_value}` placeholders are filled per request."},
		{Name: "method", Kind: config.String, Enum: []string{"GET", "POST"}, Doc: "HTTP method (default GET)."},
		{Name: "params", Kind: config.MapOf, Elem: &paramField, Doc: "Query parameters."},
		{Name: "json", Kind: config.Map, Doc: "JSON body (POST); placeholders in its strings are filled, a string that is only a placeholder keeps the value's type."},
		{Name: "data", Kind: config.MapOf, Elem: &config.Field{Kind: config.Scalar}, ScalarOK: true, Doc: "A form body (a mapping, sent as application/x-www-form-urlencoded) or a raw text body, as requests sends dlt's `data`; placeholders are filled."},
		{Name: "headers", Kind: config.Map, Doc: "Headers of this endpoint's requests (placeholders filled)."},
		see(paginatorField, "client.paginator"),
		{Name: "data_selector", Kind: config.String, Doc: "JSONPath of the records in the reply (found automatically otherwise)."},
		{Name: "response_actions", Kind: config.ObjectList, Fields: responseActionFields, Doc: "What to do with some replies: `[{status_code: 404, action: ignore}, {content: \"not found\", action: ignore}]`."},
		{Name: "incremental", Kind: config.Object, Fields: incrementalFields, Check: checkIncremental, Doc: "Load only records at or past the cursor stored by the last sync."},
		see(authField, "client.auth"),
	}
}

func checkIncremental(v any) error {
	inc, _ := v.(config.Values)
	if inc.String("cursor_path") == "" && inc.String("cursor_column") == "" {
		return fmt.Errorf("missing required key \"cursor_path\" (the record field that grows)")
	}
	if inc.Has("cursor_path") && inc.Has("cursor_column") {
		return fmt.Errorf("set either cursor_path or cursor_column (its older name), not both")
	}
	return nil
}

func strategyCheck(v any) error {
	switch v {
	case "delete-insert", "upsert":
		return nil
	case "scd2", "insert-only", "cdc":
		return fmt.Errorf("merge strategy %q is not supported by dango; use delete-insert or upsert (both replace rows by primary_key)", v)
	}
	return fmt.Errorf("%q is not a merge strategy (delete-insert, upsert)", v)
}

var writeDispositionField = config.Field{Name: "write_disposition", Kind: config.Object, Shorthand: "disposition",
	Doc: "append, replace or merge (by primary_key), or dlt's `{disposition: merge, strategy: delete-insert}` (or upsert).",
	Fields: []config.Field{
		{Name: "disposition", Kind: config.String, Required: true, Enum: []string{"append", "replace", "merge"}, Doc: "How loads combine."},
		{Name: "strategy", Kind: config.String, Check: strategyCheck, Doc: "merge: delete-insert or upsert; dango replaces rows by primary_key either way."},
	}}

// see returns f documented once, under another key.
func see(f config.Field, where string) config.Field {
	f.SeeAlso = where
	return f
}

func unsupported(key, why string) config.Field {
	return config.Field{Name: key, Kind: config.Any, Refuse: why}
}

// resourceBaseFields are dlt's EndpointResourceBase: everything a resource (and
// resource_defaults) may set except its name.
func resourceBaseFields() []config.Field {
	return []config.Field{
		{Name: "endpoint", Kind: config.Object, Shorthand: "path", Fields: endpointFields(), Doc: "The endpoint: a path, or a mapping."},
		writeDispositionField,
		{Name: "primary_key", Kind: config.StringList, Doc: "Column(s) identifying a record (merge)."},
		{Name: "table_name", Kind: config.String, Doc: "Table to load into (default: the resource's name)."},
		{Name: "selected", Kind: config.Bool, Doc: "false: fetched only for the resources that depend on it, not loaded."},
		{Name: "include_from_parent", Kind: config.StringList, Doc: "Fields of the parent record added to each child record as `_<parent>_<field>`."},
		{Name: "parallelized", Kind: config.Bool, Doc: "Accepted for dlt compatibility; dango fetches a source's resources one after another."},
		unsupported("processing_steps", "processing_steps are Python callables; dango cannot run them. Remove the key and filter or reshape in a dbt model"),
		{Name: "max_table_nesting", Kind: config.Int, Doc: "dlt's max_table_nesting: how many levels of nested lists and objects become child tables and columns (default 1000, in effect no limit); past it values load as JSON. 0 keeps every nested value JSON.",
			Check: func(v any) error {
				if n, ok := v.(int64); ok && n < 0 {
					return fmt.Errorf("must be a whole number of levels, 0 or more, got %d", n)
				}
				return nil
			}},
		unsupported("columns", "column hints are not supported by dango yet: types are inferred from the data (cast in a dbt model); remove the key"),
		unsupported("merge_key", "merge_key is not supported by dango; merge replaces rows by primary_key"),
		unsupported("schema_contract", "schema_contract is not supported by dango; remove the key"),
		unsupported("table_format", "table_format is not supported by dango (DuckDB tables only); remove the key"),
		unsupported("file_format", "file_format is not supported by dango; remove the key"),
		unsupported("references", "references are not supported by dango; remove the key"),
		unsupported("parent_table_name", "parent_table_name is not supported by dango; remove the key"),
		unsupported("nested_hints", "nested_hints are not supported by dango; remove the key"),
		// dango's older keys, next to dlt's endpoint.
		{Name: "path", Kind: config.String, Doc: "dango's older key for endpoint.path."},
		see(config.Field{Name: "params", Kind: config.MapOf, Elem: &paramField, Doc: "dango's older key for endpoint.params."}, "resources.endpoint.params"),
		{Name: "data_selector", Kind: config.String, Doc: "dango's older key for endpoint.data_selector."},
		see(config.Field{Name: "incremental", Kind: config.Object, Fields: incrementalFields, Check: checkIncremental, Doc: "dango's older key for endpoint.incremental."}, "resources.endpoint.incremental"),
		{Name: "parent", Kind: config.String, Doc: "dango's older parent binding: one request per record of this resource, `{field}` in the path filled from it."},
		see(paginatorField, "client.paginator"),
	}
}

func resourceFields() []config.Field {
	return append([]config.Field{{Name: "name", Kind: config.String, Required: true, Doc: "Resource name (and table name unless table_name is set)."}}, resourceBaseFields()...)
}

// Spec is the rest_api configuration block.
var Spec = config.Spec{Type: "rest_api", Summary: "Any JSON REST API, described as dlt's rest_api source is (RESTAPIConfig: client, resource_defaults, resources), in YAML.",
	Check: checkSpec,
	Fields: []config.Field{
		{Name: "client", Kind: config.Object, Doc: "The HTTP client: base_url, headers, auth, paginator.", Fields: []config.Field{
			{Name: "base_url", Kind: config.String, Required: true, Doc: "Prefix of every resource path."},
			{Name: "headers", Kind: config.Map, Doc: "Headers of every request; ${VAR} expands from the environment."},
			authField,
			paginatorField,
			{Name: "session", Kind: config.Any, Refuse: "a requests Session is a Python object; dango has its own HTTP client, remove this key"},
		}},
		{Name: "resource_defaults", Kind: config.Object, Fields: resourceBaseFields(), SeeAlso: "resources (all but name)", Doc: "Merged into every resource, as dlt does: the resource's keys win; endpoint keys merge, params and json one level deep."},
		{Name: "resources", Kind: config.ObjectList, Required: true, Shorthand: "name", Fields: resourceFields(), Doc: "The resources: a name (its path too) or a mapping."},
		{Name: "base_url", Kind: config.String, Doc: "dango's older key for client.base_url."},
		see(authField, "client.auth"),
		{Name: "headers", Kind: config.Map, Doc: "dango's older key for client.headers."},
		{Name: "requests_per_second", Kind: config.Float, Doc: "Most requests per second for this source, whatever --workers is."},
		{Name: "rate_limit_delay", Kind: config.Float, Doc: "Seconds between requests (the spec's Stripe option)."},
		{Name: "max_retry_time", Kind: config.String, Default: "5m", Doc: "How long one request may keep retrying (429, 5xx, network)."},
		{Name: "timeout", Kind: config.String, Default: "60s", Doc: "Per-request timeout."},
		{Name: "parallel_pages", Kind: config.Int, Default: int64(4), Doc: "With page_number or offset pagination, pages requested ahead (processed in order; the rate limit still holds). 1 turns it off."},
		{Name: "allow_cross_host", Kind: config.Bool, Default: false, Doc: "Follow next-page links and redirects to another host (scheme, host and port than base_url's) without any credentials or configured headers. Off: such a link or redirect fails the resource."},
		{Name: "max_response_size", Kind: config.String, Default: "100MB", Doc: "Largest reply accepted (refused while reading, so memory stays bounded)."},
		{Name: "max_json_depth", Kind: config.Int, Default: int64(jsonshape.DefaultMaxDepth), Doc: "Deepest nesting of objects and lists accepted in a reply."},
	}}

// checkSpec validates what single keys cannot: one base_url, and the resources' relations
// (parents that exist, no cycles, placeholders that name a known context).
func checkSpec(v config.Values) error {
	client := v.Object("client")
	for _, k := range []string{"base_url", "auth", "headers"} {
		if client != nil && client.Has(k) && v.Has(k) {
			return config.CheckErrorf(0, k, "set either client.%s or %s (dango's older key), not both", k, k)
		}
	}
	if (client == nil || client.String("base_url") == "") && v.String("base_url") == "" {
		return config.CheckErrorf(0, "", "missing required key \"client\" with base_url (the prefix of every resource path)")
	}
	if msg := checkOAuth(authValues(v)); msg != "" {
		return config.CheckErrorf(0, "auth", "%s", msg)
	}
	if c := v.Object("client"); c != nil && c.Has("paginator") {
		if _, err := parseResource(map[string]any{"name": "client", "endpoint": map[string]any{"paginator": c["paginator"]}}, 0, 0); err != nil {
			msg := err.Error()
			var ce *config.CheckError
			if errors.As(err, &ce) {
				msg = ce.Msg
			}
			return config.CheckErrorf(0, "client.paginator", "%s", msg)
		}
	}
	_, err := buildResources(v)
	return err
}

// checkOAuth says what an oauth2_client_credentials auth lacks ("" when nothing).
func checkOAuth(a config.Values) string {
	if a != nil && a.String("type") == "oauth2_client_credentials" {
		if (a.String("access_token_url") == "") == (a.String("token_url") == "") {
			return "oauth2_client_credentials needs access_token_url (or dango's older token_url), exactly one"
		}
	}
	return ""
}

func authValues(v config.Values) config.Values {
	if c := v.Object("client"); c != nil && c.Has("auth") {
		return c.Object("auth")
	}
	return v.Object("auth")
}

// resourceError locates a resource's configuration problem for config's messages.
func resourceError(line, idx int, sub, format string, args ...any) error {
	p := fmt.Sprintf("resources[%d]", idx)
	if idx < 0 {
		p = "resource_defaults"
	}
	if sub != "" {
		p += "." + sub
	}
	return config.CheckErrorf(line, p, format, args...)
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
