package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedactPatterns(t *testing.T) {
	cases := []struct {
		name, in, secret string
		keep             string // must survive: redaction must not eat the context
	}{
		{"postgres URL", `connect to postgres://alice:pg-Pass-91@db.example:5432/shop failed`, "pg-Pass-91", "alice"},
		{"URL with unescaped #", `parse "postgres://bob:ab#cd/ef@h/db": invalid`, "ab#cd/ef", "bob"},
		{"nats user:pass", `nats://natsuser:n4ts-pw-x@10.0.0.1:4222`, "n4ts-pw-x", "10.0.0.1:4222"},
		{"nats token", `connect nats://tok3n-abcdef@nats:4222 refused`, "tok3n-abcdef", "nats:4222"},
		{"mysql DSN", `Error 1045: root:my-dsn-pw@tcp(127.0.0.1:3306)/app`, "my-dsn-pw", "tcp(127.0.0.1:3306)"},
		{"libpq key/value", `cannot parse host=h user=u password=kv-secret-1 dbname=d`, "kv-secret-1", "dbname=d"},
		{"quoted key/value", `password='quoted secret' host=h`, "quoted secret", "host=h"},
		{"query api key", `GET https://api.example/v1/items?page=2&api_key=QK-123456&x=1: EOF`, "QK-123456", "page=2"},
		{"google key", `GET /v4/spreadsheets?key=AIzaSyA-1234567890abcdefghijklmnopqrstu`, "AIzaSyA-1234567890abcdefghijklmnopqrstu", "spreadsheets"},
		{"authorization header", `request had Authorization: Bearer abc.def.ghi-token`, "abc.def.ghi-token", "request had"},
		{"basic header", `echo: authorization=Basic dXNlcjpwYXNz`, "dXNlcjpwYXNz", "echo"},
		{"bearer token", `sent bearer eyJhbGciOiJSUzI1NiJ9.payload.signature`, "eyJhbGciOiJSUzI1NiJ9", "sent"},
		{"stripe key", `Invalid API Key provided: sk_test_51HabcdefGHIJKLmnop`, "sk_test_51HabcdefGHIJKLmnop", "Invalid API Key"},
		{"PEM", "key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY----- end", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "end"},
		{"PEM JSON-escaped", `{"private_key":"-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX\n-----END RSA PRIVATE KEY-----\n"}`, "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX", "private_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.in)
			if strings.Contains(got, tc.secret) {
				t.Errorf("Redact(%q) = %q: still holds %q", tc.in, got, tc.secret)
			}
			if !strings.Contains(got, Redacted) {
				t.Errorf("Redact(%q) = %q: no %s marker", tc.in, got, Redacted)
			}
			if !strings.Contains(got, tc.keep) {
				t.Errorf("Redact(%q) = %q: lost %q, which is no secret", tc.in, got, tc.keep)
			}
		})
	}
}

func TestRedactLeavesOrdinaryTextAlone(t *testing.T) {
	for _, s := range []string{
		"Fetching orders (incremental from 2024-11-01)",
		"connect to PostgreSQL: failed to connect to `user=alice database=shop`: 127.0.0.1:5432: dial tcp: connection refused",
		"GET http://127.0.0.1:8080/v1/items: 401 Unauthorized",
		"AuthenticationError: invalid token (HTTP 401); check the credentials in .env or .dlt/secrets.toml",
		"auth.type bearer requires token_env",
		"Loaded 1,000 rows from public.orders",
		"see https://docs.example.com/a@b for help",
	} {
		if got := Redact(s); got != s {
			t.Errorf("Redact changed text without secrets:\n  in  %q\n  out %q", s, got)
		}
	}
}

