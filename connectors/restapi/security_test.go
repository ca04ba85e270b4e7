package restapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/jsonshape"
)

// extract runs a source with settings s (base_url, resources and short limits filled in
// unless set) and returns what it captured and its error. It fails the test if the run
// takes longer than limit: every case here would hang without the bound it tests.
func extract(t *testing.T, s config.Values, limit time.Duration) (*capture, error) {
	t.Helper()
	for k, v := range map[string]any{"timeout": "5s", "max_retry_time": "10s", "parallel_pages": int64(1)} {
		if _, ok := s[k]; !ok {
			s[k] = v
		}
	}
	c, err := New(connectors.Job{Source: config.Source{Name: "api"}, ProjectRoot: t.TempDir()}, s)
	if err != nil {
		t.Fatal(err)
	}
	c.client.initialInterval = 10 * time.Millisecond
	cap := &capture{t: t, ids: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Extract(ctx, cap) }()
	select {
	case err := <-done:
		return cap, err
	case <-time.After(limit):
		cancel()
		<-done
		t.Fatalf("still running after %s", limit)
		return nil, nil
	}
}

// spy is a foreign server that records whether any request carried a secret.
type spy struct {
	srv     *httptest.Server
	secrets []string
	mu      sync.Mutex
	hits    int
	leaked  []string
}

func newSpy(t *testing.T, secrets []string) *spy {
	s := &spy{secrets: secrets}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		seen := r.URL.String()
		for k, vs := range r.Header {
			seen += "\n" + k + ": " + strings.Join(vs, ",")
		}
		for _, sec := range s.secrets {
			if strings.Contains(seen, sec) {
				s.leaked = append(s.leaked, sec)
			}
		}
		s.mu.Unlock()
		fmt.Fprint(w, `{"data": [{"id": 100}, {"id": 101}]}`)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func TestCredentialsStayWithTheirHost(t *testing.T) {
	const token, key, user, pass, clientSecret, accessToken, custom = "tok-SECRET-1", "key-SECRET-2", "alice", "pw-SECRET-3", "cs-SECRET-4", "at-SECRET-5", "hdr-SECRET-6"
	auths := []struct {
		name    string
		auth    config.Values
		secrets []string
	}{
		{"bearer", config.Values{"type": "bearer", "token": token}, []string{token}},
		{"api_key header", config.Values{"type": "api_key", "name": "X-Api-Key", "api_key": key, "location": "header"}, []string{key}},
		{"api_key query", config.Values{"type": "api_key", "name": "api_key", "api_key": key, "location": "query"}, []string{key}},
		{"basic", config.Values{"type": "basic", "username": user, "password": pass}, []string{pass, base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}},
		{"oauth2", config.Values{"type": "oauth2_client_credentials", "client_id": "cid", "client_secret": clientSecret}, []string{clientSecret, accessToken}},
		{"headers only", nil, []string{custom}},
	}
	// How the API leads elsewhere. The foreign server is another port on 127.0.0.1 (another
	// origin) or the same server named "localhost" (another host, same port).
	vectors := []string{"json next link", "Link header", "302 redirect", "307 redirect", "same server as localhost"}
	for _, a := range auths {
		for _, vec := range vectors {
			for _, allow := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/allow_cross_host=%v", a.name, vec, allow), func(t *testing.T) {
					foreign := newSpy(t, append([]string{custom}, a.secrets...))
					var base *httptest.Server
					base = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if r.URL.Path == "/token" {
							fmt.Fprintf(w, `{"access_token": %q, "expires_in": 3600}`, accessToken)
							return
						}
						if r.URL.Path == "/elsewhere" { // reached through "localhost": must come bare
							foreign.srv.Config.Handler.ServeHTTP(w, r)
							return
						}
						target := foreign.srv.URL + "/next?api_key=" + key // an API echoing the key
						switch vec {
						case "json next link":
							fmt.Fprintf(w, `{"data": [{"id": 1}], "next": %q}`, target)
						case "Link header":
							w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, target))
							fmt.Fprint(w, `{"data": [{"id": 1}]}`)
						case "302 redirect":
							http.Redirect(w, r, target, http.StatusFound)
						case "307 redirect":
							http.Redirect(w, r, target, http.StatusTemporaryRedirect)
						case "same server as localhost":
							http.Redirect(w, r, strings.Replace(base.URL, "127.0.0.1", "localhost", 1)+"/elsewhere?api_key="+key, http.StatusFound)
						}
					}))
					defer base.Close()
					s := config.Values{"base_url": base.URL, "headers": map[string]any{"X-Custom": custom},
						"resources": []any{map[string]any{"name": "items", "path": "/items", "data_selector": "data"}}}
					if a.auth != nil {
						auth := config.Values{}
						for k, v := range a.auth {
							auth[k] = v
						}
						if a.name == "oauth2" {
							auth["token_url"] = base.URL + "/token"
						}
						s["auth"] = auth
					}
					if allow {
						s["allow_cross_host"] = true
					}
					_, err := extract(t, s, 20*time.Second)
					foreign.mu.Lock()
					defer foreign.mu.Unlock()
					if len(foreign.leaked) > 0 {
						t.Fatalf("the foreign host received %q", foreign.leaked)
					}
					if !allow {
						var cross *CrossHostError
						if !errors.As(err, &cross) {
							t.Fatalf("err = %v, want a CrossHostError", err)
						}
						msg := err.Error()
						host := strings.TrimPrefix(foreign.srv.URL, "http://")
						if vec == "same server as localhost" {
							host = strings.Replace(strings.TrimPrefix(base.URL, "http://"), "127.0.0.1", "localhost", 1)
						}
						for _, want := range []string{"source api", "resource items", host, "allow_cross_host"} {
							if !strings.Contains(msg, want) {
								t.Errorf("error %q does not name %q", msg, want)
							}
						}
						for _, sec := range a.secrets {
							if strings.Contains(msg, sec) {
								t.Errorf("error %q shows a secret", msg)
							}
						}
						if foreign.hits != 0 {
							t.Errorf("the foreign host was asked %d times", foreign.hits)
						}
						return
					}
					if err != nil {
						t.Fatalf("with allow_cross_host: %v", err)
					}
					if foreign.hits == 0 {
						t.Fatal("the foreign link was not followed")
					}
				})
			}
		}
	}
}

func TestSameHostRedirectKeepsCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusMovedPermanently)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tok-1234" || r.Header.Get("X-Custom") != "v" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprint(w, `[{"id": 1}]`)
	}))
	defer srv.Close()
	got, err := extract(t, config.Values{"base_url": srv.URL, "auth": config.Values{"type": "bearer", "token": "tok-1234"},
		"headers": map[string]any{"X-Custom": "v"}, "resources": []any{"old"}}, 10*time.Second)
	if err != nil || got.records != 1 {
		t.Fatalf("records %v, err %v", got, err)
	}
}

func TestOAuth2TokenRedirectStaysOnItsHost(t *testing.T) {
	foreign := newSpy(t, []string{"cs-SECRET-9"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, foreign.srv.URL+"/token", http.StatusTemporaryRedirect) // 307 resends the basic auth
	}))
	defer srv.Close()
	_, err := extract(t, config.Values{"base_url": srv.URL, "resources": []any{"x"}, "allow_cross_host": true,
		"auth": config.Values{"type": "oauth2_client_credentials", "client_id": "cid", "client_secret": "cs-SECRET-9", "token_url": srv.URL + "/token"}}, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("err = %v", err)
	}
	if foreign.hits != 0 {
		t.Fatalf("the token request was redirected to the foreign host")
	}
}

