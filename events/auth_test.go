package events

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestAuthFileGeneratedOnceAndPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".dango", "nats-auth.json")
	a, err := LoadOrCreateAuth(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v mode %v", err, st.Mode())
	}
	seen := map[string]bool{}
	for _, role := range Roles {
		c := a.Users[role]
		if c.User != UserName(role) || len(c.Password) < 32 || seen[c.Password] {
			t.Errorf("%s: user %q password of %d chars (or repeated)", role, c.User, len(c.Password))
		}
		seen[c.Password] = true
	}
	b, err := LoadOrCreateAuth(path)
	if err != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("second start generated new credentials (%v)", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateAuth(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable credentials file was accepted: %v", err)
	}
}

func TestEmbeddedRefusesListenerWithoutAuth(t *testing.T) {
	_, err := StartEmbedded(context.Background(), EmbeddedOptions{Listen: freeAddr(t)})
	if err == nil || !strings.Contains(err.Error(), "without credentials") {
		t.Fatalf("listened without credentials: %v", err)
	}
}

// TestRolesEmbedded: the embedded server with a listener enforces every role's permissions.
func TestRolesEmbedded(t *testing.T) {
	ctx := context.Background()
	auth, err := LoadOrCreateAuth(filepath.Join(t.TempDir(), "auth.json"))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	bus, err := StartEmbedded(ctx, EmbeddedOptions{Listen: addr, Auth: auth, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	checkRoles(t, bus, "nats://"+addr, auth.Users)
}

// TestRolesRealServer: the real nats-server binary with deploy/nats/auth.conf (the config
// documented for external clusters) enforces the same; and that file grants exactly what
// Permissions says.
func TestRolesRealServer(t *testing.T) {
	bin := os.Getenv("DANGO_NATS_SERVER")
	if bin == "" {
		t.Skip("DANGO_NATS_SERVER (the nats-server binary) is not set")
	}
	ctx := context.Background()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "deploy", "nats", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "auth.conf"), src, 0o600)
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	conf := "listen: " + host + ":" + port + "\njetstream {store_dir: " + strconv.Quote(filepath.Join(dir, "js")) + "}\ninclude ./auth.conf\n"
	os.WriteFile(filepath.Join(dir, "test.conf"), []byte(conf), 0o600)
	users := map[string]Credentials{}
	env := os.Environ()
	for _, role := range Roles {
		pw, _ := randomSecret()
		users[role] = Credentials{User: UserName(role), Password: pw}
		env = append(env, "DANGO_NATS_"+strings.ToUpper(role)+"_PASSWORD="+pw)
	}
	// The documented file grants what the embedded server grants.
	for _, e := range env[len(os.Environ()):] {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "test.conf"))
	if err != nil {
		t.Fatalf("deploy/nats/auth.conf: %v", err)
	}
	for _, u := range opts.Users {
		role := strings.TrimPrefix(u.Username, "dango-")
		if u.Password != users[role].Password {
			t.Errorf("%s: password not taken from the environment", u.Username)
		}
		if !reflect.DeepEqual(u.Permissions, Permissions(role)) {
			t.Errorf("auth.conf grants %s %+v, the embedded server %+v", u.Username, u.Permissions, Permissions(role))
		}
	}
	if len(opts.Users) != len(Roles) {
		t.Errorf("auth.conf has %d users, want %d", len(opts.Users), len(Roles))
	}

	cmd := exec.Command(bin, "-c", filepath.Join(dir, "test.conf"))
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	url := "nats://" + addr
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := Connect(cctx, url, ConnectOptions{Name: "t", Role: RoleWorker, Creds: users[RoleWorker]}); err != nil {
		t.Fatalf("a worker could not even connect: %v", err)
	}
	bus, err := Connect(cctx, url, ConnectOptions{Name: "serve", Role: RoleServe, Creds: users[RoleServe]})
	if err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
	defer bus.Close()
	checkRoles(t, bus, url, users)
}

// violations collects a connection's asynchronous errors (a denied publish or subscription
// is reported that way).
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	v.errs = append(v.errs, err.Error())
	v.mu.Unlock()
}

