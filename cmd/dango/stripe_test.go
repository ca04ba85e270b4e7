package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripeMock starts the real stripe-mock on a free loopback port behind a proxy that records
// every request, and returns the proxy's URL and the recorded requests.
func stripeMock(t *testing.T) (string, func() []*url.URL) {
	t.Helper()
	bin := requireTool(t, "DANGO_STRIPE_MOCK", "stripe-mock")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-http-addr", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatal("stripe-mock did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	target, _ := url.Parse("http://" + addr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var seen []*url.URL
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		u := *r.URL
		seen = append(seen, &u)
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []*url.URL {
		mu.Lock()
		defer mu.Unlock()
		return append([]*url.URL(nil), seen...)
	}
}

func TestStripeAgainstStripeMock(t *testing.T) {
	base, requests := stripeMock(t)
	endpoints := []string{"charges", "customers", "subscriptions", "invoices", "products", "prices", "payment_intents", "refunds", "balance_transactions"}
	dir := newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: stripe_payments
    type: stripe
    schema: raw_stripe
    stripe:
      stripe_secret_key_env: STRIPE_API_KEY
      api_base: %s
      endpoints: [%s]
`, base, strings.Join(endpoints, ", ")))
	writeFile(t, dir, ".env", "STRIPE_API_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc\n")
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Connecting to Stripe API") {
		t.Fatalf("sync: %+v", r)
	}
	for _, ep := range endpoints {
		if got := scalar(t, dir, "SELECT count(*) > 0 FROM raw_stripe."+ep); got != "true" {
			t.Errorf("%s did not land", ep)
		}
	}
	if got := scalar(t, dir, "SELECT billing_details__name FROM raw_stripe.charges"); got != "Jenny Rosen" {
		t.Errorf("flattened charges.billing_details.name = %q", got)
	}
	if strings.Contains(r.stdout+r.stderr, "sk_test_4eC39HqLyjWDarjtT1zdp7dc") {
		t.Fatal("the key appears in the output")
	}
	// The second sync asks for created[gte] the stored cursor.
	before := len(requests())
	if r := dango(t, dir, "sync"); r.code != 0 {
		t.Fatalf("second sync: %+v", r)
	}
	cursor := scalar(t, dir, "SELECT cursor_value FROM raw_stripe._dango_state WHERE resource = 'charges'")
	found := false
	for _, u := range requests()[before:] {
		if u.Path == "/v1/charges" {
			found = true
			if got := u.Query().Get("created[gte]"); got != cursor {
				t.Errorf("second sync asked created[gte]=%q, stored cursor %q", got, cursor)
			}
		}
	}
	if !found {
		t.Fatal("second sync made no /v1/charges request")
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_stripe.charges"); got != "1" {
		t.Errorf("merge by id kept %s charges", got)
	}
	// A wrong key fails at once.
	writeFile(t, dir, ".env", "STRIPE_API_KEY=not-a-key-9\n")
	before = len(requests())
	r = dango(t, dir, "sync")
	if r.code != 1 || !strings.Contains(r.stdout, "AuthenticationError") || strings.Contains(r.stdout, "not-a-key-9") {
		t.Fatalf("wrong key: %+v", r)
	}
	if n := len(requests()) - before; n != 1 {
		t.Errorf("a 401 was retried: %d requests", n)
	}
}
