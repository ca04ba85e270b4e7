package events

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Roles of the identities on dango's bus. Each has a user name on the embedded server (and
// in deploy/nats/auth.conf for an external cluster) and a set of subject permissions:
//
//   - serve: everything (it sets up the streams, buckets and consumers, and is the writer);
//   - worker: pull jobs, ack them, publish batches and events, put files in the spool object
//     store — no triggers, no stream or bucket management (so no purging a KV bucket);
//   - trigger: publish dango.trigger.> (request-reply) and read dango.events.> — nothing else.
const (
	RoleServe   = "serve"
	RoleWorker  = "worker"
	RoleTrigger = "trigger"
)

// Roles lists every role, in the order the credentials file keeps them.
var Roles = []string{RoleServe, RoleWorker, RoleTrigger}

// UserName is the NATS user name of a role.
func UserName(role string) string { return "dango-" + role }

// Inbox prefixes: each identity receives replies (JetStream API answers, pulled messages,
// publish acks) on its own prefix, so no other identity may subscribe to them. Triggers use
// NATS's default _INBOX, which every client library and the nats CLI use for request-reply.
const (
	serveInbox   = "_INBOX_dango_serve"
	workerInbox  = "_INBOX_dango_worker"
	triggerInbox = "_INBOX"
)

func inboxPrefix(role string) string {
	switch role {
	case RoleServe:
		return serveInbox
	case RoleWorker:
		return workerInbox
	}
	return triggerInbox
}

// The subjects of the streams and stores a worker touches, as JetStream's API names them.
const (
	// WorkersConsumer is the durable consumer of the jobs stream all workers share; serve
	// creates it, workers only bind to it.
	WorkersConsumer = "dango-workers"
	spoolStream     = "OBJ_" + SpoolBucket
)

// Permissions returns the server-side permissions of a role (nil: everything, for serve).
// deploy/nats/auth.conf spells out the same lists for an external cluster; a test keeps the
// two in step.
func Permissions(role string) *server.Permissions {
	switch role {
	case RoleWorker:
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{
				batchesPrefix + ">", // what it extracted, to the writer
				// started, log and progress only: a sync's end (completed, failed) is the
				// writer's word, and runs, generate and models are serve's.
				eventsPrefix + SyncStarted + ".*",
				eventsPrefix + SyncLog + ".*",
				eventsPrefix + SyncProgress + ".*",
				// The jobs queue: look up the consumer serve created, pull, ack/nak/heartbeat.
				"$JS.API.CONSUMER.INFO." + StreamJobs + "." + WorkersConsumer,
				"$JS.API.CONSUMER.MSG.NEXT." + StreamJobs + "." + WorkersConsumer,
				"$JS.ACK." + StreamJobs + "." + WorkersConsumer + ".>",
				// The spool object store: open it, look up and put objects (chunks and metadata).
				"$JS.API.STREAM.INFO." + spoolStream,
				"$JS.API.DIRECT.GET." + spoolStream + ".>",
				"$JS.API.STREAM.MSG.GET." + spoolStream,
				"$O." + SpoolBucket + ".>",
			}},
			Subscribe: &server.SubjectPermission{Allow: []string{workerInbox + ".>"}},
		}
	case RoleTrigger:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{triggersPrefix + ">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{triggerInbox + ".>", eventsPrefix + ">"}},
		}
	}
	return nil
}

// triggersPrefix is where upstream systems publish to queue work (dango.trigger.sync.<source>).
const triggersPrefix = "dango.trigger."

// TLSFiles are PEM files for a TLS connection: CAFile verifies the other side; CertFile and
// KeyFile are this side's certificate (a server's, or a client's for mutual TLS).
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Set reports whether any TLS file is given.
func (t TLSFiles) Set() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Credentials are how one process authenticates to NATS: a user and password, a token, a
// .creds file (JWT and seed), or an nkey seed file; and TLS files. At most one of the four
// ways is set.
type Credentials struct {
	User      string `json:"user,omitempty"`
	Password  string `json:"password,omitempty"`
	Token     string `json:"token,omitempty"`
	CredsFile string `json:"-"`
	NKeyFile  string `json:"-"`
	TLS       TLSFiles
}

