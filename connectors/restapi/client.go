package restapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"

	"github.com/dangohq/dango/config"
)

// AuthenticationError is a 401 or 403: retrying cannot help.
type AuthenticationError struct {
	Status int
	Detail string
}

func (e *AuthenticationError) Error() string {
	return fmt.Sprintf("AuthenticationError: %s (HTTP %d); check the credentials in .env or .dlt/secrets.toml", e.Detail, e.Status)
}

// RateLimitError is a 429 that kept coming until the retry time ran out, or whose
// Retry-After asked for a longer wait than what was left of max_retry_time.
type RateLimitError struct {
	Waited time.Duration
	// Asked is the wait the server asked for (0 when it kept answering 429 instead), Header
	// the Retry-After it sent, Left what was left of max_retry_time, Max max_retry_time.
	Asked, Left, Max time.Duration
	Header           string
	// NoRetry: max_retry_time is 0, so the first 429 is the answer.
	NoRetry bool
}

func (e *RateLimitError) Error() string {
	if e.NoRetry {
		asked := ""
		if e.Header != "" {
			asked = " (Retry-After: " + e.Header + ")"
		}
		return "RateLimitError: Too many requests" + asked + " and max_retry_time is 0, so dango does not retry or wait; " +
			"set max_retry_time (e.g. 5m) to wait for the API's limit"
	}
	if e.Asked > 0 {
		return fmt.Sprintf("RateLimitError: Too many requests: the API asked to wait %s (Retry-After: %s), more than the %s left of max_retry_time (%s); "+
			"stopping now instead of waiting. Sync again later, or raise max_retry_time if waiting that long is fine",
			humanDuration(e.Asked), e.Header, humanDuration(max(e.Left, 0)), humanDuration(e.Max))
	}
	return fmt.Sprintf("RateLimitError: Too many requests (still limited after retrying for %s); lower requests_per_second or raise rate_limit_delay",
		e.Waited.Round(time.Second))
}

