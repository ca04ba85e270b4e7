package restapi

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
)

// dltExample is the posts/comments example of dlt's rest_api docs, written as YAML.
const dltExample = `version: 1
sources:
  - name: blog
    type: rest_api
    rest_api:
      client:
        base_url: https://api.example.com/v1/
        auth:
          token_env: BLOG_TOKEN
        paginator:
          type: json_link
          next_url_path: paging.next
      resource_defaults:
        primary_key: id
        write_disposition: merge
        endpoint:
          params:
            per_page: 100
      resources:
        - name: posts
          endpoint:
            path: posts
            params:
              sort: updated
              direction: desc
              since: "{incremental.start_value}"
            incremental:
              cursor_path: updated_at
              initial_value: "2024-01-25T11:21:28Z"
        - name: comments
          endpoint:
            path: posts/{post_id}/comments
            params:
              post_id:
                type: resolve
                resource: posts
                field: id
          include_from_parent: [title]
        - name: reactions
          write_disposition: {disposition: merge, strategy: upsert}
          endpoint:
            path: posts/{resources.posts.id}/reactions
            method: POST
            json:
              post: "{resources.posts.id}"
              query: "reactions of {resources.posts.title}"
            response_actions:
              - status_code: 404
                action: ignore
              - content: not found
                action: ignore
        - users
`

func parse(t *testing.T, yaml string) ([]config.Source, error) {
	t.Helper()
	t.Setenv("BLOG_TOKEN", "tok-secret")
	return config.ParseSources(config.SourcesFile, []byte(yaml), connectors.Default, config.NewSecretResolver(t.TempDir()))
}

func TestDltExampleConfig(t *testing.T) {
	srcs, err := parse(t, dltExample)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := buildResources(srcs[0].Settings)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Resource{}
	var order []string
	for _, r := range rs {
		byName[r.Name] = r
		order = append(order, r.Name)
	}
	if !reflect.DeepEqual(order, []string{"posts", "comments", "reactions", "users"}) {
		t.Errorf("order %v", order)
	}
	posts := byName["posts"]
	if posts.Disposition != "merge" || !reflect.DeepEqual(posts.PrimaryKey, []string{"id"}) || posts.Incremental == nil ||
		posts.Incremental.CursorColumn != "updated_at" || posts.Incremental.InitialValue != "2024-01-25T11:21:28Z" {
		t.Errorf("posts = %+v", posts)
	}
	// resource_defaults' params merge one level deep with the resource's.
	if posts.Params["per_page"] != int64(100) || posts.Params["sort"] != "updated" {
		t.Errorf("posts params %v", posts.Params)
	}
	c := byName["comments"]
	if c.Parent != "posts" || c.Path != "posts/{post_id}/comments" || !reflect.DeepEqual(c.Binds, []Bind{{Key: "post_id", Field: "id"}}) ||
		!reflect.DeepEqual(c.Include, []string{"title"}) {
		t.Errorf("comments = %+v", c)
	}
	if _, ok := c.Params["post_id"]; ok {
		t.Errorf("the resolve param stays a query param: %v", c.Params)
	}
	re := byName["reactions"]
	if re.Method != "POST" || re.Parent != "posts" || len(re.Actions) != 2 || re.Actions[0] != (ResponseAction{Status: 404}) ||
		re.Actions[1] != (ResponseAction{Content: "not found"}) || re.Disposition != "merge" || len(re.Binds) != 2 {
		t.Errorf("reactions = %+v", re)
	}
	if u := byName["users"]; u.Path != "users" || u.Disposition != "merge" || u.Paginator != nil {
		t.Errorf("users = %+v", u)
	}
	// The secret was resolved from the variable and reaches the client.
	conn, err := New(connectors.Job{Source: srcs[0], ProjectRoot: t.TempDir()}, srcs[0].Settings)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := conn.client.Auth.(bearerAuth); !ok || b.token != "tok-secret" {
		t.Errorf("auth = %#v", conn.client.Auth)
	}
	if conn.base != "https://api.example.com/v1" {
		t.Errorf("base %q", conn.base)
	}
	// client.paginator is every resource's default, only the keys written, type as dlt names it.
	for _, r := range conn.resources {
		if want := map[string]any{"type": "json_link", "next_url_path": "paging.next"}; !reflect.DeepEqual(r.Paginator, want) {
			t.Errorf("%s paginator %#v", r.Name, r.Paginator)
		}
	}
}

