package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dangohq/dango/batch"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/config"
)

// Bus is a connection to JetStream with dango's streams in place.
type Bus struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	srv      *server.Server
	tempDir  string
	storage  jetstream.StorageType
	replicas int  // copies of each stream (0: the server default, one)
	admin    bool // this identity sets up streams and stores (serve, the embedded node)
}

// EmbeddedOptions configure an in-process NATS server.
type EmbeddedOptions struct {
	// Listen is HOST:PORT for other processes to connect to; empty means no listener at all
	// (the one-shot CLI case: nothing to install, nothing exposed).
	Listen string
	// Auth are the users other processes log in as; required with Listen (a listener never
	// goes without authentication). See LoadOrCreateAuth.
	Auth *AuthFile
	// TLS, with Listen: the server's certificate and key; with a CAFile, clients must present
	// a certificate it signed (mutual TLS) besides their password.
	TLS TLSFiles
	// StoreDir keeps JetStream data across restarts; empty means memory storage in a
	// temporary folder removed on Close.
	StoreDir string
}

// StartEmbedded starts a NATS server with JetStream inside this process and connects to it.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Bus, error) {
	opts := &server.Options{
		ServerName: "dango",
		JetStream:  true,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	b := &Bus{storage: jetstream.FileStorage, admin: true}
	if o.Listen == "" {
		opts.DontListen = true
	} else {
		if o.Auth == nil {
			return nil, errors.New("embedded NATS: refusing to listen on " + o.Listen + " without credentials")
		}
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
		opts.Users = o.Auth.serverUsers()
		if o.TLS.Set() {
			if o.TLS.CertFile == "" || o.TLS.KeyFile == "" {
				return nil, errors.New("embedded NATS: tls needs cert_file and key_file (the server's certificate); ca_file alone is for clients")
			}
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLS.CertFile, KeyFile: o.TLS.KeyFile, CaFile: o.TLS.CAFile, Verify: o.TLS.CAFile != ""})
			if err != nil {
				return nil, fmt.Errorf("embedded NATS: tls: %w", err)
			}
			opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, o.TLS.CAFile != ""
			opts.TLSTimeout = 5
		}
	}
	if o.StoreDir == "" {
		dir, err := os.MkdirTemp("", "dango-nats-*")
		if err != nil {
			return nil, err
		}
		b.tempDir, opts.StoreDir, b.storage = dir, dir, jetstream.MemoryStorage
	} else {
		opts.StoreDir = o.StoreDir
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		b.cleanup()
		return nil, fmt.Errorf("start embedded NATS: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		b.cleanup()
		return nil, errors.New("embedded NATS server did not become ready")
	}
	b.srv = srv
	copts := []nats.Option{nats.InProcessServer(srv), nats.Name("dango"), nats.CustomInboxPrefix(serveInbox)}
	if o.Auth != nil && o.Listen != "" {
		c := o.Auth.Users[RoleServe]
		copts = append(copts, nats.UserInfo(c.User, c.Password))
	}
	nc, err := nats.Connect("", copts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	b.NC = nc
	if b.JS, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.setup(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// ConnectOptions say who connects to an external NATS server or cluster.
type ConnectOptions struct {
	Name  string // the connection's name, in the server's monitoring
	Role  string // RoleServe sets up the streams and stores; RoleWorker only uses them
	Creds Credentials
}

// Connect joins a NATS server or cluster: dango serve --nats (RoleServe, which makes sure
// dango's streams exist there, on file storage) or dango worker (RoleWorker, which never
// creates or changes streams: its identity may not).
func Connect(ctx context.Context, url string, o ConnectOptions) (*Bus, error) {
	opts, err := o.Creds.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Name(o.Name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false), nats.CustomInboxPrefix(inboxPrefix(o.Role)))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, connectErr(url, o.Creds, err)
	}
	// In a cluster, streams keep three copies (fewer when fewer servers are known), so one
	// node going down loses no job or batch.
	b := &Bus{NC: nc, storage: jetstream.FileStorage, replicas: min(3, max(1, len(nc.Servers()))), admin: o.Role == RoleServe}
	if b.JS, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, err
	}
	if !b.admin {
		return b, nil
	}
	if err := b.setup(ctx); err != nil {
		nc.Close()
		return nil, config.RedactError(fmt.Errorf("%w (is JetStream enabled on %s, and may %s manage streams there?)", err, config.Redact(url), o.Creds))
	}
	return b, nil
}

