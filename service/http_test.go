package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	_ "github.com/dangohq/dango/connectors/all"
	"github.com/dangohq/dango/node"
)

// testAPI is a real service (embedded NATS, a DuckDB warehouse) behind the API's handler on
// a loopback httptest server.
type testAPI struct {
	root string
	api  *API
	srv  *httptest.Server
	tok  string
}

func startAPI(t *testing.T, configured ...string) *testAPI {
	t.Helper()
	root := t.TempDir()
	for name, body := range map[string]string{
		".dango/sources.yml": "version: 1\nsources:\n  - name: sales\n    type: csv\n    write_disposition: replace\n    csv: {path: data/sales.csv}\n",
		"data/sales.csv":     "id,amount\n1,10\n2,20\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := config.Load(root, connectors.Default)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	n, err := node.StartEmbedded(ctx, p, node.Options{Workers: 1, Registry: connectors.Default, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Project: p, Node: n, Registry: connectors.Default, Log: zerolog.Nop(), Parallel: 1}
	if err := s.Start(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	tok, err := EnsureToken(root)
	if err != nil {
		t.Fatal(err)
	}
	a := &API{S: s, Root: root, Tokens: configured, OpenProbes: true,
		Hooks: map[string]Hook{"short": {Secret: []byte("tooshort"), Sync: []string{"sales"}}, "empty": {Sync: []string{"sales"}}}}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() { srv.Close(); s.Close(); n.Close() })
	return &testAPI{root: root, api: a, srv: srv, tok: tok}
}

func (ta *testAPI) do(t *testing.T, method, path string, body string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, ta.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	data, _ := io.ReadAll(resp.Body)
	json.Unmarshal(data, &m)
	return resp, m
}

func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
}

func (ta *testAPI) runs(t *testing.T) int { return len(ta.api.S.Runs()) }

// TestAPINeedsToken: no route but /healthz and /metrics answers without the token; with it
// every one works.
func TestAPINeedsToken(t *testing.T) {
	ta := startAPI(t)
	endpoints := []struct{ method, path, body string }{
		{"POST", "/api/v1/sync", `{"sources": ["sales"], "full_refresh": true}`},
		{"POST", "/api/v1/run", `{}`},
		{"POST", "/api/v1/generate", `{}`},
		{"GET", "/api/v1/runs", ""},
		{"GET", "/api/v1/runs/run_x", ""},
		{"GET", "/api/v1/nothing", ""},
		{"DELETE", "/api/v1/runs/run_x", ""},
	}
	wrong := map[string]map[string]string{
		"no token":        {"Content-Type": "application/json"},
		"wrong token":     bearer("dango_wrong"),
		"prefix of token": bearer(ta.tok[:len(ta.tok)-1]),
		"token and more":  bearer(ta.tok + "x"),
		"empty bearer":    bearer(""),
		"basic scheme":    {"Authorization": "Basic " + ta.tok, "Content-Type": "application/json"},
		"token as query":  {"Content-Type": "application/json", "X-Token": ta.tok},
	}
	for _, e := range endpoints {
		for name, hdr := range wrong {
			resp, m := ta.do(t, e.method, e.path, e.body, hdr)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s, %s: %d %v, want 401", e.method, e.path, name, resp.StatusCode, m)
			}
			if strings.Contains(m["error"].(string), ta.tok) {
				t.Errorf("the 401 shows the token: %v", m)
			}
		}
	}
	if n := ta.runs(t); n != 0 {
		t.Fatalf("%d runs queued without a token", n)
	}
	// With the token.
	resp, m := ta.do(t, "POST", "/api/v1/sync", `{"sources": ["sales"]}`, bearer(ta.tok))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST sync with the token: %d %v", resp.StatusCode, m)
	}
	id := m["run_id"].(string)
	select {
	case <-ta.api.S.Done(id):
	case <-time.After(time.Minute):
		t.Fatal("the sync did not finish")
	}
	for _, e := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/api/v1/runs/" + id, "", 200},
		{"GET", "/api/v1/runs", "", 200},
		{"POST", "/api/v1/generate", `{}`, 200},
		{"GET", "/api/v1/nothing", "", 404},
		{"GET", "/healthz", "", 200},
		{"GET", "/metrics", "", 200},
	} {
		if resp, m := ta.do(t, e.method, e.path, e.body, map[string]string{"Authorization": "bearer " + ta.tok, "Content-Type": "application/json; charset=utf-8"}); resp.StatusCode != e.code {
			t.Errorf("%s %s with the token: %d %v, want %d", e.method, e.path, resp.StatusCode, m, e.code)
		}
	}
}

