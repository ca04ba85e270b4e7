// Package natsrc is `type: nats`: JSON events that upstream services publish to a NATS
// JetStream stream land in a raw table, a micro-batch per sync.
//
// The position in the stream is the warehouse's cursor, not a durable consumer's acks: each
// event's stream sequence lands as `_nats_seq`, the resource is incremental on it, and the
// writer stores the highest sequence in the same transaction as the rows. A sync reads from
// the stored sequence on with an ordered consumer, so a crash anywhere between reading and
// committing loses nothing and loads nothing twice — acking a durable consumer before the
// commit could lose events, acking after it is impossible from a connector.
package natsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dangohq/dango/batch"
	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/connectors"
	"github.com/dangohq/dango/connectors/file"
	"github.com/dangohq/dango/connectors/restapi"
	"github.com/dangohq/dango/jsonshape"
	"github.com/dangohq/dango/naming"
)

// Spec is the nats block of sources.yml.
var Spec = config.Spec{Type: "nats", Summary: "JSON events from a NATS JetStream stream into raw_<name>.<table>, a micro-batch per sync; the stream sequence is the cursor.",
	Fields: []config.Field{
		{Name: "url", Kind: config.String, Required: true, Doc: "NATS server URL(s), comma-separated; may be given as url_env.", Example: "url: nats://nats:4222"},
		{Name: "stream", Kind: config.String, Required: true, Doc: "JetStream stream holding the events."},
		{Name: "subject", Kind: config.String, Doc: "Only events on these subjects (a filter such as app.orders.>); default: the whole stream."},
		{Name: "table", Kind: config.String, Doc: "Warehouse table; default: the stream's name, snake_cased."},
		{Name: "max_messages", Kind: config.Int, Default: int64(1_000_000), Doc: "Most events one sync takes (the rest wait for the next)."},
		{Name: "credentials", Kind: config.String, Doc: "Path of a NATS .creds file; may be given as credentials_env."},
		{Name: "user", Kind: config.String, Doc: "User name (with password); may be given as user_env."},
		{Name: "password", Kind: config.String, Doc: "The user's password; give it as password_env (the variable holding it)."},
		{Name: "token", Kind: config.String, Doc: "Authentication token; give it as token_env."},
		{Name: "nkey_seed_file", Kind: config.String, Doc: "Path of a file holding an nkey seed (SU…)."},
		{Name: "tls_ca_file", Kind: config.String, Doc: "PEM certificate authority that signed the server's certificate."},
		{Name: "tls_cert_file", Kind: config.String, Doc: "PEM client certificate (mutual TLS), with tls_key_file."},
		{Name: "tls_key_file", Kind: config.String, Doc: "PEM private key of tls_cert_file."},
	}}

func init() {
	connectors.Default.Register(connectors.Registration{Spec: Spec, New: New})
}

type connector struct {
	job   connectors.Job
	table string
}

// New builds the connector.
func New(job connectors.Job) (connectors.Connector, error) {
	s := job.Source.Settings
	table := s.String("table")
	if table == "" {
		table = naming.Snake(s.String("stream"))
	}
	if s.Int("max_messages") < 1 {
		return nil, fmt.Errorf("source %s: max_messages must be at least 1", job.Source.Name)
	}
	if _, err := authOptions(s, job.ProjectRoot); err != nil {
		return nil, fmt.Errorf("source %s: %w", job.Source.Name, err)
	}
	return &connector{job: job, table: table}, nil
}

func (c *connector) Resources() []string { return []string{c.table} }

