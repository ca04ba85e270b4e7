package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strconv"
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

// TestStripeStartDateAndCursorsAsDates: the guide's `--start-date 2024-01-01` reaches Stripe
// as unix seconds (stripe-mock, like Stripe, answers 400 to a date), the console shows dates
// for the start value and for the stored cursor it overrides, and the endpoints dlt's Stripe
// source loads beyond the default ones (events, accounts) land under their plural names.
func TestStripeStartDateAndCursorsAsDates(t *testing.T) {
	base, requests := stripeMock(t)
	endpoints := []string{"charges", "subscriptions", "events", "accounts"}
	dir := newProject(t, fmt.Sprintf(`version: 1
sources:
  - name: stripe_payments
    type: stripe
    schema: raw_stripe
    stripe:
      stripe_secret_key_env: STRIPE_API_KEY
      api_base: %s
      start_date: "2009-01-01"
      endpoints: [%s]
`, base, strings.Join(endpoints, ", ")))
	writeFile(t, dir, ".env", "STRIPE_API_KEY=sk_test_4eC39HqLyjWDarjtT1zdp7dc\n")
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching charges (incremental from 2009-01-01)\n") {
		t.Fatalf("first sync: %+v", r)
	}
	asked := func(since int, path string) url.Values {
		t.Helper()
		for _, u := range requests()[since:] {
			if u.Path == path {
				return u.Query()
			}
		}
		t.Fatalf("no request to %s", path)
		return nil
	}
	for _, ep := range endpoints {
		if got := asked(0, "/v1/"+ep).Get("created[gte]"); got != "1230768000" {
			t.Errorf("%s: created[gte] = %q, want 1230768000 (2009-01-01 in unix seconds)", ep, got)
		}
		if got := scalar(t, dir, "SELECT count(*) > 0 FROM raw_stripe."+ep); got != "true" {
			t.Errorf("%s did not land", ep)
		}
	}
	if got := asked(0, "/v1/subscriptions").Get("status"); got != "all" {
		t.Errorf("subscriptions asked status=%q, want all (canceled ones too)", got)
	}
	if got := scalar(t, dir, "SELECT count(*) FROM raw_stripe.events WHERE id LIKE 'evt_%'"); got == "0" {
		t.Errorf("events table holds no events")
	}
	// The stored cursor is Stripe's own created value; the console shows it as a date.
	cursor := scalar(t, dir, "SELECT cursor_value FROM raw_stripe._dango_state WHERE resource = 'charges'")
	n, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil {
		t.Fatalf("stored cursor %q is not Stripe's created", cursor)
	}
	shown := time.Unix(n, 0).UTC().Format("2006-01-02T15:04:05Z")
	if time.Unix(n, 0).UTC().Format("15:04:05") == "00:00:00" {
		shown = time.Unix(n, 0).UTC().Format("2006-01-02")
	}
	before := len(requests())
	r = dango(t, dir, "sync", "--start-date", "2024-01-01")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching charges (incremental from 2024-01-01)\n           Overriding default: "+shown+"\n") ||
		strings.Contains(r.stdout, "1704067200") {
		t.Fatalf("--start-date sync (want the stored cursor shown as %s): %+v", shown, r)
	}
	if got := asked(before, "/v1/charges").Get("created[gte]"); got != "1704067200" {
		t.Errorf("--start-date 2024-01-01 sent created[gte]=%q, want 1704067200", got)
	}
	// Without --start-date, the next sync starts at the stored cursor, shown as a date.
	before = len(requests())
	r = dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Fetching charges (incremental from "+shown+")\n") {
		t.Fatalf("sync from the cursor: %+v", r)
	}
	if got := asked(before, "/v1/charges").Get("created[gte]"); got != cursor {
		t.Errorf("sync from the cursor sent created[gte]=%q, want %s", got, cursor)
	}
}