// TestAPIConfiguredToken: the api_token_env token works beside the generated one.
func TestAPIConfiguredToken(t *testing.T) {
	ta := startAPI(t, "a-configured-token-of-32-bytes!!")
	for _, tok := range []string{"a-configured-token-of-32-bytes!!", ta.tok} {
		if resp, m := ta.do(t, "GET", "/api/v1/runs", "", bearer(tok)); resp.StatusCode != 200 {
			t.Errorf("token %q: %d %v", tok[:4], resp.StatusCode, m)
		}
	}
	if resp, _ := ta.do(t, "GET", "/api/v1/runs", "", bearer("a-configured-token-of-32-bytes!")); resp.StatusCode != 401 {
		t.Errorf("a prefix of the configured token: %d", resp.StatusCode)
	}
}

// TestAPIRefusesNonJSONPosts: a POST that is not declared JSON (what an HTML form or a
// text/plain fetch from another origin sends) gets 415 and queues nothing, token or not.
func TestAPIRefusesNonJSONPosts(t *testing.T) {
	ta := startAPI(t)
	for _, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "text/json", "application/json-patch+json"} {
		for _, path := range []string{"/api/v1/sync", "/api/v1/run", "/api/v1/generate"} {
			hdr := map[string]string{"Authorization": "Bearer " + ta.tok}
			if ct != "" {
				hdr["Content-Type"] = ct
			}
			resp, m := ta.do(t, "POST", path, `{"full_refresh": true}`, hdr)
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("POST %s as %q: %d %v, want 415", path, ct, resp.StatusCode, m)
			}
		}
	}
	if n := ta.runs(t); n != 0 {
		t.Errorf("%d runs queued by non-JSON POSTs", n)
	}
	// Nothing was generated either.
	if _, err := os.Stat(filepath.Join(ta.root, "dbt", "models", "staging")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("generate ran for a non-JSON POST: %v", err)
	}
}

// TestAPINoCORS: a preflight from another origin gets no CORS allowance, a browser's
// cross-origin POST is refused even with a JSON type, and no response carries
// Access-Control-Allow-* headers.
func TestAPINoCORS(t *testing.T) {
	ta := startAPI(t)
	check := func(name string, resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, want)
		}
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s: CORS header %s: %s", name, k, resp.Header.Get(k))
			}
		}
	}
	for _, path := range []string{"/api/v1/sync", "/api/v1/runs", "/healthz", "/hooks/short"} {
		resp, _ := ta.do(t, "OPTIONS", path, "", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization, content-type"})
		check("preflight "+path, resp, http.StatusForbidden)
	}
	resp, _ := ta.do(t, "POST", "/api/v1/sync", `{}`, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site",
		"Content-Type": "application/json", "Authorization": "Bearer " + ta.tok})
	check("cross-site POST", resp, http.StatusForbidden)
	resp, _ = ta.do(t, "POST", "/api/v1/sync", `{}`, map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"})
	check("cross-origin text/plain POST", resp, http.StatusForbidden)
	resp, _ = ta.do(t, "GET", "/api/v1/runs", "", map[string]string{"Origin": "https://evil.example", "Authorization": "Bearer " + ta.tok})
	check("cross-origin GET", resp, http.StatusOK)
	if n := ta.runs(t); n != 0 {
		t.Errorf("%d runs queued by cross-origin requests", n)
	}
}