func TestRetryAfterLongerThanMaxRetryTimeFailsAtOnce(t *testing.T) {
	for _, h := range []string{"999999999", "99999999999999999", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
		t.Run(h, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", h)
				w.WriteHeader(429)
			}))
			defer srv.Close()
			start := time.Now()
			_, err := extract(t, config.Values{"base_url": srv.URL, "resources": []any{"x"}, "max_retry_time": "10s"}, 5*time.Second)
			var rl *RateLimitError
			if !errors.As(err, &rl) || rl.Asked <= 10*time.Second {
				t.Fatalf("err = %v, want a RateLimitError saying what was asked", err)
			}
			if !strings.Contains(err.Error(), "Retry-After: "+h) || !strings.Contains(err.Error(), "max_retry_time (10s)") {
				t.Errorf("message %q", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestPaginationLoopsStop(t *testing.T) {
	cases := []struct {
		name      string
		paginator any
		parallel  int64
		handler   http.HandlerFunc
		want      string
	}{
		{"next link to itself", nil, 1, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data": [{"id": 1}], "next": %q}`, r.URL.Path)
		}, "same next page"},
		{"next links in a cycle", nil, 1, func(w http.ResponseWriter, r *http.Request) {
			next := map[string]string{"/items": "/b", "/b": "/c", "/c": "/b"}[r.URL.Path]
			fmt.Fprintf(w, `{"data": [{"id": %q}], "next": %q}`, r.URL.Path, next)
		}, "same next page"},
		{"Link header to itself", nil, 1, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `</items>; rel="next"`)
			fmt.Fprint(w, `{"data": [{"id": 1}]}`)
		}, "same next page"},
		{"cursor that never moves", map[string]any{"type": "cursor", "cursor_path": "next_cursor"}, 1, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data": [{"id": %q}], "next_cursor": "abc"}`, r.URL.Query().Get("cursor"))
		}, "same next page"},
		{"has_more with the same last id", nil, 1, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data": [{"id": "x", "p": %q}], "has_more": true}`, r.URL.Query().Get("starting_after"))
		}, "same next page"},
		{"page numbers ignored", map[string]any{"type": "page_number", "total_path": nil}, 1, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"data": [{"id": 1}, {"id": 2}]}`)
		}, "same page twice"},
		{"page numbers ignored, prefetched", map[string]any{"type": "page_number", "total_path": nil}, 4, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"data": [{"id": 1}, {"id": 2}]}`)
		}, "same page twice"},
		{"offsets ignored", map[string]any{"type": "offset", "limit": 2, "total_path": nil}, 1, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"data": [{"id": 1}, {"id": 2}]}`)
		}, "same page twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			res := map[string]any{"name": "items", "path": "/items", "data_selector": "data"}
			if c.paginator != nil {
				res["paginator"] = c.paginator
			}
			_, err := extract(t, config.Values{"base_url": srv.URL, "resources": []any{res}, "parallel_pages": c.parallel}, 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "stopping to avoid a loop") {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestResponseSizeIsBoundedWhileReading(t *testing.T) {
	chunk := []byte(`{"id": 1, "pad": "` + strings.Repeat("x", 64<<10) + `"},`)
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"endless chunked body", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"data": [`))
			for i := 0; i < 1<<14 && r.Context().Err() == nil; i++ { // up to 1 GB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
		{"announced 1 GB", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(1<<30))
			w.Write([]byte(`{"data": [`))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := extract(t, config.Values{"base_url": srv.URL, "resources": []any{"big"}, "max_response_size": "2MB"}, 20*time.Second)
			runtime.ReadMemStats(&after)
			var tl *ResponseTooLargeError
			if !errors.As(err, &tl) || !strings.Contains(err.Error(), "response from GET /big is larger than 2 MB (max_response_size)") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "malformed") {
				t.Errorf("reported as malformed: %v", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
				t.Errorf("allocated %d MB reading a reply limited to 2 MB", n>>20)
			}
		})
	}
}

