package restapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// RateLimitError is a 429 that kept coming until the retry time ran out.
type RateLimitError struct{ Waited time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("RateLimitError: Too many requests (still limited after retrying for %s); lower requests_per_second or raise rate_limit_delay",
		e.Waited.Round(time.Second))
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
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(a.clientID, a.secret)
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
			ExpiresIn   int    `json:"expires_in"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
			return fmt.Errorf("OAuth2 token endpoint answered without an access_token")
		}
		a.token = tok.AccessToken
		config.RegisterSecret(a.token)
		a.expires = time.Now().Add(time.Duration(max(tok.ExpiresIn, 60)) * time.Second)
	}
	r.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}
func (a *oauth2Auth) Secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return []string{a.secret, a.token}
}

// Transport is the HTTP transport for one source that makes up to parallel requests at a
// time: http.DefaultTransport keeps only two idle connections per host, so parallel page
// fetches would keep opening (and, for HTTPS, handshaking) new connections.
func Transport(parallel int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(parallel, 2)
	return t
}

// Client makes GET requests with credentials, a per-source rate limit, and retries: 429 and
// 503 wait for Retry-After, other 5xx and network errors back off exponentially with jitter,
// 401/403 fail at once.
type Client struct {
	HTTP       *http.Client
	Auth       Auth
	Headers    map[string]string
	Limiter    *rate.Limiter // shared by every request of the source: workers never multiply it
	MaxElapsed time.Duration
	OnRetry    func(msg string)
	// initialInterval is the first backoff (tests shorten it).
	initialInterval time.Duration

	// A Retry-After pauses every request of the source, not just the throttled one; each
	// throttle reply extends the pause by its full wait.
	pauseMu    sync.Mutex
	pauseUntil time.Time
}

// throttle records a Retry-After wait for all requests.
func (c *Client) throttle(wait time.Duration) {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	from := time.Now()
	if c.pauseUntil.After(from) {
		from = c.pauseUntil
	}
	c.pauseUntil = from.Add(wait)
}

// waitPause blocks while the source is paused.
func (c *Client) waitPause(ctx context.Context) error {
	c.pauseMu.Lock()
	until := c.pauseUntil
	c.pauseMu.Unlock()
	if d := time.Until(until); d > 0 {
		select {
		case <-time.After(d):
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
}

// Get fetches u with params added.
func (c *Client) Get(ctx context.Context, u string, params url.Values) (*Response, error) {
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
	start := time.Now()
	b := backoff.NewExponentialBackOff()
	if c.initialInterval > 0 {
		b.InitialInterval = c.initialInterval
	}
	limited := false
	op := func() (*Response, error) {
		if err := c.waitPause(ctx); err != nil {
			return nil, backoff.Permanent(err)
		}
		if c.Limiter != nil {
			if err := c.Limiter.Wait(ctx); err != nil {
				return nil, backoff.Permanent(err)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, parsed.String(), nil)
		if err != nil {
			return nil, backoff.Permanent(errors.New(c.redact(err.Error())))
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "dango")
		for k, v := range c.Headers {
			req.Header.Set(k, v)
		}
		if err := c.Auth.Apply(ctx, req); err != nil {
			// A token request's error quotes the token URL (and what the endpoint said).
			config.RegisterSecret(c.Auth.Secrets()...)
			return nil, backoff.Permanent(config.RedactError(err))
		}
		resp, err := c.HTTP.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, backoff.Permanent(ctx.Err())
			}
			return nil, fmt.Errorf("GET %s: %s", c.redact(parsed.Path), c.redact(err.Error()))
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %s", c.redact(parsed.Path), c.redact(err.Error()))
		}
		switch s := resp.StatusCode; {
		case s/100 == 2:
			limited = false
			return &Response{Body: body, Header: resp.Header, URL: parsed}, nil
		case s == 401 || s == 403:
			return nil, backoff.Permanent(&AuthenticationError{Status: s, Detail: c.redact(detail(body, resp.Status))})
		case s == 429 || s == 503:
			limited = s == 429
			wait := retryAfter(resp.Header.Get("Retry-After"))
			if wait > 0 {
				c.throttle(wait)
				// The shared pause does the waiting; retry as soon as it is over.
				return nil, &backoff.RetryAfterError{Duration: time.Millisecond}
			}
			return nil, fmt.Errorf("%s from GET %s", resp.Status, c.redact(parsed.Path))
		case s >= 500:
			return nil, fmt.Errorf("%s from GET %s", resp.Status, c.redact(parsed.Path))
		default:
			return nil, backoff.Permanent(&HTTPError{Method: "GET", URL: c.redact(parsed.Path), Status: s, Detail: c.redact(detail(body, resp.Status))})
		}
	}
	notify := func(err error, wait time.Duration) {
		c.pauseMu.Lock()
		if p := time.Until(c.pauseUntil); p > wait {
			wait = p // a Retry-After pause: say how long it really is
		}
		c.pauseMu.Unlock()
		if c.OnRetry != nil {
			c.OnRetry(fmt.Sprintf("Retrying GET %s in %s (%s)", c.redact(parsed.Path), wait.Round(10*time.Millisecond), c.redact(err.Error())))
		}
	}
	resp, err := backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(c.MaxElapsed), backoff.WithNotify(notify))
	if err != nil && limited {
		return nil, &RateLimitError{Waited: time.Since(start)}
	}
	return resp, err
}

// retryAfter parses Retry-After: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return time.Duration(max(s, 0)) * time.Second
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
	return config.Redact(s)
}