func TestPaginatorNormalised(t *testing.T) {
	cases := []struct {
		yaml string
		want map[string]any
	}{
		{"paginator: next_url", map[string]any{"type": "json_link"}},
		{"paginator: link_header", map[string]any{"type": "header_link"}},
		{"paginator: none", map[string]any{"type": "single_page"}},
		{"paginator: last_id", map[string]any{"type": "last_id"}},
		{"paginator: {type: page, page_param: p, initial_page: 1}", map[string]any{"type": "page_number", "page_param": "p", "initial_page": int64(1)}},
		{"paginator: {type: offset, limit: 100}", map[string]any{"type": "offset", "limit": int64(100)}},
		{"paginator: {type: cursor}", map[string]any{"type": "cursor"}},
		{"paginator: {next_url_path: x, type: json_link}", map[string]any{"type": "json_link", "next_url_path": "x"}},
		{"paginator: {}", map[string]any{"type": "auto"}},
	}
	for _, c := range cases {
		y := "sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: 'http://x'}\n      resources:\n        - name: r\n          endpoint:\n            " + c.yaml + "\n"
		srcs, err := parse(t, y)
		if err != nil {
			t.Errorf("%s: %v", c.yaml, err)
			continue
		}
		rs, err := buildResources(srcs[0].Settings)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rs[0].Paginator, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.yaml, rs[0].Paginator, c.want)
		}
	}
}

func TestRestAPIConfigErrors(t *testing.T) {
	head := "version: 1\nsources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client:\n        base_url: http://x\n      resources:\n" // resources start on line 9
	cases := []struct {
		name, body string
		line       int
		want       string
	}{
		{"misspelt endpoint key", "        - name: r\n          endpoint:\n            path: r\n            data_selectr: data\n", 12,
			`sources[0].rest_api.resources[0].endpoint: unknown key "data_selectr" (did you mean "data_selector"?; valid keys: `},
		{"misspelt resource key", "        - name: r\n          primry_key: id\n", 10, `resources[0]: unknown key "primry_key" (did you mean "primary_key"?`},
		{"paginator field of its type", "        - name: r\n          endpoint:\n            paginator:\n              type: json_link\n              next_url_pth: next\n", 13,
			`resources[0].endpoint.paginator: with type json_link, unknown key "next_url_pth" (did you mean "next_url_path"?`},
		{"paginator field of another type", "        - name: r\n          endpoint:\n            paginator: {type: offset, page_param: p}\n", 11,
			`with type offset, unknown key "page_param"`},
		{"unknown paginator type", "        - name: r\n          endpoint:\n            paginator: jsn_link\n", 11,
			`resources[0].endpoint.paginator.type: unknown type "jsn_link" (did you mean "json_link"?; valid types: json_link, header_link`},
		{"processing_steps", "        - name: r\n          processing_steps:\n            - filter: x\n", 10,
			`resources[0].processing_steps: processing_steps are Python callables; dango cannot run them`},
		{"columns", "        - name: r\n          columns: {id: {data_type: bigint}}\n", 10, `resources[0].columns: column hints are not supported`},
		{"scd2", "        - name: r\n          write_disposition:\n            disposition: merge\n            strategy: scd2\n", 12, `write_disposition.strategy: merge strategy "scd2" is not supported by dango`},
		{"callable action", "        - name: r\n          endpoint:\n            response_actions:\n              - status_code: 200\n                action: my_hook\n", 13,
			`response_actions[0].action: "my_hook": dango supports only ` + "`action: ignore`"},
		{"convert", "        - name: r\n          endpoint:\n            incremental:\n              cursor_path: id\n              convert: to_unix\n", 13, `incremental.convert: convert is a Python callable`},
		{"unknown parent", "        - name: r\n        - name: c\n          endpoint: x/{resources.nope.id}\n", 10, `resources[1]: resource "c" depends on "nope", which is not a resource of this source`},
		{"resolve not in path", "        - name: p\n        - name: c\n          endpoint:\n            path: c\n            params:\n              pid: {type: resolve, resource: p, field: id}\n", 10,
			`resolve param "pid" is not bound in the path`},
		{"incremental placeholder without incremental", "        - name: r\n          endpoint:\n            params: {since: '{incremental.start_value}'}\n", 9,
			`placeholder {incremental.start_value} needs an incremental`},
		{"unknown placeholder", "        - name: r\n          endpoint:\n            json: {q: '{foo.bar}'}\n", 9, `placeholder {foo.bar} is not valid here`},
		{"include without parent", "        - name: r\n          include_from_parent: [id]\n", 9, `include_from_parent: this resource has no parent`},
		{"cycle", "        - name: a1\n          endpoint: a/{resources.b1.id}\n        - name: b1\n          endpoint: b/{resources.a1.id}\n", 9, `depend on each other in a circle`},
		{"duplicate", "        - r\n        - r\n", 10, `resource "r" is already defined`},
		{"auth field of its type", "        - r\n", 7, ``}, // placeholder, replaced below
		{"method", "        - name: r\n          endpoint: {path: r, method: PUT}\n", 10, `"PUT" is not one of GET, POST`},
		{"max_table_nesting", "        - name: r\n          max_table_nesting: -1\n", 10, `max_table_nesting: must be a whole number of levels`},
		{"endpoint data and json", "        - name: r\n          endpoint: {data: {a: 1}, json: {b: 2}}\n", 9, `endpoint.data: set either json or data`},
		{"legacy and dlt key both", "        - name: r\n          path: a\n          endpoint: {path: b}\n", 9, `set either endpoint.path or path`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := head + c.body
			if c.name == "auth field of its type" {
				y = "sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client:\n        base_url: http://x\n        auth: {type: api_key, api_key: k, locaton: query}\n      resources: [r]\n"
				c.want = `rest_api.client.auth: with type api_key, unknown key "locaton" (did you mean "location"?`
			}
			_, err := parse(t, y)
			if err == nil {
				t.Fatalf("no error")
			}
			var ce *config.Error
			if !asConfigError(err, &ce) || ce.Line != c.line || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %q; want line %d and %q", err, c.line, c.want)
			}
		})
	}
}