// humanDuration prints d rounded to what matters: 10s, 2m30s, 277777h46m39s.
func humanDuration(d time.Duration) string {
	if d >= time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// ResponseTooLargeError is a reply longer than max_response_size; it is refused while being
// read, so memory stays bounded whatever the server sends.
type ResponseTooLargeError struct {
	Path  string
	Limit int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("response from GET %s is larger than %s (max_response_size); ask for smaller pages (a limit or page size parameter), "+
		"or raise max_response_size on the source if the API really sends replies this big", e.Path, sizeLabel(e.Limit))
}

// sizeLabel prints a limit in the unit it was most likely written in: 100 MB, 512 kB.
func sizeLabel(n int64) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%d MB", n/1e6)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1e3 && n%1e3 == 0:
		return fmt.Sprintf("%d kB", n/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// TimeoutError is a request that got no complete reply within the per-request timeout: a
// server that accepts and never answers, or trickles its reply. It is retried like a network
// error, within max_retry_time.
type TimeoutError struct {
	Path    string
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("GET %s: no complete response within %s (timeout); the API is not answering or is very slow, raise timeout on the source if it is just slow",
		e.Path, humanDuration(e.Timeout))
}

// CrossHostError is a next-page link or a redirect that leads away from base_url's origin
// (scheme, host and port) while allow_cross_host is off.
//
// Why failing is the default: credentials (auth headers, API keys in the query string,
// OAuth2 tokens, cookies) and the configured headers are only ever sent to base_url's
// origin. Following a foreign link without them would mostly yield 401s or silently
// different data, so by default the resource fails and names the foreign host; with
// allow_cross_host: true such requests are made without any credentials or configured
// headers, as browsers and Python's requests do on cross-origin redirects.
type CrossHostError struct {
	Source, Resource string
	Kind             string // "next page link" or "redirect"
	Host             string // the foreign origin, scheme://host:port
	Base             string // base_url's origin
}

func (e *CrossHostError) Error() string {
	where := ""
	if e.Source != "" {
		where = fmt.Sprintf("source %s", e.Source)
	}
	if e.Resource != "" {
		if where != "" {
			where += ", "
		}
		where += "resource " + e.Resource
	}
	if where != "" {
		where += ": "
	}
	return fmt.Sprintf("%sthe API's %s leads to another host, %s (base_url is %s); credentials and headers are only sent to base_url's host, "+
		"so dango stops here. If the API really pages or redirects there, set allow_cross_host: true on the source: such requests are then made without credentials or configured headers",
		where, e.Kind, e.Host, e.Base)
}

// HTTPError is any other failed request.
type HTTPError struct {
	Method, URL string
	Status      int
	Detail      string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d from %s %s: %s", e.Status, e.Method, e.URL, e.Detail)
}

// Auth adds credentials to a request.
type Auth interface {
	Apply(ctx context.Context, req *http.Request) error
	// Secrets lists values that must never appear in messages.
	Secrets() []string
}

type noAuth struct{}

func (noAuth) Apply(context.Context, *http.Request) error { return nil }
func (noAuth) Secrets() []string                          { return nil }

type bearerAuth struct{ token string }

func (a bearerAuth) Apply(_ context.Context, r *http.Request) error {
	r.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}
func (a bearerAuth) Secrets() []string { return []string{a.token} }

type apiKeyAuth struct{ name, value, location string }

func (a apiKeyAuth) Apply(_ context.Context, r *http.Request) error {
	if a.location == "cookie" {
		r.AddCookie(&http.Cookie{Name: a.name, Value: a.value})
		return nil
	}
	if a.location == "query" {
		q := r.URL.Query()
		q.Set(a.name, a.value)
		r.URL.RawQuery = q.Encode()
		return nil
	}
	r.Header.Set(a.name, a.value)
	return nil
}
func (a apiKeyAuth) Secrets() []string { return []string{a.value} }

type basicAuth struct{ user, password string }

func (a basicAuth) Apply(_ context.Context, r *http.Request) error {
	r.SetBasicAuth(a.user, a.password)
	return nil
}
func (a basicAuth) Secrets() []string {
	return []string{a.password, base64.StdEncoding.EncodeToString([]byte(a.user + ":" + a.password))}
}

// oauth2Auth fetches a client-credentials token and refreshes it before it expires.
type oauth2Auth struct {
	tokenURL, clientID, secret, scope string
	inBody                            bool              // dlt's access_token_url: credentials in the form, not basic auth
	extra                             map[string]string // access_token_request_data
	defaultExpiry                     int               // seconds, when the reply has no expires_in
	http                              *http.Client
	mu                                sync.Mutex
	token                             string
	expires                           time.Time
}

func (a *oauth2Auth) Apply(ctx context.Context, r *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == "" || time.Now().After(a.expires.Add(-30*time.Second)) {
		form := url.Values{"grant_type": {"client_credentials"}}
		if a.scope != "" {
			form.Set("scope", a.scope)
		}
		if a.inBody {
			form.Set("client_id", a.clientID)
			form.Set("client_secret", a.secret)
		}
		for k, v := range a.extra {
			form.Set(k, v)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if !a.inBody {
			req.SetBasicAuth(a.clientID, a.secret)
		}
		resp, err := a.http.Do(req)
		if err != nil {
			return fmt.Errorf("OAuth2 token request: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return &AuthenticationError{Status: resp.StatusCode, Detail: "the OAuth2 token endpoint refused the client credentials"}
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   *int   `json:"expires_in"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			return fmt.Errorf("OAuth2 token endpoint answered without an access_token")
		}
		a.token = tok.AccessToken
		config.RegisterSecret(a.token)
		expiresIn := a.defaultExpiry
		if expiresIn <= 0 {
			expiresIn = 3600
		}
		if tok.ExpiresIn != nil {
			expiresIn = *tok.ExpiresIn
		}
		a.expires = time.Now().Add(time.Duration(max(expiresIn, 60)) * time.Second)
	}
	r.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}
func (a *oauth2Auth) Secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []string{a.secret, a.token}
}

// TokenClient is hc for token requests: it follows redirects only within the token URL's
// origin, so client secrets and signed assertions go to the token endpoint and nowhere else.
func TokenClient(hc *http.Client) *http.Client {
	out := &http.Client{Timeout: 30 * time.Second}
	if hc != nil {
		*out = *hc
	}
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if origin(req.URL) != origin(via[0].URL) {
			return fmt.Errorf("the token endpoint redirected to another host, %s; not sending credentials there", display(req.URL))
		}
		return nil
	}
	return out
}

// Transport is the HTTP transport for one source that makes up to parallel requests at a
// time: http.DefaultTransport keeps only two idle connections per host, so parallel page
// fetches would keep opening (and, for HTTPS, handshaking) new connections.
func Transport(parallel int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(parallel, 2)
	return t
}

// DefaultMaxResponseSize is max_response_size when a source does not set it.
const DefaultMaxResponseSize = 100e6

// Client makes GET requests with credentials, a per-source rate limit, and retries: 429 and
// 503 wait for Retry-After, other 5xx, network errors and timeouts back off exponentially
// with jitter, 401/403 fail at once. Every wait is bounded: no request (with its retries and
// Retry-After pauses) outlives MaxElapsed, no attempt outlives Timeout, and no reply is read
// past MaxResponseSize. MaxElapsed <= 0 means no retries at all: the first failure is
// returned and no Retry-After is waited for (it never means "no limit").
//
// Credentials and Headers go only to Base's origin (scheme, host and port; https→http is
// another origin). A request or redirect to any other origin fails with a CrossHostError, or,
// with AllowCrossHost, is made without them (see CrossHostError for why failing is the
// default).
type Client struct {
	HTTP       *http.Client
	Auth       Auth
	Headers    map[string]string
	Limiter    *rate.Limiter // shared by every request of the source: workers never multiply it
	MaxElapsed time.Duration
	OnRetry    func(msg string)

	// Base is the configured base URL; when nil, the first request's URL is taken.
	Base *url.URL
	// AllowCrossHost makes requests to other origins without credentials instead of failing.
	AllowCrossHost bool
	// Source names the source in errors.
	Source string
	// MaxResponseSize bounds a reply's body (DefaultMaxResponseSize when 0).
	MaxResponseSize int64
	// Timeout bounds one attempt, reading the body included (HTTP.Timeout when 0).
	Timeout time.Duration

	// endpointAuth are the resources' own credentials (dlt's endpoint.auth): redacted and
	// stripped from foreign links like the client's.
	endpointAuth []Auth

	// initialInterval is the first backoff (tests shorten it).
	initialInterval time.Duration

	setup  sync.Once
	hc     *http.Client // HTTP with the redirect policy
	origin string

	// A Retry-After pauses every request of the source, not just the throttled one; each
	// throttle reply extends the pause by its full wait.
	pauseMu    sync.Mutex
	pauseUntil time.Time
}

// origin is a URL's scheme://host:port, lower case, the port made explicit.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// display is an origin as users wrote it (no default port, never user info or a path).
func display(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + u.Host
}

// init fixes the trusted origin and wraps HTTP with the redirect policy.
func (c *Client) init(first *url.URL) {
	c.setup.Do(func() {
		base := c.Base
		if base == nil {
			base = first
		}
		c.Base = base
		c.origin = origin(base)
		hc := &http.Client{}
		if c.HTTP != nil {
			*hc = *c.HTTP
		}
		hc.CheckRedirect = c.checkRedirect
		c.hc = hc
	})
}

// checkRedirect is the redirect policy. Go's client already drops Authorization and Cookie
// on a redirect to another domain, but forwards them to subdomains and forwards every other
// header (X-Api-Key, configured headers) anywhere, so the policy is dango's own: a redirect
// within base_url's origin keeps everything; one elsewhere fails, or with AllowCrossHost
// goes without credentials.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if origin(req.URL) == c.origin {
		return nil
	}
	if !c.AllowCrossHost {
		return &CrossHostError{Source: c.Source, Kind: "redirect", Host: display(req.URL), Base: display(c.Base)}
	}
	c.strip(req)
	return nil
}

// strip removes every credential from a request going to another origin: auth and cookie
// headers, the configured headers, any header or query parameter holding a secret.
func (c *Client) strip(req *http.Request) {
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie", "Www-Authenticate"} {
		req.Header.Del(h)
	}
	for k := range c.Headers {
		req.Header.Del(k)
	}
	secrets := c.secrets()
	for k, vs := range req.Header {
		for _, v := range vs {
			if containsSecret(v, secrets) {
				req.Header.Del(k)
				break
			}
		}
	}
	stripQuery(req.URL, secrets)
}

// stripQuery drops query parameters whose value holds a secret (an API key the server
// echoed into a link).
func stripQuery(u *url.URL, secrets []string) {
	if u.RawQuery == "" || len(secrets) == 0 {
		return
	}
	q := u.Query()
	changed := false
	for k, vs := range q {
		for _, v := range vs {
			if containsSecret(v, secrets) {
				q.Del(k)
				changed = true
				break
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
}

func (c *Client) secrets() []string {
	var out []string
	for _, a := range append([]Auth{c.Auth}, c.endpointAuth...) {
		for _, s := range a.Secrets() {
			if len(s) >= 4 {
				out = append(out, s)
			}
		}
	}
	for _, v := range c.Headers {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	return out
}

func containsSecret(v string, secrets []string) bool {
	for _, s := range secrets {
		if strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// throttle records a Retry-After wait for all requests and returns how long from now the
// source is paused.
func (c *Client) throttle(wait time.Duration) time.Duration {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	now := time.Now()
	from := now
	if c.pauseUntil.After(from) {
		from = c.pauseUntil
	}
	c.pauseUntil = from.Add(wait)
	return c.pauseUntil.Sub(now)
}

// pause is how long the source stays paused from now.
func (c *Client) pause() time.Duration {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	return time.Until(c.pauseUntil)
}

// waitPause blocks while the source is paused.
func (c *Client) waitPause(ctx context.Context, d time.Duration) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Response is a successful reply.
type Response struct {
	Body   []byte
	Header http.Header
	URL    *url.URL
	Status int
	// Ignored: a response action matched; the reply holds no records and ends the pages.
	Ignored bool
}

// Request is one request of a resource: method, URL and params, a JSON body, the endpoint's
// own headers (sent, like the client's, only to base_url's origin) and its response actions.
type Request struct {
	Method string // GET when empty
	URL    string
	Params url.Values
	Auth   Auth   // the endpoint's own credentials instead of the client's (nil: the client's)
	Body   []byte // JSON, unless ContentType says otherwise
	// ContentType of Body: application/json when empty; "-" sends none (a raw body).
	ContentType string
	Headers     map[string]string
	Actions     []ResponseAction
}

// Get fetches u with params added.
func (c *Client) Get(ctx context.Context, u string, params url.Values) (*Response, error) {
	return c.Do(ctx, &Request{URL: u, Params: params})
}

// Do makes a request, with the client's credentials, limits and retries.
func (c *Client) Do(ctx context.Context, rq *Request) (*Response, error) {
	u, params, method := rq.URL, rq.Params, rq.Method
	if method == "" {
		method = http.MethodGet
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", c.redact(u), err)
	}
	if len(params) > 0 {
		q := parsed.Query()
		for k, vs := range params {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		parsed.RawQuery = q.Encode()
	}
	c.init(parsed)
	foreign := origin(parsed) != c.origin
	if foreign {
		if !c.AllowCrossHost {
			return nil, &CrossHostError{Source: c.Source, Kind: "next page link", Host: display(parsed), Base: display(c.Base)}
		}
		stripQuery(parsed, c.secrets())
	}
	path := c.redact(parsed.Path)
	limit := c.MaxResponseSize
	if limit <= 0 {
		limit = DefaultMaxResponseSize
	}
	timeout := c.Timeout
	if timeout <= 0 && c.HTTP != nil {
		timeout = c.HTTP.Timeout
	}
	start := time.Now()
	// max_retry_time 0 (or less) means one attempt: no retries, no Retry-After waits.
	noRetry := c.MaxElapsed <= 0
	// left is what remains of max_retry_time; with no retries the one attempt is bounded by
	// timeout alone (a day when there is none either).
	left := func() time.Duration {
		if noRetry {
			return 24 * time.Hour
		}
		return c.MaxElapsed - time.Since(start)
	}
	b := backoff.NewExponentialBackOff()
	if c.initialInterval > 0 {
		b.InitialInterval = c.initialInterval
	}
	limited := false
	var rateErr *RateLimitError // a Retry-After too long to wait for
	op := func() (*Response, error) {
		if p := c.pause(); p > 0 {
			if noRetry {
				rateErr = &RateLimitError{Waited: time.Since(start), Header: "pause of the source", NoRetry: true}
				return nil, backoff.Permanent(rateErr)
			}
			if p > left() {
				rateErr = &RateLimitError{Waited: time.Since(start), Asked: p, Left: left(), Max: c.MaxElapsed, Header: "pause of the source"}
				return nil, backoff.Permanent(rateErr)
			}
			if err := c.waitPause(ctx, p); err != nil {
				return nil, backoff.Permanent(err)
			}
		}
		if c.Limiter != nil {
			if err := c.Limiter.Wait(ctx); err != nil {
				return nil, backoff.Permanent(err)
			}
		}
		// One attempt may take at most timeout, and never past max_retry_time.
		budget := left()
		if budget <= 0 {
			return nil, backoff.Permanent(fmt.Errorf("GET %s: max_retry_time (%s) ran out", path, humanDuration(c.MaxElapsed)))
		}
		actx, cancel := context.WithCancel(ctx)
		defer cancel()
		attempt := budget
		if timeout > 0 && timeout < attempt {
			attempt = timeout
		}
		timer := time.AfterFunc(attempt, cancel)
		defer timer.Stop()
		timedOut := func() bool { return ctx.Err() == nil && actx.Err() != nil }
		shown := timeout // the configured timeout, even when max_retry_time cut this attempt shorter
		if shown <= 0 {
			shown = attempt
		}
		var reqBody io.Reader
		if rq.Body != nil {
			reqBody = bytes.NewReader(rq.Body)
		}
		req, err := http.NewRequestWithContext(actx, method, parsed.String(), reqBody)
		if err != nil {
			return nil, backoff.Permanent(errors.New(c.redact(err.Error())))
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "dango")
		if rq.Body != nil {
			switch rq.ContentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", rq.ContentType)
			}
		}
		if !foreign {
			for k, v := range c.Headers {
				req.Header.Set(k, v)
			}
			for k, v := range rq.Headers {
				req.Header.Set(k, v)
			}
			auth := c.Auth
			if rq.Auth != nil {
				auth = rq.Auth
			}
			if err := auth.Apply(ctx, req); err != nil {
				// A token request's error quotes the token URL (and what the endpoint said).
				config.RegisterSecret(auth.Secrets()...)
				return nil, backoff.Permanent(config.RedactError(err))
			}
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			var cross *CrossHostError
			switch {
			case errors.As(err, &cross):
				return nil, backoff.Permanent(cross)
			case ctx.Err() != nil:
				return nil, backoff.Permanent(ctx.Err())
			case timedOut() || isTimeout(err):
				return nil, &TimeoutError{Path: path, Timeout: shown}
			}
			return nil, fmt.Errorf("%s %s: %s", method, path, c.redact(err.Error()))
		}
		body, err := readBody(resp, limit)
		resp.Body.Close()
		if err != nil {
			switch {
			case errors.Is(err, errTooLarge):
				return nil, backoff.Permanent(&ResponseTooLargeError{Path: path, Limit: limit})
			case ctx.Err() != nil:
				return nil, backoff.Permanent(ctx.Err())
			case timedOut() || isTimeout(err):
				return nil, &TimeoutError{Path: path, Timeout: shown}
			}
			return nil, fmt.Errorf("read %s: %s", path, c.redact(err.Error()))
		}
		for _, a := range rq.Actions {
			if (a.Status == 0 || a.Status == resp.StatusCode) && (a.Content == "" || bytes.Contains(body, []byte(a.Content))) {
				return &Response{Body: body, Header: resp.Header, URL: resp.Request.URL, Status: resp.StatusCode, Ignored: true}, nil
			}
		}
		switch s := resp.StatusCode; {
		case s/100 == 2:
			limited = false
			return &Response{Body: body, Header: resp.Header, URL: resp.Request.URL, Status: s}, nil
		case s == 401 || s == 403:
			return nil, backoff.Permanent(&AuthenticationError{Status: s, Detail: c.redact(detail(body, resp.Status))})
		case s == 429 || s == 503:
			limited = s == 429
			h := resp.Header.Get("Retry-After")
			if noRetry {
				if s == 429 {
					rateErr = &RateLimitError{Waited: time.Since(start), Header: strings.TrimSpace(h), NoRetry: true}
					return nil, backoff.Permanent(rateErr)
				}
				return nil, backoff.Permanent(fmt.Errorf("%s from GET %s (max_retry_time is 0: not retried)", resp.Status, path))
			}
			if wait := retryAfter(h); wait > 0 {
				// A wait longer than what is left of max_retry_time fails now: waiting it out
				// would only end in the same failure, much later.
				if wait > left() {
					rateErr = &RateLimitError{Waited: time.Since(start), Asked: wait, Left: left(), Max: c.MaxElapsed, Header: strings.TrimSpace(h)}
					return nil, backoff.Permanent(rateErr)
				}
				c.throttle(wait)
				// The shared pause does the waiting; retry as soon as it is over.
				return nil, &backoff.RetryAfterError{Duration: time.Millisecond}
			}
			return nil, fmt.Errorf("%s from %s %s", resp.Status, method, path)
		case s >= 500:
			return nil, fmt.Errorf("%s from %s %s", resp.Status, method, path)
		default:
			return nil, backoff.Permanent(&HTTPError{Method: method, URL: path, Status: s, Detail: c.redact(detail(body, resp.Status))})
		}
	}
	notify := func(err error, wait time.Duration) {
		if p := c.pause(); p > wait {
			wait = p // a Retry-After pause: say how long it really is
		}
		if c.OnRetry != nil {
			c.OnRetry(fmt.Sprintf("Retrying %s %s in %s (%s)", method, path, wait.Round(10*time.Millisecond), c.redact(err.Error())))
		}
	}
	opts := []backoff.RetryOption{backoff.WithBackOff(b), backoff.WithMaxElapsedTime(c.MaxElapsed), backoff.WithNotify(notify)}
	if noRetry {
		opts = append(opts, backoff.WithMaxTries(1))
	}
	resp, err := backoff.Retry(ctx, op, opts...)
	if err != nil && rateErr == nil && limited {
		return nil, &RateLimitError{Waited: time.Since(start)}
	}
	var ra *backoff.RetryAfterError
	if errors.As(err, &ra) {
		// The last reply was a throttle whose pause would outlast max_retry_time.
		return nil, &RateLimitError{Waited: time.Since(start)}
	}
	return resp, err
}

var errTooLarge = errors.New("response too large")

// readBody reads a reply up to limit bytes, refusing a longer one as soon as it shows (by
// its Content-Length, or once limit+1 bytes arrived), so memory stays bounded.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, errTooLarge
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + 1)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// isTimeout reports a network timeout (a dial or read deadline, http.Client.Timeout).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// retryAfter parses Retry-After: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		const most = int64(100 * 365 * 24 * 3600) // a century: beyond it a Duration overflows soon
		return time.Duration(min(max(s, 0), most)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// detail pulls a readable message out of an error body (Stripe's error.message, a message
// field, or the start of the text).
func detail(body []byte, status string) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if e, ok := m["error"].(map[string]any); ok {
			if msg, ok := e["message"].(string); ok {
				return msg
			}
		}
		for _, k := range []string{"message", "error", "detail", "error_description"} {
			if msg, ok := m[k].(string); ok {
				return msg
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return status
	}
	return s
}

// redact removes every secret from a message: the source's credentials as they are now (an
// OAuth2 token changes) are registered with config's redaction, which does the replacing.
func (c *Client) redact(s string) string {
	config.RegisterSecret(c.Auth.Secrets()...)
	for _, a := range c.endpointAuth {
		config.RegisterSecret(a.Secrets()...)
	}
	return config.Redact(s)
}