func TestRegisteredSecretsAndTheirEncodings(t *testing.T) {
	sec := "s3cr3t-reg+/ &\"x"
	RegisterSecret(sec)
	for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec), jsonEscaped(sec)} {
		msg := "upstream said: <" + form + "> and stopped"
		got := Redact(msg)
		if strings.Contains(got, form) {
			t.Errorf("Redact(%q) = %q: kept the registered secret's form %q", msg, got, form)
		}
		if !strings.Contains(got, "upstream said") {
			t.Errorf("Redact(%q) = %q: lost the context", msg, got)
		}
	}
	RegisterSecret("ab") // too short to register: would garble every message
	if got := Redact("tab label"); got != "tab label" {
		t.Errorf("a two-letter value was registered: %q", got)
	}
}

// Secrets planted in sources.yml — inline, through *_env from the environment, .env and
// .dlt/secrets.toml — are registered as the file is read; user names and hosts are not.
func TestSourcesRegisterTheirSecrets(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, ".dlt"), 0o755)
	os.WriteFile(filepath.Join(root, ".env"), []byte("TOKEN_FROM_DOTENV=s3cr3t-dotenv-7781\nUSER_FROM_DOTENV=plainuser-0042\n"), 0o644)
	os.WriteFile(filepath.Join(root, ".dlt", "secrets.toml"), []byte("[sources.api]\npassword = \"s3cr3t-toml-5521\"\n"), 0o644)
	t.Setenv("KEY_FROM_ENV", "s3cr3t-env-3390")
	t.Setenv("URL_FROM_ENV", "postgres://u:s3cr3t-urlpw-1200@h/db")
	yml := `version: 1
sources:
  - name: api
    type: t
    t:
      token_env: TOKEN_FROM_DOTENV
      username_env: USER_FROM_DOTENV
      password_env: SOURCES__API__PASSWORD
      api_key_env: KEY_FROM_ENV
      base_url_env: URL_FROM_ENV
      client_secret: s3cr3t-inline-4410
      headers: {X-Api-Key: s3cr3t-header-8812, Accept: application/json}
`
	specs := testSpecs{"t": {Type: "t", Fields: []Field{
		{Name: "token", Kind: String}, {Name: "username", Kind: String}, {Name: "password", Kind: String},
		{Name: "api_key", Kind: String}, {Name: "base_url", Kind: String}, {Name: "client_secret", Kind: String},
		{Name: "headers", Kind: Map},
	}}}
	srcs, err := ParseSources(SourcesFile, []byte(yml), specs, NewSecretResolver(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"s3cr3t-dotenv-7781", "s3cr3t-toml-5521", "s3cr3t-env-3390", "s3cr3t-urlpw-1200", "s3cr3t-inline-4410", "s3cr3t-header-8812"} {
		if got := Redact("error: " + s); strings.Contains(got, s) {
			t.Errorf("%s was not registered: %q", s, got)
		}
	}
	if got := Redact("user plainuser-0042"); got != "user plainuser-0042" {
		t.Errorf("a user name read through username_env was redacted: %q", got)
	}
	// The values themselves never print, in text or JSON.
	out := fmt.Sprintf("%v %+v %#v", srcs[0].Settings, srcs[0], srcs[0].Settings)
	js, _ := json.Marshal(srcs[0].Settings)
	for _, s := range []string{"s3cr3t-dotenv-7781", "s3cr3t-env-3390", "s3cr3t-toml-5521"} {
		if strings.Contains(out, s) || strings.Contains(string(js), s) {
			t.Errorf("%s printed by fmt or encoding/json:\n%s\n%s", s, out, js)
		}
	}
}