func (v *violations) has(s string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		if strings.Contains(strings.ToLower(e), "permissions violation") && strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Errorf("%s", what)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRoles runs every role against a server whose serve identity set up bus.
func checkRoles(t *testing.T, bus *Bus, url string, users map[string]Credentials) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }

	// Nobody unauthenticated, nobody with a wrong password, no role's password for another.
	for name, c := range map[string]Credentials{
		"no credentials": {},
		"wrong password": {User: UserName(RoleWorker), Password: "guess-guess-guess"},
		"swapped":        {User: UserName(RoleServe), Password: users[RoleWorker].Password},
		"token":          {Token: users[RoleServe].Password},
	} {
		nc, err := Dial(url, "attacker", RoleTrigger, c)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization error", name, err)
		}
	}

	// The serve side: the worker consumer, a job, a trigger responder, the signature bucket.
	if _, err := bus.JS.CreateOrUpdateConsumer(ctx, StreamJobs, jetstream.ConsumerConfig{Durable: WorkersConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(ctx, JobSubject("s1"), SyncJob{V: 1, Source: "s1"}); err != nil {
		t.Fatal(err)
	}
	seen, err := bus.SeenStore(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seen.Put(ctx, "sig1", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// The run records (service's bucket), the assignments and the failed loads.
	runs, err := bus.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "dango_runs"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Put(ctx, "run_1", []byte(`{"status":"running"}`)); err != nil {
		t.Fatal(err)
	}
	assigned, err := bus.Assignments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assigned.Put(ctx, "1.000001", []byte(`{"run_id":"run_1","source":"s1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.FailedLoads(ctx); err != nil {
		t.Fatal(err)
	}
	buckets := map[string]jetstream.KeyValue{"dango_webhook_signatures": seen, "dango_runs": runs, AssignmentsBucket: assigned}
	var triggers sync.Map
	tsub, err := bus.NC.Subscribe(triggersPrefix+">", func(m *nats.Msg) {
		triggers.Store(m.Subject, true)
		m.Respond([]byte(`{"run_id":"run_1"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tsub.Unsubscribe()
	bus.NC.Flush()

	t.Run("worker", func(t *testing.T) {
		var v violations
		opts, _ := users[RoleWorker].options()
		nc, err := nats.Connect(url, append(opts, nats.ErrorHandler(v.handler), nats.CustomInboxPrefix(workerInbox))...)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		w := &Bus{NC: nc, storage: jetstream.FileStorage}
		if w.JS, err = jetstream.New(nc); err != nil {
			t.Fatal(err)
		}
		// What a worker does: bind to the consumer, pull the job, ack it, ship a file,
		// publish a batch and an event.
		cons, err := w.JS.Consumer(ctx, StreamJobs, WorkersConsumer)
		if err != nil {
			t.Fatalf("bind the workers' consumer: %v", err)
		}
		msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			if err := m.InProgress(); err != nil {
				t.Error(err)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Errorf("ack a job: %v", err)
			}
		}
		if got != 1 {
			t.Errorf("pulled %d jobs, want 1 (%v)", got, msgs.Error())
		}
		st, err := w.SpoolStore(ctx)
		if err != nil {
			t.Fatalf("open the spool: %v", err)
		}
		if _, err := st.PutBytes(ctx, "load1/1/1-a.csv", bytes.Repeat([]byte("x"), 300_000)); err != nil {
			t.Errorf("put a file in the spool: %v", err)
		}
		if err := w.Publish(ctx, BatchSubject("s1"), BatchMsg{V: 1, Source: "s1", End: true}); err != nil {
			t.Errorf("publish a batch: %v", err)
		}
		if err := w.Emit(ctx, Event{Type: SyncStarted, Source: "s1"}); err != nil {
			t.Errorf("emit an event: %v", err)
		}

		// What it may not do.
		// A sync's end is the writer's word: a worker's sync.completed or sync.failed (or a
		// model run's end) is never stored, so no run is told it finished.
		evBefore := streamMsgs(t, bus, StreamEvents)
		for _, typ := range []string{SyncCompleted, SyncFailed, RunCompleted, GenerateCompleted} {
			c, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
			if err := w.Emit(c, Event{Type: typ, RunID: "run_1", Source: "s1"}); err == nil {
				t.Errorf("a worker published %s", typ)
			}
			cancel()
		}
		if n := streamMsgs(t, bus, StreamEvents); n != evBefore {
			t.Errorf("the worker's forged ends were stored: %d → %d events", evBefore, n)
		}
		// Nor record a load of its own.
		kvDenied := map[string]func(context.Context) error{}
		for name := range buckets {
			kvDenied["purge the bucket "+name] = func(c context.Context) error { return purge(c, w.JS, "KV_"+name) }
			kvDenied["delete the bucket "+name] = func(c context.Context) error { return w.JS.DeleteKeyValue(c, name) }
			kvDenied["put into "+name] = func(c context.Context) error {
				_, err := w.JS.Publish(c, "$KV."+name+".x1", []byte(`{"run_id":"run_1","source":"s1"}`))
				return err
			}
			kvDenied["delete a key of "+name] = func(c context.Context) error {
				m := nats.NewMsg("$KV." + name + ".run_1")
				m.Header.Set("KV-Operation", "PURGE")
				_, err := w.JS.PublishMsg(c, m)
				return err
			}
			kvDenied["delete a message of "+name] = func(c context.Context) error {
				_, err := nc.RequestWithContext(c, "$JS.API.STREAM.MSG.DELETE.KV_"+name, []byte(`{"seq":1}`))
				return err
			}
		}
		for what, f := range kvDenied {
			c, cancel := context.WithTimeout(ctx, 400*time.Millisecond) // a denied request is never answered
			if err := f(c); err == nil {
				t.Errorf("worker could %s", what)
			}
			cancel()
		}
		for name, kv := range buckets {
			st, err := kv.Status(ctx)
			if err != nil || st.Values() < 1 {
				t.Errorf("bucket %s lost its entries (%v)", name, err)
			}
			if _, err := kv.Get(ctx, "x1"); err == nil {
				t.Errorf("the worker's entry is in %s", name)
			}
		}
		if e, err := runs.Get(ctx, "run_1"); err != nil || !strings.Contains(string(e.Value()), "running") {
			t.Errorf("the run record was changed: %v", err)
		}
		nc.Publish(TriggerPrefixForTest+"s1", []byte(`{}`))
		nc.Publish(JobSubject("s1"), []byte(`{}`))
		nc.Flush()
		eventually(t, "no permissions violation reported for the worker's trigger", func() bool { return v.has("dango.trigger.sync.s1") })
		time.Sleep(200 * time.Millisecond)
		if _, ok := triggers.Load(TriggerPrefixForTest + "s1"); ok {
			t.Error("a worker's trigger reached serve")
		}
		denied := map[string]func(context.Context) error{
			"purge the signature bucket": func(c context.Context) error { return purge(c, w.JS, "KV_dango_webhook_signatures") },
			"delete the signature bucket": func(c context.Context) error {
				return w.JS.DeleteKeyValue(c, "dango_webhook_signatures")
			},
			"delete a signature": func(c context.Context) error {
				kv, err := w.JS.KeyValue(c, "dango_webhook_signatures")
				if err != nil {
					return err
				}
				return kv.Purge(c, "sig1")
			},
			"create a stream": func(c context.Context) error {
				_, err := w.JS.CreateStream(c, jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}})
				return err
			},
			"delete the jobs stream": func(c context.Context) error { return w.JS.DeleteStream(c, StreamJobs) },
			"purge the batches":      func(c context.Context) error { return purge(c, w.JS, StreamBatches) },
			"create a consumer of the batches": func(c context.Context) error {
				_, err := w.JS.CreateOrUpdateConsumer(c, StreamBatches, jetstream.ConsumerConfig{Durable: "steal"})
				return err
			},
			"create the run records": func(c context.Context) error {
				_, err := w.JS.CreateKeyValue(c, jetstream.KeyValueConfig{Bucket: "dango_runs"})
				return err
			},
			"publish a job": func(c context.Context) error {
				_, err := w.JS.Publish(c, JobSubject("s1"), []byte(`{}`))
				return err
			},
		}
		for name, f := range denied {
			c, cancel := short()
			if err := f(c); err == nil {
				t.Errorf("worker could %s", name)
			}
			cancel()
		}
		// The other streams and the spool's own stream cannot be purged or deleted either.
		for _, name := range []string{StreamEvents, StreamJobs, StreamBatches, spoolStream} {
			for _, op := range []string{"PURGE", "DELETE", "MSG.DELETE"} {
				c, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
				if _, err := nc.RequestWithContext(c, "$JS.API.STREAM."+op+"."+name, []byte(`{"seq":1}`)); err == nil {
					t.Errorf("worker could %s %s", op, name)
				}
				cancel()
			}
		}
		if _, err := bus.JS.Stream(ctx, "EVIL"); err == nil {
			t.Error("the worker's stream exists")
		}
		if e, err := seen.Get(ctx, "sig1"); err != nil || string(e.Value()) != "1" {
			t.Errorf("the signature bucket lost its entry: %v", err)
		}
		if _, err := bus.JS.Stream(ctx, StreamJobs); err != nil {
			t.Errorf("the jobs stream: %v", err)
		}
		// Nor read serve's replies or the triggers' inbox.
		for _, subj := range []string{serveInbox + ".>", "_INBOX.>", ">", "dango.batches.>"} {
			nc.Subscribe(subj, func(*nats.Msg) {})
		}
		nc.Flush()
		eventually(t, "the worker subscribed to serve's inbox", func() bool { return v.has(serveInbox) })
	})

	t.Run("trigger", func(t *testing.T) {
		var v violations
		opts, _ := users[RoleTrigger].options()
		nc, err := nats.Connect(url, append(opts, nats.ErrorHandler(v.handler))...)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		reply, err := nc.Request(TriggerPrefixForTest+"s2", []byte(`{}`), 3*time.Second)
		if err != nil || !strings.Contains(string(reply.Data), "run_1") {
			t.Fatalf("trigger request-reply: %v", err)
		}
		evs := make(chan *nats.Msg, 4)
		if _, err := nc.ChanSubscribe(AllEvents, evs); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		bus.Emit(ctx, Event{Type: SyncCompleted, Source: "s2"})
		select {
		case <-evs:
		case <-time.After(3 * time.Second):
			t.Error("the trigger identity cannot read events")
		}
		before, _ := bus.JS.Stream(ctx, StreamBatches)
		bi, _ := before.Info(ctx)
		nc.Publish(BatchSubject("s1"), []byte(`{"v":1}`))
		nc.Publish(JobSubject("s1"), []byte(`{"v":1}`))
		nc.Publish("$JS.API.STREAM.PURGE.KV_dango_webhook_signatures", nil)
		nc.Publish("$KV.dango_webhook_signatures.sig1", nil)
		nc.Flush()
		eventually(t, "no violation reported for the trigger's batch", func() bool { return v.has("dango.batches.s1") })
		js, _ := jetstream.New(nc)
		c, cancel := short()
		if _, err := js.Stream(c, StreamJobs); err == nil {
			t.Error("the trigger identity may use the JetStream API")
		}
		cancel()
		ai, _ := before.Info(ctx)
		if ai.State.Msgs != bi.State.Msgs {
			t.Errorf("the trigger's batch was stored: %d → %d messages", bi.State.Msgs, ai.State.Msgs)
		}
		if e, err := seen.Get(ctx, "sig1"); err != nil || string(e.Value()) != "1" {
			t.Errorf("the signature bucket lost its entry: %v", err)
		}
	})
}

// TriggerPrefixForTest is the sync trigger subject (service.TriggerPrefix).
const TriggerPrefixForTest = triggersPrefix + "sync."

// purge purges a stream through the API, as an attacker would (looking it up first fails too).
func purge(ctx context.Context, js jetstream.JetStream, name string) error {
	st, err := js.Stream(ctx, name)
	if err != nil {
		// Straight to the purge API, without the lookup.
		nc := js.Conn()
		_, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+name, nil)
		return err
	}
	return st.Purge(ctx)
}

// streamMsgs is how many messages a stream holds.
func streamMsgs(t *testing.T, bus *Bus, name string) uint64 {
	t.Helper()
	st, err := bus.JS.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestSecretsParseAsStringsInNATSConfig: every generated password survives nats-server's
// variable parsing as the same string (a value like "12-07…" would be read as a date).
func TestSecretsParseAsStringsInNATSConfig(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 200; i++ {
		pw, err := randomSecret()
		if err != nil {
			t.Fatal(err)
		}
		if c := pw[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			t.Fatalf("password %q does not start with a letter", pw)
		}
		t.Setenv("DANGO_TEST_PW", pw)
		conf := filepath.Join(dir, "c.conf")
		os.WriteFile(conf, []byte("authorization { user: a, password: $DANGO_TEST_PW }\n"), 0o600)
		opts, err := server.ProcessConfigFile(conf)
		if err != nil {
			t.Fatalf("password %q: %v", pw, err)
		}
		if opts.Password != pw {
			t.Fatalf("password %q read back as %q", pw, opts.Password)
		}
	}
}