func TestSlowServersTimeOutWithinMaxRetryTime(t *testing.T) {
	// A listener that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); defer c.Close(); time.Sleep(5 * time.Second) }()
		}
	}()
	var trickles atomic.Int32
	trickle := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trickles.Add(1)
		w.Header().Set("Content-Length", "1000")
		for i := 0; i < 1000; i++ {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(time.Second):
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer trickle.Close()
	for name, base := range map[string]string{"silent": "http://" + ln.Addr().String(), "trickling": trickle.URL} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := extract(t, config.Values{"base_url": base, "resources": []any{"slow"}, "timeout": "300ms", "max_retry_time": "1500ms"}, 10*time.Second)
			took := time.Since(start)
			var te *TimeoutError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), "no complete response within 300ms (timeout)") {
				t.Fatalf("err = %v", err)
			}
			if took > 2500*time.Millisecond {
				t.Errorf("took %s with max_retry_time 1.5s", took)
			}
		})
	}
	if n := trickles.Load(); n < 2 {
		t.Errorf("the trickling server was asked %d times: timeouts are not retried", n)
	}
}

func TestDeeplyNestedReplyRefused(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	for name, body := range map[string]string{
		"in a list":        `{"data": [` + deep + `]}`,
		"as the reply":     deep,
		"beside the data":  `{"meta": ` + deep + `, "data": [{"id": 1}]}`,
		"deep lists":       `[{"x": ` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}]`,
		"custom limit hit": `[{"a": {"b": {"c": {"d": 1}}}}]`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
			defer srv.Close()
			s := config.Values{"base_url": srv.URL, "resources": []any{"deep"}}
			limit := "256"
			if name == "custom limit hit" {
				s["max_json_depth"], limit = int64(3), "3"
			}
			start := time.Now()
			_, err := extract(t, s, 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), "deeper than "+limit+" levels (max_json_depth)") || !strings.Contains(err.Error(), "GET /deep") {
				t.Fatalf("err = %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

func TestSpoolRefusesDeepRecordsAndGoesOn(t *testing.T) {
	var files []string
	sp := NewSpool(t.TempDir(), func(s *batch.Scan, _ *jsonshape.Shape) error {
		files = append(files, s.Files...)
		return nil
	})
	defer sp.Discard()
	err := sp.WriteRaw([]byte(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)))
	var de *jsonshape.DepthError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "max_json_depth") {
		t.Fatalf("err = %v", err)
	}
	if err := sp.WriteRaw([]byte(`{"id": 1}`)); err != nil {
		t.Fatal(err)
	}
	if err := sp.Flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(files[0])
	if err != nil || string(data) != "{\"id\": 1}\n" {
		t.Fatalf("spooled %q, %v", data, err)
	}
}

func TestOrigin(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"https://api.example.com/v1", "https://api.example.com/other?page=2", true},
		{"https://api.example.com", "https://API.example.com:443/x", true},
		{"http://api.example.com", "http://api.example.com:80/x", true},
		{"https://api.example.com", "http://api.example.com/x", false}, // https→http
		{"https://api.example.com", "https://api.example.com:8443/x", false},
		{"https://api.example.com", "https://evil.api.example.com/x", false}, // Go forwards auth to subdomains; dango does not
		{"https://api.example.com", "https://api.example.com.evil.io/x", false},
		{"http://127.0.0.1:8080", "http://localhost:8080/x", false},
		{"https://user:pw@api.example.com", "https://api.example.com/x", true},
	}
	for _, c := range cases {
		a, _ := url.Parse(c.a)
		b, _ := url.Parse(c.b)
		if got := origin(a) == origin(b); got != c.same {
			t.Errorf("%s vs %s: same origin %v, want %v", c.a, c.b, got, c.same)
		}
		if strings.Contains(display(a), "pw") {
			t.Errorf("display(%s) shows user info", c.a)
		}
	}
}