// connectErr explains a refused connection without repeating any secret (nats.go quotes a
// URL it cannot parse, user:password and all).
func connectErr(url string, c Credentials, err error) error {
	url = config.Redact(url)
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
		if c.Empty() {
			return config.RedactError(fmt.Errorf("connect to NATS at %s: %w: the server requires credentials; set them in the nats: block of .dango/project.yml (user and password_env, token_env, creds_file or nkey_seed_file)", url, err))
		}
		return config.RedactError(fmt.Errorf("connect to NATS at %s as %s: %w: check the credentials in the nats: block of .dango/project.yml", url, c, err))
	}
	return config.RedactError(fmt.Errorf("connect to NATS at %s: %w", url, err))
}

// Dial is a plain NATS connection of a role that is not a bus: a trigger, dango events, the
// CLI following a server's events.
func Dial(url, name, role string, c Credentials) (*nats.Conn, error) {
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Name(name), nats.CustomInboxPrefix(inboxPrefix(role)))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, connectErr(url, c, err)
	}
	return nc, nil
}

// ObjectPrefix marks a scan file that travels in the spool object store: a worker on another
// machine uploads its files there, and the writer downloads them before loading.
const ObjectPrefix = batch.ObjectPrefix

// SpoolBucket is the object store bucket of files in transit.
const SpoolBucket = "dango_spool"

// SpoolStore opens the object store for files in transit (creating it, for serve; a worker
// may not, and finds it in place since serve set it up).
func (b *Bus) SpoolStore(ctx context.Context) (jetstream.ObjectStore, error) {
	if !b.admin {
		st, err := b.JS.ObjectStore(ctx, SpoolBucket)
		if err != nil {
			return nil, fmt.Errorf("spool object store (is dango serve running on this NATS?): %w", err)
		}
		return st, nil
	}
	st, err := b.JS.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: SpoolBucket, Storage: b.storage, Replicas: b.replicas,
		Description: "files extracted by dango workers, until the writer has loaded them"})
	if err != nil {
		return nil, fmt.Errorf("spool object store: %w", err)
	}
	return st, nil
}

// SeenStore is the bucket of webhook signatures already used: kept in JetStream, they stay
// used across a server's restarts, for ttl.
func (b *Bus) SeenStore(ctx context.Context, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := b.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "dango_webhook_signatures", TTL: ttl,
		Storage: b.storage, Replicas: b.replicas, Description: "webhook signatures used, so none is accepted twice"})
	if err != nil {
		return nil, fmt.Errorf("webhook signature store: %w", err)
	}
	return kv, nil
}

// Admin reports whether this bus's identity sets up streams, stores and consumers (serve and
// the embedded node); a worker's only uses what serve set up.
func (b *Bus) Admin() bool { return b.admin }

// ClientURL is where other processes reach an embedded server that listens ("" otherwise).
func (b *Bus) ClientURL() string {
	if b.srv == nil || b.srv.Addr() == nil {
		return ""
	}
	return b.srv.ClientURL()
}

func splitHostPort(hp string) (string, int, error) {
	var host string
	var port int
	for i := len(hp) - 1; i >= 0; i-- {
		if hp[i] == ':' {
			host = hp[:i]
			if _, err := fmt.Sscanf(hp[i+1:], "%d", &port); err != nil {
				return "", 0, fmt.Errorf("listen address %q: bad port", hp)
			}
			return host, port, nil
		}
	}
	return "", 0, fmt.Errorf("listen address %q: want HOST:PORT", hp)
}