func TestRedactErrorAndWriter(t *testing.T) {
	base := errors.New("dial postgres://u:s3cr3t-err-6621@h/db: refused")
	err := RedactError(fmt.Errorf("connect: %w", base))
	if strings.Contains(err.Error(), "s3cr3t-err-6621") {
		t.Errorf("RedactError kept the password: %v", err)
	}
	if !errors.Is(err, base) {
		t.Error("RedactError broke errors.Is")
	}
	if RedactError(nil) != nil {
		t.Error("RedactError(nil) is not nil")
	}
	var buf bytes.Buffer
	w := RedactWriter(&buf)
	line := []byte("mysql://root:s3cr3t-w-7710@db:3306/x\n")
	if n, err := w.Write(line); err != nil || n != len(line) {
		t.Errorf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if strings.Contains(buf.String(), "s3cr3t-w-7710") {
		t.Errorf("RedactWriter let the password through: %q", buf.String())
	}
}

func TestRedactKeepsPlaceholdersAndIsIdempotent(t *testing.T) {
	for _, s := range []string{
		"credentials: want mysql://user:password@host:3306/database",
		"GET /items?api_key=[redacted]; next",
		"password=[redacted] host=h",
		"postgres://u:[redacted]@h/db",
	} {
		if got := Redact(s); got != s {
			t.Errorf("Redact(%q) = %q, want it unchanged", s, got)
		}
	}
	RegisterSecret("s3cr3t-idem-1234")
	once := Redact(`Get "http://h/v1/items?api_key=s3cr3t-idem-1234": refused; Authorization: Bearer s3cr3t-idem-1234`)
	if twice := Redact(once); twice != once || strings.Contains(once, "]]") {
		t.Errorf("Redact is not idempotent or doubles the marker:\n once  %q\n twice %q", once, twice)
	}
}

// Connectors register secrets (fresh OAuth2 tokens) while other goroutines redact.
func TestRegisterAndRedactConcurrently(t *testing.T) {
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				s := fmt.Sprintf("s3cr3t-conc-%d-%d", g, i)
				RegisterSecret(s)
				if got := Redact("token " + s); strings.Contains(got, s) {
					t.Errorf("just registered %s, still printed: %q", s, got)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// A .env or secrets.toml that does not parse is reported by line, never by quoting it.
func TestSecretFileSyntaxErrorsDoNotQuoteValues(t *testing.T) {
	cases := []struct{ file, content, want string }{
		{".env", "A=1\nTOKEN=\"s3cr3t-open-quote-1\nB=2\n", ".env:2: "},
		{".dlt/secrets.toml", "a = \"x\"\ntoken = s3cr3t-unquoted-2\n", ".dlt/secrets.toml:2: "},
	}
	for _, tc := range cases {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, ".dlt"), 0o755)
		os.WriteFile(filepath.Join(root, tc.file), []byte(tc.content), 0o644)
		_, err := NewSecretResolver(root).Lookup("NOT_IN_THE_ENVIRONMENT_X")
		if err == nil {
			t.Fatalf("%s: no error", tc.file)
		}
		if strings.Contains(err.Error(), "s3cr3t") || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v (want it to start %q and quote nothing)", tc.file, err, tc.want)
		}
	}
}

func TestURLPasswordsRegisteredAsWrittenAndDecoded(t *testing.T) {
	registerSetting("base_url", "postgres://u:s3cr3t%40enc-4471@h/db,nats://s3cr3t-tok-4472@n:4222")
	for _, s := range []string{"s3cr3t%40enc-4471", "s3cr3t@enc-4471", "s3cr3t-tok-4472"} {
		if got := Redact("near " + s + " end"); strings.Contains(got, s) {
			t.Errorf("%q not registered: %q", s, got)
		}
	}
}

func TestURLPasswordWithComma(t *testing.T) {
	registerSetting("url", "postgres://u:s3cr3t,comma-4473@h/db")
	if got := Redact("near s3cr3t,comma-4473 end"); strings.Contains(got, "s3cr3t,comma-4473") {
		t.Errorf("a password with a comma is not registered: %q", got)
	}
}

// `dango source types` documents keys in prose that looks like key/value text.
func TestRedactLeavesDocumentationAlone(t *testing.T) {
	for _, s := range []string{
		"| `auth.name` | string | `Authorization` | api_key: header or query parameter name. |",
		"| `auth.location` | string | `header` | api_key: where it goes. One of: header, query. |",
		"| `auth.password` | string |  | basic: password (use password_env). |",
		"Connection URL (postgres://user:password@host:port/database); give it as credentials_env naming a variable.",
	} {
		if got := Redact(s); got != s {
			t.Errorf("Redact changed documentation:\n  in  %q\n  out %q", s, got)
		}
	}
}