// TestAPIProbes: /healthz and /metrics are open to loopback requests on a loopback
// listener only; a foreign Host (DNS rebinding) or a non-loopback listener needs the token.
func TestAPIProbes(t *testing.T) {
	ta := startAPI(t)
	for _, path := range []string{"/healthz", "/metrics"} {
		if resp, _ := ta.do(t, "GET", path, "", nil); resp.StatusCode != 200 {
			t.Errorf("%s on loopback: %d", path, resp.StatusCode)
		}
		for _, host := range []string{"evil.example", "evil.example:80", "127.0.0.1.evil.example"} {
			req, _ := http.NewRequest("GET", ta.srv.URL+path, nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("%s with Host %s: %d, want 401", path, host, resp.StatusCode)
			}
		}
	}
	ta.api.OpenProbes = false // as for a non-loopback listener
	for _, path := range []string{"/healthz", "/metrics"} {
		if resp, _ := ta.do(t, "GET", path, "", nil); resp.StatusCode != 401 {
			t.Errorf("%s without the token off loopback: %d, want 401", path, resp.StatusCode)
		}
		if resp, _ := ta.do(t, "GET", path, "", bearer(ta.tok)); resp.StatusCode != 200 {
			t.Errorf("%s with the token off loopback: %d", path, resp.StatusCode)
		}
	}
}

// TestTokenFileAndRotation: the token file is 0600 and random; rotating it makes the running
// API refuse the old token at once; a file others can read, a link or a missing file is
// refused (fail closed), never an open API.
func TestTokenFileAndRotation(t *testing.T) {
	ta := startAPI(t)
	path := filepath.Join(ta.root, TokenFile)
	st, err := os.Lstat(path)
	if err != nil || st.Mode().Perm() != 0o600 || !st.Mode().IsRegular() {
		t.Fatalf("token file: %v %v", st, err)
	}
	if again, err := EnsureToken(ta.root); err != nil || again != ta.tok {
		t.Fatalf("EnsureToken made a new token: %v", err)
	}
	if len(ta.tok) < 40 || !strings.HasPrefix(ta.tok, tokenPrefix) {
		t.Fatalf("token %d chars", len(ta.tok))
	}
	other := t.TempDir()
	if tok2, _ := EnsureToken(other); tok2 == ta.tok {
		t.Fatal("two projects got the same token")
	}
	if resp, _ := ta.do(t, "GET", "/api/v1/runs", "", bearer(ta.tok)); resp.StatusCode != 200 {
		t.Fatalf("before rotation: %d", resp.StatusCode)
	}
	newTok, err := RotateToken(ta.root)
	if err != nil || newTok == ta.tok {
		t.Fatalf("rotate: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("rotated file mode %v", st.Mode())
	}
	if resp, _ := ta.do(t, "GET", "/api/v1/runs", "", bearer(ta.tok)); resp.StatusCode != 401 {
		t.Errorf("old token after rotation: %d, want 401", resp.StatusCode)
	}
	if resp, _ := ta.do(t, "GET", "/api/v1/runs", "", bearer(newTok)); resp.StatusCode != 200 {
		t.Errorf("new token after rotation: %d", resp.StatusCode)
	}
	if matches, _ := filepath.Glob(filepath.Join(ta.root, ".dango", ".api_token-*")); len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}

	// Unusable token files: every request is refused.
	os.Chmod(path, 0o644)
	if _, err := ReadToken(ta.root); err == nil || !strings.Contains(err.Error(), "dango token rotate") {
		t.Errorf("a world-readable token file: %v", err)
	}
	if resp, _ := ta.do(t, "GET", "/api/v1/runs", "", bearer(newTok)); resp.StatusCode != 401 {
		t.Errorf("token from a world-readable file: %d, want 401", resp.StatusCode)
	}
	os.Remove(path)
	target := filepath.Join(ta.root, "elsewhere")
	os.WriteFile(target, []byte(newTok+"\n"), 0o600)
	os.Symlink(target, path)
	if _, err := ReadToken(ta.root); err == nil {
		t.Error("a token file that is a link was accepted")
	}
	// Rotation replaces the link, it does not write through it.
	if _, err := RotateToken(ta.root); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(target); string(data) != newTok+"\n" {
		t.Error("rotation wrote through a link")
	}
	os.Remove(path)
	if resp, _ := ta.do(t, "GET", "/api/v1/runs", "", bearer(newTok)); resp.StatusCode != 401 {
		t.Errorf("no token file: %d, want 401", resp.StatusCode)
	}
	if _, err := ReadToken(ta.root); !errors.Is(err, ErrNoToken) {
		t.Errorf("missing token file: %v", err)
	}
	os.WriteFile(path, []byte("short\n"), 0o600)
	if resp, _ := ta.do(t, "GET", "/api/v1/runs", "", bearer("short")); resp.StatusCode != 401 {
		t.Errorf("a too short token file: %d, want 401", resp.StatusCode)
	}
	// An API with no token source at all refuses everything.
	bare := &API{S: ta.api.S}
	rec := httptest.NewRecorder()
	bare.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/sync", strings.NewReader(`{}`)))
	if rec.Code != 401 {
		t.Errorf("an API without tokens: %d", rec.Code)
	}
}

