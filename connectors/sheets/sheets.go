// Package sheets is `type: google_sheets`: each range of a spreadsheet becomes a table, its
// first row the header. Credentials are a service account's JSON key (a signed JWT exchanged
// for a token — no client library) or an API key for public sheets. Requests go through the
// REST engine's client, so retries, rate limits and secret redaction are the same.
package sheets

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/connectors/file"
	"github.com/dangohq/dango/connectors/restapi"
	"github.com/dangohq/dango/humanize"
	"github.com/dangohq/dango/jsonshape"
	"github.com/dangohq/dango/naming"
)

// Spec is the google_sheets block of sources.yml.
var Spec = config.Spec{Type: "google_sheets", Summary: "Google Sheets: one table per range, the first row as header, numbers, booleans and dates typed.",
	Fields: []config.Field{
		{Name: "spreadsheet_url_or_id", Kind: config.String, Required: true, Doc: "The spreadsheet's URL or id."},
		{Name: "range_names", Kind: config.StringList, Doc: "Ranges or sheet names to load (`Budget`, `Budget!A1:F200`); default: every sheet."},
		{Name: "credentials", Kind: config.String, Doc: "Service account JSON key, its content or a file path (use credentials_env)."},
		{Name: "api_key", Kind: config.String, Doc: "API key, for sheets shared publicly (use api_key_env)."},
		{Name: "requests_per_second", Kind: config.Float, Default: 1.0, Doc: "Google allows 60 reads a minute per user."},
		{Name: "api_base", Kind: config.String, Default: "https://sheets.googleapis.com", Doc: "API host (tests point it elsewhere)."},
		{Name: "timeout", Kind: config.String, Default: "60s", Doc: "Per-request timeout (a reply must be complete within it)."},
		{Name: "max_retry_time", Kind: config.String, Default: "5m", Doc: "How long one request may keep retrying."},
		{Name: "max_response_size", Kind: config.String, Default: "100MB", Doc: "Largest reply accepted."},
		{Name: "allow_cross_host", Kind: config.Bool, Default: false, Doc: "Follow redirects to another host than api_base's, without credentials. Off: such a redirect fails."},
	}}

func init() {
	connectors.Default.Register(connectors.Registration{Spec: Spec, New: New})
}

type connector struct {
	job    connectors.Job
	id     string
	ranges []string
	base   string
	client *restapi.Client
}

var idRE = regexp.MustCompile(`/spreadsheets/d/([a-zA-Z0-9-_]+)`)

// New builds the connector.
func New(job connectors.Job) (connectors.Connector, error) {
	s := job.Source.Settings
	c := &connector{job: job, id: s.String("spreadsheet_url_or_id"), ranges: s.Strings("range_names"), base: strings.TrimRight(s.String("api_base"), "/")}
	if m := idRE.FindStringSubmatch(c.id); m != nil {
		c.id = m[1]
	}
	var auth restapi.Auth
	switch {
	case s.String("credentials") != "":
		sa, err := loadServiceAccount(s.String("credentials"), job.ProjectRoot)
		if err != nil {
			return nil, fmt.Errorf("source %s: credentials: %w", job.Source.Name, err)
		}
		auth = sa
	case s.String("api_key") != "":
		auth = &apiKey{key: s.String("api_key")}
	default:
		return nil, fmt.Errorf("source %s: set credentials_env (a service account key) or api_key_env", job.Source.Name)
	}
	base, err := url.Parse(c.base)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("source %s: api_base %q is not an absolute http(s) URL", job.Source.Name, c.base)
	}
	durations := map[string]time.Duration{"timeout": time.Minute, "max_retry_time": 5 * time.Minute}
	for k := range durations {
		if v := s.String(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("source %s: %s %q: %w", job.Source.Name, k, v, err)
			}
			durations[k] = d
		}
	}
	maxSize := int64(restapi.DefaultMaxResponseSize)
	if v := s.String("max_response_size"); v != "" {
		if maxSize, err = humanize.ParseBytes(v); err != nil {
			return nil, fmt.Errorf("source %s: max_response_size: %w", job.Source.Name, err)
		}
	}
	rps := s.Float("requests_per_second")
	if rps <= 0 {
		rps = 1
	}
	c.client = &restapi.Client{HTTP: &http.Client{Timeout: durations["timeout"], Transport: restapi.Transport(2)}, Auth: auth, Headers: map[string]string{},
		Limiter: rate.NewLimiter(rate.Limit(rps), 1), MaxElapsed: durations["max_retry_time"],
		Base: base, AllowCrossHost: s.Bool("allow_cross_host"), Source: job.Source.Name, MaxResponseSize: maxSize, Timeout: durations["timeout"]}
	return c, nil
}

