package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// leakyAPI is the worst server a source can meet: every refusal quotes back what it was sent
// (the URL with its query, the Authorization and API key headers, the body), so any secret
// dango sends ends up in an error text dango must print without it.
type leakyAPI struct {
	goodToken, oauthID, oauthSecret, oauthToken, googleToken string

	mu     sync.Mutex
	echoes map[string]int // path prefix → refusals that quoted a credential
	grants int            // OAuth2 and Google tokens issued
}

func (a *leakyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/ok/items" && r.Header.Get("Authorization") == "Bearer "+a.goodToken:
		fmt.Fprint(w, `{"data": [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}]}`)
		return
	case r.URL.Path == "/oauth/token":
		if id, secret, ok := r.BasicAuth(); ok && id == a.oauthID && secret == a.oauthSecret {
			a.grant()
			json.NewEncoder(w).Encode(map[string]any{"access_token": a.oauthToken, "expires_in": 3600})
			return
		}
	case r.URL.Path == "/google/token":
		a.grant()
		json.NewEncoder(w).Encode(map[string]any{"access_token": a.googleToken, "expires_in": 3600})
		return
	}
	echo := fmt.Sprintf("denied %s %s; Authorization: %s; X-Api-Key: %s; X-Custom-Auth: %s; body: %s",
		r.Method, r.URL.String(), r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"), r.Header.Get("X-Custom-Auth"), body)
	a.mu.Lock()
	a.echoes[strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]]++
	a.mu.Unlock()
	w.WriteHeader(http.StatusUnauthorized)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": echo}})
}

func (a *leakyAPI) grant() {
	a.mu.Lock()
	a.grants++
	a.mu.Unlock()
}

// closedPort is a loopback port nothing listens on: connection refused.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return fmt.Sprint(port)
}

