package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/events"
)

// TestNATSSource: upstream services push JSON events to a JetStream stream; each sync lands
// those after the stored sequence, exactly once; a bad event is skipped, not a roadblock.
func TestNATSSource(t *testing.T) {
	ctx := context.Background()
	addr := freePort(t)
	auth, err := events.LoadOrCreateAuth(filepath.Join(t.TempDir(), "auth.json"))
	if err != nil {
		t.Fatal(err)
	}
	bus, err := events.StartEmbedded(ctx, events.EmbeddedOptions{Listen: addr, Auth: auth, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	if _, err := bus.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "APP_EVENTS", Subjects: []string{"app.>"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i <= to; i++ {
			body := fmt.Sprintf(`{"id": %d, "kind": "order", "customer": {"id": %d, "tier": "gold"}}`, i, i%7)
			subject := "app.orders"
			switch {
			case i == 5:
				body, subject = `not json {`, "app.orders"
			case i%10 == 0:
				body, subject = fmt.Sprintf(`{"id": %d, "kind": "refund", "amount": 2.5}`, i), "app.refunds"
			}
			if _, err := bus.JS.Publish(ctx, subject, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(1, 100)
	// The source logs in to its upstream NATS with credentials of its own.
	yml := "version: 1\nsources:\n  - name: app\n    type: nats\n    nats:\n      url: nats://" + addr + "\n      stream: APP_EVENTS\n"
	dir := newProject(t, strings.Replace(yml, "stream:", "user: dango-serve\n      password_env: UPSTREAM_PW\n      stream:", 1))
	writeFile(t, dir, ".env", "UPSTREAM_PW="+auth.Users[events.RoleServe].Password+"\n")
	// Without them, or with a wrong password, the sync fails saying why.
	for name, y := range map[string]string{"none": yml, "wrong": strings.Replace(yml, "stream:", "user: dango-serve\n      password_env: BAD_PW\n      stream:", 1)} {
		bad := newProject(t, y)
		writeFile(t, bad, ".env", "BAD_PW=guess-guess\n")
		if r := dango(t, bad, "sync"); r.code == 0 || !strings.Contains(r.stdout+r.stderr, "Authorization Violation") {
			t.Errorf("%s credentials: %+v", name, r)
		}
	}
	r := dango(t, dir, "sync")
	if r.code != 0 || !strings.Contains(r.stdout, "Skipping event 5 on app.orders: not JSON") || !strings.Contains(r.stdout, "Loaded 99 events") {
		t.Fatalf("first sync: %+v", r)
	}
	publish(101, 150)
	if r := dango(t, dir, "sync"); r.code != 0 || !strings.Contains(r.stdout, "Loaded 50 events") {
		t.Fatalf("second sync: %+v", r)
	}
	if r := dango(t, dir, "sync"); r.code != 0 || !strings.Contains(r.stdout, "Loaded 0 events") {
		t.Fatalf("idle sync: %+v", r)
	}
	for q, want := range map[string]string{
		"SELECT count(*) || '/' || count(DISTINCT _nats_seq) || '/' || max(_nats_seq) FROM raw_app.app_events": "149/149/150",
		"SELECT count(*) FROM raw_app.app_events WHERE _nats_subject = 'app.refunds' AND amount = 2.5":         "15",
		"SELECT customer__tier FROM raw_app.app_events WHERE id = 1":                                           "gold",
	} {
		if got := scalar(t, dir, q); got != want {
			t.Errorf("%s = %s, want %s", q, got, want)
		}
	}
}
