package config

import (
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Redaction keeps secrets out of everything dango prints, logs, publishes or stores.
//
// It works in two layers, both applied by Redact:
//
//   - Known secrets. Every credential dango resolves is registered here as it is read: the
//     value of a key whose name says it is a secret (password, token, api_key,
//     client_secret, credentials, …) whether given inline or through *_env, the password (or
//     NATS token) inside any URL of the configuration, every value SecretResolver.Lookup
//     returns, and what connectors derive at run time (a basic-auth header, an OAuth2 access
//     token, a service account's private key). Each is replaced wherever it appears, also in
//     its URL-, query- and JSON-escaped forms.
//   - Shapes of secrets dango never saw: the password of any scheme://user:password@host
//     URL, a MySQL DSN's user:password@tcp(…), password=… in key/value connection strings,
//     secret query parameters (?api_key=…), Authorization headers, PEM private keys, Stripe
//     and Google API keys. These catch what a driver or server echoes back in a form the
//     first layer cannot know (a URL typed on the command line, a key a server quotes).
//
// The sinks call Redact once each: events as they are published (events.Bus), the message
// that ends a failed job (worker), run records and API errors (service), and the console and
// log writers of the command line (RedactWriter).

// Redacted replaces a secret in messages.
const Redacted = "[redacted]"

// minSecretLen is the shortest value registered: replacing one- or two-letter strings
// everywhere would garble every message while protecting nothing real.
const minSecretLen = 3

var registry = struct {
	sync.RWMutex
	set    map[string]struct{}
	sorted []string // longest first, so a secret inside another is replaced after it
}{set: map[string]struct{}{}}

// RegisterSecret adds values (and their escaped forms) to the secrets Redact removes. Values
// shorter than three bytes are ignored. It is safe for concurrent use and cheap to repeat.
func RegisterSecret(values ...string) {
	var add []string
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < minSecretLen {
			continue
		}
		add = append(add, v, url.QueryEscape(v), url.PathEscape(v), jsonEscaped(v))
		if strings.ContainsAny(v, "\r\n") {
			for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
				// A PEM key's lines, which an error may quote one at a time.
				if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
					add = append(add, line)
				}
			}
		}
	}
	registry.RLock()
	missing := false
	for _, a := range add {
		if _, ok := registry.set[a]; !ok {
			missing = true
			break
		}
	}
	registry.RUnlock()
	if !missing {
		return
	}
	registry.Lock()
	defer registry.Unlock()
	changed := false
	for _, a := range add {
		if len(a) < minSecretLen {
			continue
		}
		if _, ok := registry.set[a]; !ok {
			registry.set[a] = struct{}{}
			changed = true
		}
	}
	if changed {
		sorted := make([]string, 0, len(registry.set))
		for s := range registry.set {
			sorted = append(sorted, s)
		}
		sort.Slice(sorted, func(i, j int) bool {
			if len(sorted[i]) != len(sorted[j]) {
				return len(sorted[i]) > len(sorted[j])
			}
			return sorted[i] < sorted[j]
		})
		registry.sorted = sorted
	}
}

func jsonEscaped(v string) string {
	b, _ := json.Marshal(v)
	return strings.TrimSuffix(strings.TrimPrefix(string(b), `"`), `"`)
}

// registerSetting registers what a configuration value holds of secrets: all of it when the
// key names a secret, and the password or token of every URL in it whatever the key.
func registerSetting(key, value string) {
	if value == "" {
		return
	}
	if SecretKey(key) {
		RegisterSecret(value)
	}
	if strings.Contains(value, "://") {
		RegisterSecret(urlSecrets(value)...)
	}
}

// registerAny walks a free-form mapping (function_kwargs, headers) for secrets.
func registerAny(key string, v any) {
	switch x := v.(type) {
	case string:
		registerSetting(key, x)
	case map[string]any:
		for k, e := range x {
			registerAny(k, e)
		}
	case []any:
		for _, e := range x {
			registerAny(key, e)
		}
	}
}

// SecretKey reports whether a configuration key names a secret: password, passwd, secret,
// token, *key (api_key, private_key, stripe_secret_key), credentials, authorization,
// passphrase, dsn, creds, seed. A key ending in _url (token_url) names an address, not a
// secret; "_env" is ignored.
func SecretKey(key string) bool {
	k := strings.ToLower(strings.TrimSuffix(key, "_env"))
	if strings.HasSuffix(k, "_url") || strings.HasSuffix(k, "_column") || k == "primary_key" {
		return false
	}
	for _, w := range []string{"password", "passwd", "secret", "token", "key", "credential", "authorization", "passphrase", "dsn", "creds", "seed", "cookie"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// urlSecrets returns the passwords (and NATS tokens, a URL's lone user name) of the
// comma-separated URLs in s.
func urlSecrets(s string) []string {
	var out []string
	// Each URL of a list, and the whole (a password may hold a comma).
	for _, part := range append(strings.Split(s, ","), s) {
		part = strings.TrimSpace(part)
		if m := urlUserinfoRE.FindStringSubmatch(part); m != nil {
			out = append(out, m[3]) // as written: percent-encoded, or unparseable
		}
		u, err := url.Parse(part)
		if err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				out = append(out, pw)
			} else if tokenScheme(u.Scheme) {
				out = append(out, u.User.Username())
			}
		}
	}
	return out
}