// Extract reads the events after the stored sequence, up to max_messages or the stream's end
// as it was when the sync began.
func (c *connector) Extract(ctx context.Context, out connectors.Emitter) error {
	s := c.job.Source.Settings
	opts, err := authOptions(s, c.job.ProjectRoot)
	if err != nil {
		return err
	}
	opts = append(opts, nats.Name("dango source "+c.job.Source.Name), nats.Timeout(10*time.Second))
	nc, err := nats.Connect(s.String("url"), opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) {
			return fmt.Errorf("connect to NATS: %w (check the source's user/password_env, token_env, credentials or nkey_seed_file)", err)
		}
		// nats.go quotes a URL it cannot parse, user:password and all.
		return config.RedactError(fmt.Errorf("connect to NATS: %w", err))
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	stream, err := js.Stream(ctx, s.String("stream"))
	if err != nil {
		return fmt.Errorf("stream %s: %w", s.String("stream"), err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	// The resource is incremental on the sequence, keyed by it: the writer keeps the cursor
	// with the rows and drops the boundary event it already has.
	src := c.job.Source
	if src.Resources == nil {
		src.Resources = map[string]config.ResourceConfig{}
	}
	rc := src.Resources[c.table]
	rc.Incremental = &config.Incremental{CursorColumn: "_nats_seq", InitialValue: "1"}
	src.Resources[c.table] = rc
	job := c.job
	job.Source = src
	res, mode := job.Plan(c.table, c.table, connectors.Defaults{Disposition: batch.Append, PrimaryKey: []string{"_nats_seq"}})
	start, _ := strconv.ParseUint(mode.From, 10, 64)
	if stored, ok := c.job.State.Cursors[c.table]; ok && stored == mode.From && !c.job.FullRefresh {
		start++ // the stored sequence is the last one loaded
	}
	start = max(start, info.State.FirstSeq, 1)
	last := info.State.LastSeq
	out.Logf("Fetching %s from %s (sequence %d on, %d in the stream)", c.table, s.String("stream"), start, last)
	sp := restapi.NewSpool(filepath.Join(c.job.ProjectRoot, ".dango", "spool"), func(scan *batch.Scan, shape *jsonshape.Shape) error {
		cols, err := file.DescribeShaped(ctx, scan, shape)
		if err != nil {
			return err
		}
		scan.Columns = cols
		return out.Emit(ctx, batch.Batch{Table: c.table, Resource: res, ExtractedAt: time.Now().UTC(), Scan: scan})
	})
	defer sp.Discard()
	var n, skipped int64
	if start <= last {
		cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start}
		if f := s.String("subject"); f != "" {
			cfg.FilterSubjects = []string{f}
		}
		cons, err := stream.OrderedConsumer(ctx, cfg)
		if err != nil {
			return err
		}
		limit := s.Int("max_messages")
		var rec bytes.Buffer
	fetch:
		for n < limit {
			batchMsgs, err := cons.Fetch(int(min(limit-n, 1000)), jetstream.FetchMaxWait(time.Second))
			if err != nil {
				return err
			}
			got := 0
			for m := range batchMsgs.Messages() {
				got++
				md, err := m.Metadata()
				if err != nil {
					return err
				}
				if err := record(&rec, m.Data(), md.Sequence.Stream, m.Subject()); err != nil {
					// One bad event must not hold the stream back forever: it is skipped, said.
					skipped++
					out.Logf("Skipping event %d on %s: %v", md.Sequence.Stream, m.Subject(), err)
				} else if err := sp.WriteRaw(rec.Bytes()); err != nil {
					var deep *jsonshape.DepthError
					if !errors.As(err, &deep) {
						return err
					}
					skipped++ // too deeply nested to load: skipped like any bad event
					out.Logf("Skipping event %d on %s: %v", md.Sequence.Stream, m.Subject(), err)
				}
				n++
				if md.Sequence.Stream >= last || n >= limit {
					break fetch
				}
			}
			if err := batchMsgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
				return err
			}
			if got == 0 {
				break // the filter leaves nothing more before the end
			}
			out.Progress(n, 0)
		}
	}
	if err := sp.Flush(); err != nil {
		return err
	}
	out.Logf("Loaded %d events from %s", n-skipped, s.String("stream"))
	return nil
}

// authOptions are the source's own way of logging in to its upstream NATS: one of a user with
// a password, a token, a .creds file or an nkey seed; and TLS files. Paths are relative to
// the project root.
func authOptions(s config.Values, root string) ([]nats.Option, error) {
	path := func(key string) string {
		p := s.String(key)
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		return p
	}
	var opts []nats.Option
	ways := 0
	if user, pw := s.String("user"), s.String("password"); user != "" || pw != "" {
		if user == "" || pw == "" {
			return nil, errors.New("user and password (password_env) go together")
		}
		opts, ways = append(opts, nats.UserInfo(user, pw)), ways+1
	}
	if tok := s.String("token"); tok != "" {
		opts, ways = append(opts, nats.Token(tok)), ways+1
	}
	if creds := path("credentials"); creds != "" {
		opts, ways = append(opts, nats.UserCredentials(creds)), ways+1
	}
	if seed := path("nkey_seed_file"); seed != "" {
		o, err := nats.NkeyOptionFromSeed(seed)
		if err != nil {
			return nil, fmt.Errorf("nkey_seed_file: %w", err)
		}
		opts, ways = append(opts, o), ways+1
	}
	if ways > 1 {
		return nil, errors.New("give one way of logging in to NATS: user with password_env, token_env, credentials or nkey_seed_file")
	}
	ca, cert, key := path("tls_ca_file"), path("tls_cert_file"), path("tls_key_file")
	if (cert == "") != (key == "") {
		return nil, errors.New("tls_cert_file and tls_key_file go together")
	}
	if ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	if cert != "" {
		opts = append(opts, nats.ClientCert(cert, key))
	}
	return opts, nil
}

// record writes one event as a JSON object with its sequence and subject added: an object's
// fields are kept as they are, any other JSON value lands under "value".
func record(buf *bytes.Buffer, data []byte, seq uint64, subject string) error {
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return errors.New("not JSON")
	}
	buf.Reset()
	fmt.Fprintf(buf, `{"_nats_seq":%d,"_nats_subject":%q`, seq, subject)
	if data[0] == '{' {
		body := bytes.TrimSpace(data[1:])
		if !bytes.HasPrefix(body, []byte("}")) {
			buf.WriteByte(',')
		}
		buf.Write(body)
		return nil
	}
	buf.WriteString(`,"value":`)
	buf.Write(data)
	buf.WriteByte('}')
	return nil
}