// Resources are the configured ranges as table names (every sheet when none are configured,
// which is only known after asking the spreadsheet).
func (c *connector) Resources() []string {
	out := make([]string, len(c.ranges))
	for i, r := range c.ranges {
		out[i] = tableName(r)
	}
	return out
}

// tableName: "Marketing Budget 2024!A1:F" → marketing_budget_2024.
func tableName(rng string) string {
	if i := strings.IndexByte(rng, '!'); i >= 0 {
		rng = rng[:i]
	}
	return naming.Snake(strings.Trim(rng, "'"))
}

func (c *connector) Extract(ctx context.Context, out connectors.Emitter) error {
	c.client.OnRetry = func(msg string) { out.Logf("%s", msg) }
	out.Logf("Connecting to Google Sheets API")
	ranges := c.ranges
	if len(ranges) == 0 {
		resp, err := c.client.Get(ctx, c.base+"/v4/spreadsheets/"+url.PathEscape(c.id), url.Values{"fields": {"properties.title,sheets.properties.title"}})
		if err != nil {
			return err
		}
		var meta struct {
			Properties struct{ Title string } `json:"properties"`
			Sheets     []struct {
				Properties struct{ Title string } `json:"properties"`
			} `json:"sheets"`
		}
		if err := json.Unmarshal(resp.Body, &meta); err != nil {
			return fmt.Errorf("spreadsheet metadata: %w", err)
		}
		out.Logf("Fetching spreadsheet: %s", meta.Properties.Title)
		for _, sh := range meta.Sheets {
			ranges = append(ranges, sh.Properties.Title)
		}
	}
	var total int64
	for _, rng := range ranges {
		name := tableName(rng)
		if !c.job.Selected(name) {
			continue
		}
		n, err := c.extractRange(ctx, rng, name, out)
		if err != nil {
			return fmt.Errorf("%s: %w", rng, err)
		}
		total += n
	}
	noun := "sheets"
	if len(ranges) == 1 {
		noun = "sheet"
	}
	out.Logf("Loaded %s rows from %d %s", humanize.Thousands(total), len(ranges), noun)
	return nil
}

func (c *connector) extractRange(ctx context.Context, rng, table string, out connectors.Emitter) (int64, error) {
	res, _ := c.job.Plan(table, table, connectors.Defaults{Disposition: batch.Replace})
	resp, err := c.client.Get(ctx, c.base+"/v4/spreadsheets/"+url.PathEscape(c.id)+"/values/"+url.PathEscape(rng),
		url.Values{"valueRenderOption": {"UNFORMATTED_VALUE"}, "dateTimeRenderOption": {"FORMATTED_STRING"}, "majorDimension": {"ROWS"}})
	if err != nil {
		return 0, err
	}
	var vr struct {
		Values [][]any `json:"values"`
	}
	if err := json.Unmarshal(resp.Body, &vr); err != nil {
		return 0, fmt.Errorf("malformed reply: %w", err)
	}
	if len(vr.Values) == 0 {
		return 0, nil
	}
	header := make([]string, len(vr.Values[0]))
	for i, h := range vr.Values[0] {
		header[i] = fmt.Sprint(h)
		if strings.TrimSpace(header[i]) == "" {
			header[i] = fmt.Sprintf("column_%d", i+1)
		}
	}
	sp := restapi.NewSpool(filepath.Join(c.job.ProjectRoot, ".dango", "spool"), func(s *batch.Scan, shape *jsonshape.Shape) error {
		shape.Dates = true // cells formatted as dates arrive as ISO dates: typed DATE
		cols, err := file.DescribeShaped(ctx, s, shape)
		if err != nil {
			return err
		}
		s.Columns = cols
		return out.Emit(ctx, batch.Batch{Table: table, Resource: res, ExtractedAt: time.Now().UTC(), Scan: s})
	})
	defer sp.Discard()
	var n int64
	for _, row := range vr.Values[1:] {
		rec := make(map[string]any, len(header))
		empty := true
		for i, h := range header {
			var v any
			if i < len(row) {
				v = row[i]
			}
			if s, ok := v.(string); ok && s == "" {
				v = nil
			}
			if v != nil {
				empty = false
			}
			rec[h] = v
		}
		if empty {
			continue // trailing blank rows
		}
		b, _ := json.Marshal(rec)
		if err := sp.WriteRaw(b); err != nil {
			return n, err
		}
		n++
	}
	return n, sp.Flush()
}