// TestNoSecretInAnyOutput plants a distinctive secret for every credential every source type
// takes — through the process environment, .env and .dlt/secrets.toml — makes the sources
// fail the ways that leak (refused connections, unknown hosts, 401s that quote the request,
// wrong passwords, URLs that do not parse), runs successful syncs too, with -v and
// --log-json, `source list`, `sync --dry-run` and a `dango serve` run, then looks for every
// secret in everything dango produced: stdout and stderr, every file it wrote in the
// project, the warehouse's every table and column, and the server's run records.
func TestNoSecretInAnyOutput(t *testing.T) {
	rnd := make([]byte, 4)
	rand.Read(rnd)
	tag := hex.EncodeToString(rnd)
	sec := func(kind string) string { return "s3cr3t-" + kind + "-" + tag }

	api := &leakyAPI{goodToken: sec("bearer-ok"), oauthID: "client-" + tag, oauthSecret: sec("oauth-client"),
		oauthToken: sec("oauth-access"), googleToken: sec("google-access"), echoes: map[string]int{}}
	srv := httptest.NewServer(api)
	defer srv.Close()

	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	keyLine := strings.Split(keyPEM, "\n")[1] // 64 characters of the key itself
	saJSON, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "loader@p.iam.gserviceaccount.com",
		"private_key_id": sec("sa-keyid"), "private_key": keyPEM, "token_uri": srv.URL + "/google/token"})

	closed := closedPort(t)
	// Every secret, with where it is planted.
	secrets := map[string]string{ // name → value
		"BEARER_OK":     api.goodToken,
		"OAUTH_ID":      api.oauthID, // not secret by itself, but sent only inside basic auth
		"OAUTH_ACCESS":  api.oauthToken,
		"GOOGLE_ACCESS": api.googleToken,
		"SA_KEYID":      sec("sa-keyid"),
		"SA_KEYLINE":    keyLine,
	}
	env := map[string]string{ // process environment
		"BEARER_OK":          api.goodToken,
		"STRIPE_KEY":         "sk_test_" + strings.ReplaceAll(sec("stripe"), "-", ""),
		"GOOGLE_SA":          string(saJSON),
		"HEADER_TOKEN":       sec("header-var"),
		"PG_URL_CLOSED":      "postgres://loader:" + sec("pg-url") + "@127.0.0.1:" + closed + "/shop?sslmode=disable",
		"NATS_URL_PW":        "nats://natsuser:" + sec("nats-pw") + "@127.0.0.1:" + closed,
		"MY_URL_MALFORMED":   "mysql://dango:" + sec("mysql-mal") + "#x@127.0.0.1:" + closed + "/db", // the reported leak
		"PG_URL_MALFORMED":   "postgres://u:" + sec("pg-mal") + "%zz@127.0.0.1:" + closed + "/db",
		"NATS_URL_MALFORMED": "nats://u:" + sec("nats-mal") + "%zz@127.0.0.1:" + closed,
	}
	dotenv := map[string]string{
		"BEARER_BAD":     sec("bearer-bad"),
		"APIKEY_QUERY":   sec("apikey-query"),
		"OAUTH_SECRET":   api.oauthSecret,
		"PG_PASSWORD":    sec("pg-kv"),
		"NATS_URL_TOKEN": "nats://" + sec("nats-token") + "@127.0.0.1:" + closed,
		"MY_PASSWORD":    sec("mysql-kv"),
	}
	toml := map[string]string{ // top-level keys, and dlt's section form
		"APIKEY_HEADER":                 sec("apikey-header"),
		"SOURCES__REST_BASIC__PASSWORD": sec("basic"),
		"SOURCES__SHEETS_KEY__API_KEY":  sec("sheets-apikey"),
		"BADHOST_TOKEN":                 sec("badhost"),
		"MY_DSN":                        "dango:" + sec("mysql-dsn") + "@tcp(127.0.0.1:" + closed + ")/db",
	}
	for _, m := range []map[string]string{env, dotenv, toml} {
		for k, v := range m {
			secrets[k] = v
		}
	}
	delete(secrets, "GOOGLE_SA") // checked through its parts: SA_KEYID, SA_KEYLINE
	for k, v := range env {
		t.Setenv(k, v)
	}

	sources := `version: 1
sources:
  - name: files
    type: csv
    csv: {path: data/a.csv}
  - name: rest_ok
    type: rest_api
    rest_api:
      base_url: {{srv}}/ok
      auth: {type: bearer, token_env: BEARER_OK}
      resources: [{name: items, path: /items, data_selector: data, primary_key: id}]
  - name: rest_bearer
    type: rest_api
    rest_api:
      base_url: {{srv}}/bearer
      auth: {type: bearer, token_env: BEARER_BAD}
      resources: [{name: items, path: /items}]
  - name: rest_apikey_header
    type: rest_api
    rest_api:
      base_url: {{srv}}/apikey
      auth: {type: api_key, name: X-Api-Key, api_key_env: APIKEY_HEADER}
      resources: [{name: items, path: /items}]
  - name: rest_apikey_query
    type: rest_api
    rest_api:
      base_url: {{srv}}/query
      auth: {type: api_key, name: api_key, location: query, api_key_env: APIKEY_QUERY}
      resources: [{name: items, path: /items}]
  - name: rest_apikey_refused
    type: rest_api
    rest_api:
      base_url: http://127.0.0.1:{{closed}}/v1
      auth: {type: api_key, name: api_key, location: query, api_key_env: APIKEY_QUERY}
      max_retry_time: 1500ms
      resources: [{name: items, path: /items}]
  - name: rest_basic
    type: rest_api
    rest_api:
      base_url: {{srv}}/basic
      auth: {type: basic, username: loader, password_env: SOURCES__REST_BASIC__PASSWORD}
      resources: [{name: items, path: /items}]
  - name: rest_oauth
    type: rest_api
    rest_api:
      base_url: {{srv}}/oauth
      auth: {type: oauth2_client_credentials, client_id: {{oauthid}}, client_secret_env: OAUTH_SECRET, token_url: {{srv}}/oauth/token}
      resources: [{name: items, path: /items}]
  - name: rest_header_var
    type: rest_api
    rest_api:
      base_url: {{srv}}/header
      headers: {X-Custom-Auth: "${HEADER_TOKEN}"}
      resources: [{name: items, path: /items}]
  - name: rest_badhost
    type: rest_api
    rest_api:
      base_url: http://nonexistent-host.invalid/v1
      auth: {type: bearer, token_env: BADHOST_TOKEN}
      max_retry_time: 1s
      resources: [{name: items, path: /items}]
  - name: stripe_src
    type: stripe
    stripe: {stripe_secret_key_env: STRIPE_KEY, api_base: {{srv}}/stripe, endpoints: [charges], max_retry_time: 2s}
  - name: sheets_sa
    type: google_sheets
    google_sheets: {spreadsheet_url_or_id: sheet123, credentials_env: GOOGLE_SA, api_base: {{srv}}/google, requests_per_second: 50}
  - name: sheets_key
    type: google_sheets
    google_sheets: {spreadsheet_url_or_id: sheet123, api_key_env: SOURCES__SHEETS_KEY__API_KEY, api_base: {{srv}}/google, requests_per_second: 50}
  - name: pg_url_refused
    type: postgres
    postgres: {credentials_env: PG_URL_CLOSED, max_retry_time: 1s}
  - name: pg_keys_badhost
    type: postgres
    postgres: {host: nonexistent-host.invalid, user: loader, password_env: PG_PASSWORD, database: shop, max_retry_time: 1s}
  - name: pg_malformed
    type: postgres
    postgres: {credentials_env: PG_URL_MALFORMED, max_retry_time: 1s}
  - name: my_malformed
    type: mysql
    mysql: {credentials_env: MY_URL_MALFORMED, max_retry_time: 1s}
  - name: my_dsn
    type: mysql
    mysql: {credentials_env: MY_DSN, max_retry_time: 1s}
  - name: my_keys_refused
    type: mysql
    mysql: {host: 127.0.0.1, port: {{closed}}, user: loader, password_env: MY_PASSWORD, database: shop, max_retry_time: 1s}
  - name: nats_userpass
    type: nats
    nats: {url_env: NATS_URL_PW, stream: EVENTS}
  - name: nats_token
    type: nats
    nats: {url_env: NATS_URL_TOKEN, stream: EVENTS}
  - name: nats_malformed
    type: nats
    nats: {url_env: NATS_URL_MALFORMED, stream: EVENTS}
`
	// Wrong passwords on the real database servers, when scripts/testdb.sh started them.
	for _, db := range []struct{ env, name, typ, kind string }{
		{"DANGO_PG_URL", "pg_wrong_password", "postgres", "pg-real"},
		{"DANGO_MYSQL_URL", "my_wrong_password", "mysql", "mysql-real"},
	} {
		base := os.Getenv(db.env)
		if base == "" {
			t.Logf("%s not set: no wrong-password case against a real %s server (run under scripts/testdb.sh)", db.env, db.typ)
			continue
		}
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), sec(db.kind))
		v := strings.ToUpper(db.name)
		t.Setenv(v, u.String())
		secrets[v] = sec(db.kind)
		sources += fmt.Sprintf("  - name: %s\n    type: %s\n    %s: {credentials_env: %s, max_retry_time: 1s}\n", db.name, db.typ, db.typ, v)
	}
	// A real NATS server that wants a user and password: a source with the wrong one, and a
	// dango serve that uses it with the right one.
	natsAuthURL := ""
	if bin := os.Getenv("DANGO_NATS_SERVER"); bin != "" {
		natsAuthURL = startAuthNATS(t, bin, "natsuser", sec("nats-server-pw"))
		secrets["NATS_SERVER_PW"] = sec("nats-server-pw")
		wrong := strings.Replace(natsAuthURL, sec("nats-server-pw"), sec("nats-wrong-pw"), 1)
		t.Setenv("NATS_URL_WRONG", wrong)
		secrets["NATS_URL_WRONG"] = sec("nats-wrong-pw")
		sources += "  - name: nats_wrong_password\n    type: nats\n    nats: {url_env: NATS_URL_WRONG, stream: EVENTS}\n"
	} else {
		t.Log("DANGO_NATS_SERVER not set: no case against a NATS server that checks passwords")
	}
	sources = strings.NewReplacer("{{srv}}", srv.URL, "{{closed}}", closed, "{{oauthid}}", api.oauthID).Replace(sources)

	dir := newProject(t, sources)
	writeFile(t, dir, "data/a.csv", "id,name\n1,a\n2,b\n")
	var de, dt strings.Builder
	for _, k := range sortedKeys(dotenv) {
		fmt.Fprintf(&de, "%s=%s\n", k, dotenv[k])
	}
	writeFile(t, dir, ".env", de.String())
	sections := map[string]map[string]string{}
	for _, k := range sortedKeys(toml) {
		if parts := strings.Split(k, "__"); len(parts) == 3 {
			s := strings.ToLower(parts[0] + "." + parts[1])
			if sections[s] == nil {
				sections[s] = map[string]string{}
			}
			sections[s][strings.ToLower(parts[2])] = toml[k]
			continue
		}
		fmt.Fprintf(&dt, "%s = %q\n", k, toml[k])
	}
	for _, s := range sortedKeys(sections) {
		fmt.Fprintf(&dt, "\n[%s]\n", s)
		for _, k := range sortedKeys(sections[s]) {
			fmt.Fprintf(&dt, "%s = %q\n", k, sections[s][k])
		}
	}
	writeFile(t, dir, ".dlt/secrets.toml", dt.String())
	// Files the user wrote hold the secrets by design; everything else must not.
	userFiles := map[string]bool{".env": true, ".dlt/secrets.toml": true, ".dango/sources.yml": true}

	var outputs []string // "what: text"
	record := func(what string, r result) result {
		outputs = append(outputs, what+" stdout: "+r.stdout, what+" stderr: "+r.stderr)
		return r
	}

	// The syncs: the failing sources fail, the others load, whatever the log format.
	start := time.Now()
	r := record("sync", dango(t, dir, "sync", "--workers", "8"))
	t.Logf("sync took %s", time.Since(start).Round(time.Millisecond))
	if r.code != 1 {
		t.Fatalf("sync: exit %d, want 1 (some sources fail):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, ok := range []string{"files", "rest_ok"} {
		if !strings.Contains(r.stdout, "✓ Sync complete") || strings.Contains(r.stdout, "✗ Sync failed for "+ok+"\n") {
			t.Errorf("source %s did not load:\n%s", ok, r.stdout)
		}
	}
	for _, name := range ymlSourceNames(sources) {
		if name != "files" && name != "rest_ok" && !strings.Contains(r.stdout, "✗ Sync failed for "+name+"\n") {
			t.Errorf("source %s did not fail:\n%s", name, r.stdout)
		}
	}
	// The real servers refused the password (the case reached them, not a closed port).
	for name, want := range map[string]string{"pg_wrong_password": "password authentication failed", "my_wrong_password": "Access denied",
		"nats_wrong_password": "Authorization Violation"} {
		if strings.Contains(sources, "name: "+name+"\n") && !strings.Contains(r.stdout, want) {
			t.Errorf("%s: the server did not refuse the password (%q not in the output):\n%s", name, want, r.stdout)
		}
	}
	record("sync -v", dango(t, dir, "-v", "sync", "--workers", "8"))
	record("sync --log-json", dango(t, dir, "--log-json", "-v", "sync", "--workers", "8"))
	record("sync one source", dango(t, dir, "sync", "--source", "my_malformed,pg_malformed,rest_oauth"))
	if r := record("source list", dango(t, dir, "source", "list")); r.code != 0 || !strings.Contains(r.stdout, "rest_ok") {
		t.Errorf("source list: %+v", r)
	}
	if r := record("dry run", dango(t, dir, "-v", "sync", "--dry-run")); !strings.Contains(r.stdout, "DRY RUN MODE") {
		t.Errorf("dry run: %+v", r)
	}
	record("query", dango(t, dir, "query", "SELECT count(*) AS n FROM raw_rest_ok.items"))

	// The leaky server really received (and quoted back) the credentials: the test exercised
	// the paths that leak.
	api.mu.Lock()
	for _, p := range []string{"bearer", "apikey", "query", "basic", "oauth", "header", "stripe", "google"} {
		if api.echoes[p] == 0 {
			t.Errorf("no request of %s reached the server; the case tests nothing", p)
		}
	}
	if api.grants == 0 {
		t.Error("no OAuth2 or Google token was issued; the runtime-token cases test nothing")
	}
	api.mu.Unlock()

	// dango serve: run records and events carry the same errors.
	serveRecord := func() {
		s := startServe(t, dir, "--workers", "4")
		code, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{"sources": ["rest_bearer", "my_malformed", "my_dsn", "pg_malformed", "nats_userpass", "rest_oauth", "sheets_sa"]}`), nil)
		if code != http.StatusAccepted {
			t.Fatalf("POST /api/v1/sync: %d %v\n%s", code, m, s.out.String())
		}
		id, _ := m["run_id"].(string)
		run := s.waitRun(t, id, s.tok)
		if run["status"] != "failed" {
			t.Errorf("serve run: status %v, want failed", run["status"])
		}
		js, _ := json.Marshal(run)
		outputs = append(outputs, "GET /api/v1/runs/"+id+": "+string(js))
		if !strings.Contains(string(js), "[redacted]") {
			t.Errorf("the run record shows no redacted error; did the leaking paths run?\n%s", js)
		}
		// The CLI submits to the running server and shows its events.
		record("sync via serve", dango(t, dir, "sync", "--source", "rest_basic,my_malformed"))
		s.stop()
		outputs = append(outputs, "serve output: "+s.out.String())
	}
	serveRecord()
	if natsAuthURL != "" {
		// dango serve on the external NATS, its credentials in the URL: serve.json must not
		// keep them, and the CLI still follows a sync (through the API).
		s := startServe(t, dir, "--workers", "2", "--nats", natsAuthURL)
		r := record("sync via serve on authenticated NATS", dango(t, dir, "sync", "--source", "rest_basic,my_malformed"))
		if !strings.Contains(r.stdout, "Submitted to dango serve") || !strings.Contains(r.stdout, "✗ Sync failed for my_malformed") {
			t.Errorf("sync through dango serve on an authenticated NATS:\n%s\n%s\nserve:\n%s", r.stdout, r.stderr, s.out.String())
		}
		info, err := os.ReadFile(filepath.Join(dir, ".dango", "serve.json"))
		if err != nil {
			t.Fatalf("serve.json: %v", err)
		}
		outputs = append(outputs, "serve.json: "+string(info))
		s.stop()
		outputs = append(outputs, "serve (external NATS) output: "+s.out.String())
	}

	// Every file dango wrote in the project.
	var files int
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if userFiles[filepath.ToSlash(rel)] {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("read %s: %v", rel, err)
			return nil
		}
		files++
		outputs = append(outputs, "file "+rel+": "+string(data))
		return nil
	})
	// The warehouse, every table and column as text.
	db, err := sql.Open("duckdb", filepath.Join(dir, "data", "warehouse.duckdb")+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables, err := db.Query(`SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var names [][2]string
	for tables.Next() {
		var s, n string
		tables.Scan(&s, &n)
		names = append(names, [2]string{s, n})
	}
	tables.Close()
	if len(names) < 3 {
		t.Fatalf("the warehouse has %d tables; the successful syncs did not load", len(names))
	}
	for _, n := range names {
		rows, err := db.Query(fmt.Sprintf(`SELECT CAST(to_json(t) AS VARCHAR) FROM %q.%q AS t`, n[0], n[1]))
		if err != nil {
			t.Fatalf("dump %s.%s: %v", n[0], n[1], err)
		}
		var b strings.Builder
		for rows.Next() {
			var line string
			rows.Scan(&line)
			b.WriteString(line + "\n")
		}
		rows.Close()
		outputs = append(outputs, "table "+n[0]+"."+n[1]+": "+b.String())
	}
	t.Logf("searched %d outputs (%d files, %d tables) for %d secrets", len(outputs), files, len(names), len(secrets))

	// Each secret, in the forms it travels in.
	forms := map[string]string{}
	for name, v := range secrets {
		forms[name] = v
		forms[name+" (query-escaped)"] = url.QueryEscape(v)
		forms[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(v))
		j, _ := json.Marshal(v)
		forms[name+" (JSON)"] = strings.Trim(string(j), `"`)
	}
	forms["basic auth header"] = base64.StdEncoding.EncodeToString([]byte("loader:" + sec("basic")))
	forms["oauth2 client basic auth"] = base64.StdEncoding.EncodeToString([]byte(api.oauthID + ":" + api.oauthSecret))
	delete(forms, "OAUTH_ID") // the client id alone is no secret
	delete(forms, "OAUTH_ID (query-escaped)")
	delete(forms, "OAUTH_ID (JSON)")
	delete(forms, "OAUTH_ID (base64)")
	var leaks []string
	seen := map[string]bool{} // one report per value and output
	for _, name := range sortedKeys(forms) {
		f := forms[name]
		for _, o := range outputs {
			if seen[f+"\x00"+o[:min(len(o), 60)]] {
				continue
			}
			if i := strings.Index(o, f); i >= 0 {
				seen[f+"\x00"+o[:min(len(o), 60)]] = true
				where, _, _ := strings.Cut(o, ": ")
				from, to := max(0, i-120), min(len(o), i+len(f)+40)
				leaks = append(leaks, fmt.Sprintf("%s in %s: …%s…", name, where, o[from:to]))
			}
		}
	}
	if len(leaks) > 0 {
		t.Fatalf("%d secrets leaked:\n%s", len(leaks), strings.Join(leaks, "\n"))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ymlSourceNames lists the names in a sources.yml text.
func ymlSourceNames(yml string) []string {
	var out []string
	for _, l := range strings.Split(yml, "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "- name: "); ok {
			out = append(out, n)
		}
	}
	return out
}

// startAuthNATS runs the real nats-server with JetStream and a user and password, and returns
// its URL with the credentials.
func startAuthNATS(t *testing.T, bin, user, pass string) string {
	t.Helper()
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	runNATSServer(t, addr, exec.Command(bin, "-js", "-a", host, "-p", port, "-sd", t.TempDir(), "--user", user, "--pass", pass))
	return "nats://" + user + ":" + pass + "@" + addr
}
