package main

import (
	"context"
	"fmt"
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
	bus, err := events.StartEmbedded(ctx, events.EmbeddedOptions{Listen: addr, StoreDir: t.TempDir()})
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
	dir := newProject(t, "version: 1\nsources:\n  - name: app\n    type: nats\n    nats:\n      url: nats://"+addr+"\n      stream: APP_EVENTS\n")
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