// Empty reports whether no way of authenticating is set.
func (c Credentials) Empty() bool {
	return c.User == "" && c.Password == "" && c.Token == "" && c.CredsFile == "" && c.NKeyFile == ""
}

// String never shows a secret.
func (c Credentials) String() string {
	switch {
	case c.User != "":
		return "user " + c.User
	case c.Token != "":
		return "a token"
	case c.CredsFile != "":
		return "credentials file " + c.CredsFile
	case c.NKeyFile != "":
		return "nkey seed file " + c.NKeyFile
	}
	return "no credentials"
}

func (c Credentials) options() ([]nats.Option, error) {
	ways := 0
	for _, set := range []bool{c.User != "" || c.Password != "", c.Token != "", c.CredsFile != "", c.NKeyFile != ""} {
		if set {
			ways++
		}
	}
	if ways > 1 {
		return nil, errors.New("NATS credentials: give one of user/password, token, creds_file or nkey_seed_file, not several")
	}
	var opts []nats.Option
	switch {
	case c.User != "" || c.Password != "":
		if c.User == "" || c.Password == "" {
			return nil, errors.New("NATS credentials: a user needs a password (and a password a user)")
		}
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.CredsFile != "":
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, fmt.Errorf("NATS creds_file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("NATS nkey_seed_file %s: %w", c.NKeyFile, err)
		}
		opts = append(opts, o)
	}
	if c.TLS.Set() {
		if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
			return nil, errors.New("NATS tls: cert_file and key_file go together")
		}
		if c.TLS.CAFile != "" {
			opts = append(opts, nats.RootCAs(c.TLS.CAFile))
		}
		if c.TLS.CertFile != "" {
			opts = append(opts, nats.ClientCert(c.TLS.CertFile, c.TLS.KeyFile))
		}
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	return opts, nil
}

// AuthFile is the generated credentials of an embedded server that listens: a user and
// password per role, created at first start with crypto/rand, kept 0600.
type AuthFile struct {
	Users map[string]Credentials `json:"users"` // by role
}

// LoadOrCreateAuth reads the credentials file at path, creating it (and its folder) with new
// random passwords when it does not exist. A file readable by others is refused.
func LoadOrCreateAuth(path string) (*AuthFile, error) {
	a, err := LoadAuth(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return a, err
	}
	a = &AuthFile{Users: map[string]Credentials{}}
	for _, role := range Roles {
		pw, err := randomSecret()
		if err != nil {
			return nil, err
		}
		a.Users[role] = Credentials{User: UserName(role), Password: pw}
	}
	data, _ := json.MarshalIndent(a, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create the NATS credentials file: %w", err)
	}
	// O_EXCL: two servers starting at once must not overwrite each other's passwords.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadAuth(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create the NATS credentials file: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write the NATS credentials file %s: %w", path, err)
	}
	return a, nil
}

// LoadAuth reads a credentials file LoadOrCreateAuth wrote (or a user edited).
func LoadAuth(path string) (*AuthFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s holds NATS passwords but other users may read it (mode %04o): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var a AuthFile
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to have dango serve generate new credentials)", path, err)
	}
	for _, role := range Roles {
		c := a.Users[role]
		if c.User == "" || len(c.Password) < 16 {
			return nil, fmt.Errorf("%s: role %s needs a user and a password of at least 16 characters (delete the file to have dango serve generate new credentials)", path, role)
		}
	}
	return &a, nil
}

// randomSecret is 24 random bytes, base64url, after a letter: nats-server reads a
// `$VARIABLE` in a configuration file (deploy/nats/auth.conf) as a config value, and a bare
// value starting with digits and a dash parses as a date or a number, not as the password.
func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a NATS password: %w", err)
	}
	return "p" + base64.RawURLEncoding.EncodeToString(b), nil
}

// serverUsers turns the credentials file into the embedded server's users and permissions.
func (a *AuthFile) serverUsers() []*server.User {
	var out []*server.User
	for _, role := range Roles {
		c := a.Users[role]
		out = append(out, &server.User{Username: c.User, Password: c.Password, Permissions: Permissions(role)})
	}
	return out
}