// TestHookShortSecretAcceptsNothing: even if a hook with a short or empty secret reached
// the API, a request signed with it queues nothing.
func TestHookShortSecretAcceptsNothing(t *testing.T) {
	ta := startAPI(t)
	body := []byte(`{"event": "x"}`)
	for name, secret := range map[string]string{"short": "tooshort", "empty": ""} {
		ts := time.Now().Unix()
		resp, m := ta.do(t, "POST", "/hooks/"+name, string(body), map[string]string{
			HeaderTimestamp: strconv.FormatInt(ts, 10), HeaderSignature: Sign([]byte(secret), ts, body)})
		if resp.StatusCode != 401 {
			t.Errorf("hook %s signed with its secret: %d %v", name, resp.StatusCode, m)
		}
	}
	if n := ta.runs(t); n != 0 {
		t.Errorf("%d runs queued", n)
	}
}

// TestClientSendsTokenAndJSON: the CLI's client finds the server, sends the token and a JSON
// body, and reports a refused token as ErrUnauthorized.
func TestClientSendsTokenAndJSON(t *testing.T) {
	ta := startAPI(t)
	p := ta.api.S.Project
	if err := WriteInfo(p, Info{API: ta.srv.URL, NATS: ta.api.S.Node.Bus.ClientURL(), PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(ta.root, InfoFile))
	if bytes.Contains(data, []byte(ta.tok)) {
		t.Fatal("serve.json carries the token")
	}
	c := FindServer(p)
	if c == nil {
		t.Fatal("FindServer found nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := c.Submit(ctx, "/api/v1/sync", nil) // no body: the client sends {}
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Wait(ctx, id); err != nil || r.Status != Success {
		t.Fatalf("run %v %v", r, err)
	}
	if _, err := RotateToken(ta.root); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, "/api/v1/run", map[string]any{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("stale token: %v", err)
	}
	if c := FindServer(p); c == nil {
		t.Error("FindServer after the rotation found nothing")
	} else if id, err := c.Submit(ctx, "/api/v1/sync", map[string]any{"sources": []string{"sales"}}); err != nil {
		t.Errorf("re-found client after the rotation: %v", err)
	} else if r, err := c.Wait(ctx, id); err != nil || r.Status != Success {
		t.Errorf("run after the rotation: %v %v", r, err)
	}
}