// apiKey adds ?key= for public sheets.
type apiKey struct{ key string }

func (a *apiKey) Apply(_ context.Context, r *http.Request) error {
	q := r.URL.Query()
	q.Set("key", a.key)
	r.URL.RawQuery = q.Encode()
	return nil
}
func (a *apiKey) Secrets() []string { return []string{a.key} }

// serviceAccount signs a JWT with the account's key and exchanges it for an access token.
type serviceAccount struct {
	Email    string `json:"client_email"`
	KeyPEM   string `json:"private_key"`
	KeyID    string `json:"private_key_id"`
	TokenURI string `json:"token_uri"`
	key      *rsa.PrivateKey
	mu       sync.Mutex
	token    string
	expires  time.Time
}

func loadServiceAccount(v, root string) (*serviceAccount, error) {
	data := []byte(v)
	if !strings.HasPrefix(strings.TrimSpace(v), "{") { // a path to the key file
		p := v
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		var err error
		if data, err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	sa := &serviceAccount{}
	if err := json.Unmarshal(data, sa); err != nil {
		return nil, errors.New("not a service account JSON key")
	}
	// The key file may have come from a path: its secrets were never registered.
	config.RegisterSecret(sa.KeyPEM, sa.KeyID)
	if sa.Email == "" || sa.KeyPEM == "" {
		return nil, errors.New("the key lacks client_email or private_key")
	}
	if sa.TokenURI == "" {
		sa.TokenURI = "https://oauth2.googleapis.com/token"
	}
	block, _ := pem.Decode([]byte(sa.KeyPEM))
	if block == nil {
		return nil, errors.New("private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
			k = k1
		} else {
			return nil, fmt.Errorf("private_key: %w", err)
		}
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("private_key is not an RSA key")
	}
	sa.key = rk
	return sa, nil
}

const scope = "https://www.googleapis.com/auth/spreadsheets.readonly"

func (sa *serviceAccount) Apply(ctx context.Context, r *http.Request) error {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if sa.token == "" || time.Now().After(sa.expires.Add(-time.Minute)) {
		now := time.Now()
		enc := base64.RawURLEncoding
		head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
		claims, _ := json.Marshal(map[string]any{"iss": sa.Email, "scope": scope, "aud": sa.TokenURI, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		unsigned := enc.EncodeToString(head) + "." + enc.EncodeToString(claims)
		sum := sha256.Sum256([]byte(unsigned))
		sig, err := rsa.SignPKCS1v15(rand.Reader, sa.key, crypto.SHA256, sum[:])
		if err != nil {
			return err
		}
		assertion := unsigned + "." + enc.EncodeToString(sig)
		config.RegisterSecret(assertion)
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, sa.TokenURI, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := tokenClient.Do(req)
		if err != nil {
			return fmt.Errorf("token request: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return &restapi.AuthenticationError{Status: resp.StatusCode, Detail: "Google refused the service account key"}
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			return errors.New("the token endpoint answered without an access_token")
		}
		sa.token, sa.expires = tok.AccessToken, now.Add(time.Duration(max(tok.ExpiresIn, 120))*time.Second)
		config.RegisterSecret(sa.token)
	}
	r.Header.Set("Authorization", "Bearer "+sa.token)
	return nil
}

func (sa *serviceAccount) Secrets() []string {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return []string{sa.token, sa.KeyPEM, sa.KeyID}
}

// tokenClient sends the signed assertion only to the token URI's host (no cross-host
// redirects).
var tokenClient = restapi.TokenClient(&http.Client{Timeout: 30 * time.Second})