func asConfigError(err error, out **config.Error) bool {
	e, ok := err.(*config.Error)
	*out = e
	return ok
}

func TestOtherTopLevelErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_ur: x}\n      resources: [r]\n", `client: unknown key "base_ur" (did you mean "base_url"?`},
		{"sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      resources: [r]\n", `missing required key "client" with base_url`},
		{"sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      base_url: http://x\n      client: {base_url: http://y}\n      resources: [r]\n", `set either client.base_url or base_url`},
		{"sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: http://x}\n      resource_defaults: {endpont: {}}\n      resources: [r]\n", `resource_defaults: unknown key "endpont" (did you mean "endpoint"?`},
		{"sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: http://x, auth: {type: oauth2_client_credentials, client_id: a}}\n      resources: [r]\n", `needs access_token_url`},
	}
	for _, c := range cases {
		if _, err := parse(t, c.yaml); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.yaml, err, c.want)
		}
	}
}

// header_cursor runs (rpag's page loop); body paths are refused at configuration time, with
// their line, because the page loop does not write paginator values into a JSON body.
func TestPaginatorConfigChecked(t *testing.T) {
	if _, err := parse(t, "sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: 'http://x', paginator: header_cursor}\n      resources: [r]\n"); err != nil {
		t.Errorf("header_cursor: %v", err)
	}
	_, err := parse(t, "sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: 'http://x'}\n      resources:\n        - name: r\n          endpoint:\n            method: POST\n            paginator: {type: offset, limit: 10, offset_body_path: page.offset}\n")
	if err == nil || !strings.Contains(err.Error(), "offset_body_path puts the value into a JSON request body") || !strings.Contains(err.Error(), "sources.yml:") {
		t.Errorf("offset_body_path: error %v", err)
	}
}

func TestResourceDefaultsErrorPath(t *testing.T) {
	_, err := parse(t, "sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: 'http://x'}\n      resource_defaults:\n        path: a\n        endpoint: {path: b}\n      resources: [r]\n")
	if err == nil || !strings.Contains(err.Error(), "sources[0].rest_api.resource_defaults.path: set either endpoint.path or path") {
		t.Errorf("error %v", err)
	}
}