// setup creates what the serve identity owns: the streams, and the spool object store that
// workers put files into (they may not create it).
func (b *Bus) setup(ctx context.Context) error {
	if err := b.ensureStreams(ctx); err != nil {
		return err
	}
	_, err := b.SpoolStore(ctx)
	return err
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	cfgs := []jetstream.StreamConfig{
		{Name: StreamJobs, Subjects: []string{jobsPrefix + ">"}, Retention: jetstream.WorkQueuePolicy, Storage: b.storage, Replicas: b.replicas},
		{Name: StreamBatches, Subjects: []string{batchesPrefix + ">"}, Retention: jetstream.WorkQueuePolicy, Storage: b.storage, Replicas: b.replicas},
		{Name: StreamEvents, Subjects: []string{eventsPrefix + ">"}, Retention: jetstream.LimitsPolicy, Storage: b.storage,
			MaxAge: 7 * 24 * time.Hour, MaxMsgs: 1_000_000, Replicas: b.replicas},
	}
	for _, c := range cfgs {
		if _, err := b.JS.CreateOrUpdateStream(ctx, c); err != nil {
			return fmt.Errorf("set up stream %s: %w", c.Name, err)
		}
	}
	return nil
}

// Publish sends v as JSON to subject and waits for JetStream to store it.
func (b *Bus) Publish(ctx context.Context, subject string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := b.JS.Publish(ctx, subject, data); err != nil {
		return fmt.Errorf("publish %s: %w", subject, err)
	}
	return nil
}

// Emit publishes an event, stamping its version and time. Its message and error are
// redacted here, the one way every event leaves a process: events are stored in JetStream,
// followed by CLIs and copied into run records.
func (b *Bus) Emit(ctx context.Context, e Event) error {
	e.V = Version
	e.Message, e.Error = config.Redact(e.Message), config.Redact(e.Error)
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	return b.Publish(ctx, EventSubject(e.Type, e.Source), e)
}

// Close drains the connection and stops an embedded server.
func (b *Bus) Close() {
	if b.srv != nil && b.tempDir != "" && b.JS != nil {
		// A throwaway in-memory server: deleting its streams first drops the consumers'
		// pending pull requests, which the server would otherwise spend 50 ms announcing
		// on shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		for _, name := range []string{StreamJobs, StreamBatches, StreamEvents} {
			b.JS.DeleteStream(ctx, name)
		}
		cancel()
	}
	if b.NC != nil {
		b.NC.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	b.cleanup()
}

func (b *Bus) cleanup() {
	if b.tempDir != "" {
		os.RemoveAll(b.tempDir)
	}
}

// AssignmentsBucket records every load the dispatcher queued (key the load id): the writer
// loads nothing else, so a worker identity cannot start a load of its own, for a run or a
// source it was not given. Only serve (and the embedded bus) may write it.
const AssignmentsBucket = "dango_assignments"

// Assignment is what the dispatcher queued a load for.
type Assignment struct {
	RunID  string `json:"run_id"`
	Source string `json:"source"`
}

// Assignments opens (creating) the bucket of queued loads.
func (b *Bus) Assignments(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := b.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: AssignmentsBucket, TTL: 7 * 24 * time.Hour,
		Storage: b.storage, Replicas: b.replicas, Description: "loads the dispatcher queued; the writer loads nothing else"})
	if err != nil {
		return nil, fmt.Errorf("assignments store: %w", err)
	}
	return kv, nil
}

// FailedLoadsBucket remembers loads the writer failed, so their leftover batches are dropped
// after a restart instead of starting a load that can never complete.
const FailedLoadsBucket = "dango_failed_loads"

// FailedLoads opens (creating) the bucket of failed loads: key the load id, value the reason.
func (b *Bus) FailedLoads(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := b.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: FailedLoadsBucket, TTL: 7 * 24 * time.Hour,
		Storage: b.storage, Replicas: b.replicas, Description: "loads the writer failed; their late batches are dropped"})
	if err != nil {
		return nil, fmt.Errorf("failed-loads store: %w", err)
	}
	return kv, nil
}