func tokenScheme(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "nats", "tls", "ws", "wss":
		return true
	}
	return false
}

// Patterns of secrets in text, each with its replacement.
var (
	// scheme://user:password@ — the password may hold anything but whitespace and quotes;
	// the last @ of the token ends it.
	urlUserinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)([^\s:@/"'\x60<>]*):([^\s"'\x60<>]*)@`)
	// nats://token@host
	urlTokenRE = regexp.MustCompile(`(?i)\b((?:nats|tls|wss?)://)([^\s:@/"'\x60<>]+)@`)
	// user:password@tcp(host:port)/db (go-sql-driver's DSN)
	mysqlDSNRE = regexp.MustCompile(`([^\s:@/()"'\x60]*):([^\s"'\x60]*)@((?:tcp|tcp6|unix|udp)?\()`)
	// password=… in key/value strings (libpq, ODBC), also quoted
	kvPasswordRE = regexp.MustCompile(`(?i)\b(password|passwd|pwd|secret|client_secret|token|api_key|apikey)(\s*=\s*)('[^']*'|"[^"]*"|[^\s&;,"'\x60)}\]]+)`)
	// ?api_key=… &token=… in URLs
	queryRE = regexp.MustCompile(`(?i)([?&](?:api[_-]?key|key|token|access_token|refresh_token|id_token|secret|client_secret|password|passwd|sig|signature|assertion|code)=)([^&\s"'\x60#<>;]+)`)
	// Authorization: Bearer …, and any Bearer credential
	authHeaderRE = regexp.MustCompile(`(?i)\b(authorization["']?\s*[:=]\s*["']?)(bearer|basic|token|digest)\s+[^\s"',;]+`)
	bearerRE     = regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]{20,}=*`)
	pemRE        = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)
	// Stripe secret, restricted and webhook keys; Google API keys; NATS nkey seeds.
	knownKeyRE = regexp.MustCompile(`\b(?:(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{8,}|whsec_[A-Za-z0-9]{8,}|AIza[0-9A-Za-z_\-]{30,}|S[UAOCNP][A-Z2-7]{54,})`)
)

// Redact returns s with every registered secret and every secret-shaped substring replaced by
// [redacted].
func Redact(s string) string {
	if s == "" {
		return s
	}
	registry.RLock()
	secrets := registry.sorted
	registry.RUnlock()
	for _, sec := range secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	if strings.Contains(s, "://") {
		s = urlUserinfoRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := urlUserinfoRE.FindStringSubmatch(m)
			if placeholder(sub[3]) {
				return m
			}
			return sub[1] + sub[2] + ":" + Redacted + "@"
		})
		s = urlTokenRE.ReplaceAllStringFunc(s, func(m string) string {
			if strings.Contains(m, Redacted) {
				return m
			}
			sub := urlTokenRE.FindStringSubmatch(m)
			return sub[1] + Redacted + "@"
		})
	}
	if strings.Contains(s, "@") {
		s = mysqlDSNRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := mysqlDSNRE.FindStringSubmatch(m)
			if placeholder(sub[2]) {
				return m
			}
			return sub[1] + ":" + Redacted + "@" + sub[3]
		})
	}
	if strings.Contains(s, "=") {
		s = queryRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := queryRE.FindStringSubmatch(m)
			if placeholder(sub[2]) {
				return m
			}
			return sub[1] + Redacted
		})
		s = kvPasswordRE.ReplaceAllStringFunc(s, func(m string) string {
			sub := kvPasswordRE.FindStringSubmatch(m)
			if placeholder(strings.Trim(sub[3], `'"`)) {
				return m
			}
			return sub[1] + sub[2] + Redacted
		})
	}
	lower := strings.ToLower(s)
	if strings.Contains(lower, "authorization") {
		s = authHeaderRE.ReplaceAllString(s, "${1}${2} "+Redacted)
	}
	if strings.Contains(lower, "bearer") {
		s = bearerRE.ReplaceAllString(s, "${1}"+Redacted)
	}
	if strings.Contains(s, "PRIVATE KEY-----") {
		s = pemRE.ReplaceAllString(s, Redacted)
	}
	s = knownKeyRE.ReplaceAllString(s, Redacted)
	return s
}

// placeholder reports a value that is already redacted, or the documentation's stand-in for
// a password ("mysql://user:password@host"), which is left as it is.
func placeholder(v string) bool {
	if strings.HasPrefix(v, "[redacted") || strings.Trim(v, "*x") == "" {
		return true
	}
	switch strings.ToLower(v) {
	case "password", "pass", "pw", "secret", "token", "<password>", "{password}", "$password", "${password}":
		return true
	}
	return false
}

// redactedError is an error whose message has been redacted; it still unwraps to the
// original, so errors.Is and errors.As keep working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactError returns err with a redacted message (nil for nil). The cause stays reachable
// through errors.Unwrap for type checks; print only the returned error.
func RedactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Redact(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

// RedactWriter redacts every write to w. Each Write is redacted whole: callers that write a
// line (or a log event) at a time are covered. It reports len(p) written on success.
func RedactWriter(w io.Writer) io.Writer { return &redactWriter{w: w} }

type redactWriter struct{ w io.Writer }

func (r *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