// TestDltGithubExample is the GitHub example of dlt's rest_api docs (auth without a type is
// bearer; a param-bound incremental; a child by {resources.issues.number}).
func TestDltGithubExample(t *testing.T) {
	srcs, err := parse(t, `sources:
  - name: github
    type: rest_api
    rest_api:
      client:
        base_url: https://api.github.com/repos/dlt-hub/dlt/
        auth:
          token_env: BLOG_TOKEN
      resource_defaults:
        primary_key: id
        write_disposition: merge
        endpoint:
          params:
            per_page: 100
      resources:
        - name: issues
          endpoint:
            path: issues
            params:
              sort: updated
              direction: desc
              state: open
              since:
                type: incremental
                cursor_path: updated_at
                initial_value: "2024-01-25T11:21:28Z"
        - name: issue_comments
          endpoint:
            path: issues/{resources.issues.number}/comments
          include_from_parent: [id]
`)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := buildResources(srcs[0].Settings)
	if err != nil {
		t.Fatal(err)
	}
	is, ic := rs[0], rs[1]
	if is.StartParam != "since" || is.Incremental == nil || is.Incremental.CursorColumn != "updated_at" || is.Incremental.InitialValue != "2024-01-25T11:21:28Z" {
		t.Errorf("issues %+v", is)
	}
	if _, ok := is.Params["since"]; ok || is.Params["per_page"] != int64(100) || is.Params["state"] != "open" {
		t.Errorf("issues params %v", is.Params)
	}
	if ic.Parent != "issues" || !reflect.DeepEqual(ic.Binds, []Bind{{Key: "resources.issues.number", Field: "number"}}) || ic.Params["per_page"] != int64(100) {
		t.Errorf("issue_comments %+v", ic)
	}
	if a := authValues(srcs[0].Settings); a.String("type") != "bearer" || a.String("token") != "tok-secret" {
		t.Errorf("auth %v", a)
	}
}

func TestChildBeforeParentIsOrdered(t *testing.T) {
	srcs, err := parse(t, "sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: 'http://x'}\n      resources:\n        - {name: grandchild, endpoint: 'c/{resources.child.id}/g'}\n        - {name: child, endpoint: 'p/{resources.parent.id}/c'}\n        - parent\n        - other\n")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := buildResources(srcs[0].Settings)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "parent,child,grandchild,other" {
		t.Errorf("order %v", names)
	}
}

// TestSingleEntityPath: as dlt's single_entity_path, a last path segment with a placeholder
// is one entity: one page, the whole reply ("$"), unless configured otherwise.
func TestSingleEntityPath(t *testing.T) {
	srcs, err := parse(t, "sources:\n  - name: a\n    type: rest_api\n    rest_api:\n      client: {base_url: 'http://x', paginator: json_link}\n      resources:\n        - list\n        - {name: one, endpoint: {path: 'things/{resources.list.id}'}}\n        - {name: two, endpoint: {path: 'pokemon/{name}', params: {name: pikachu}, data_selector: data}}\n        - {name: three, endpoint: 'things/{resources.list.id}/parts'}\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(connectors.Job{Source: srcs[0], ProjectRoot: t.TempDir()}, srcs[0].Settings)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range c.resources {
		got[r.Name] = fmt.Sprintf("%v %s %s", r.Paginator["type"], r.DataSelector, r.Path)
	}
	want := map[string]string{"list": "json_link  list", "one": "single_page $ things/{resources.list.id}", "two": "single_page data pokemon/pikachu",
		"three": "json_link  things/{resources.list.id}/parts"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestOverrideOfUnknownResource(t *testing.T) {
	srcs, err := parse(t, "sources:\n  - name: a\n    type: rest_api\n    resources:\n      postz: {write_disposition: replace}\n    rest_api:\n      client: {base_url: 'http://x'}\n      resources: [posts]\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(connectors.Job{Source: srcs[0], ProjectRoot: t.TempDir()}, srcs[0].Settings)
	if err == nil || !strings.Contains(err.Error(), `.dango/sources.yml:5: resources.postz: no resource of this source is named "postz" (its resources: posts)`) {
		t.Errorf("error %v", err)
	}
}
