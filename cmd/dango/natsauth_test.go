package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/service"
)

// lockedBuffer is a process's output, read while the process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startWorker runs `dango worker` in dir until the test ends.
func startWorker(t *testing.T, dir string, args ...string) *lockedBuffer {
	t.Helper()
	w := exec.Command(dangoBin, append([]string{"worker", "--workers", "2"}, args...)...)
	w.Dir = dir
	out := &lockedBuffer{}
	w.Stdout, w.Stderr = out, out
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Process.Signal(syscall.SIGTERM); w.Wait() })
	return out
}

func connectAs(t *testing.T, url string, c events.Credentials, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.UserInfo(c.User, c.Password)}, opts...)...)
	if err != nil {
		t.Fatalf("connect as %s: %v", c.User, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestServeNATSAuth: dango serve's embedded listener generates credentials at first start,
// refuses anyone without them, and holds each identity to its permissions: a worker can
// neither queue a run nor purge the webhook signatures (a replay stays refused), a trigger
// queues a sync by request-reply but cannot publish a batch.
func TestServeNATSAuth(t *testing.T) {
	dir := newProject(t, serveSources)
	writeFile(t, dir, "data/sales.csv", csvRows(20))
	writeFile(t, dir, "data/other.csv", "a\n1\n")
	writeFile(t, dir, ".dango/project.yml", "webhooks:\n  - name: orders\n    secret_env: HOOK_SECRET\n    sync: [sales]\n")
	writeFile(t, dir, ".env", "HOOK_SECRET=s3cr3t-hook-secret-0123\n")
	s := startServe(t, dir, "--workers", "1")
	st, err := os.Stat(filepath.Join(dir, ".dango", "nats-auth.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated credentials: %v %v", err, st)
	}
	users := natsAuth(t, dir)
	if !strings.Contains(s.out.String(), "NATS credentials in .dango/nats-auth.json") {
		t.Errorf("serve does not say where the credentials are:\n%s", s.out.String())
	}

	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": {nats.UserInfo("dango-worker", "guess")},
		"a token":        {nats.Token(users[events.RoleServe].Password)},
	} {
		if nc, err := nats.Connect(s.nats, opts...); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}
	// A worker without credentials says what to do.
	remote := newProject(t, serveSources)
	if r := dango(t, remote, "worker", "--nats", s.nats); r.code == 0 || !strings.Contains(r.stderr, "nats: block of .dango/project.yml") {
		t.Errorf("worker without credentials: %+v", r)
	}

	// One in the server's own folder logs in with the generated worker identity.
	local := startWorker(t, dir, "--nats", s.nats, "--name", "local-w")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(local.String(), "dango worker local-w: 2 workers on") {
		if time.Now().After(deadline) {
			t.Fatalf("a worker in the project folder did not start:\n%s", local.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	runs := func() int {
		_, m := s.do(t, "GET", "/api/v1/runs", s.tok, nil, nil)
		return len(m["runs"].([]any))
	}
	worker := connectAs(t, s.nats, users[events.RoleWorker], nats.CustomInboxPrefix("_INBOX_dango_worker"))
	worker.Publish("dango.trigger.sync.sales", []byte(`{}`))
	worker.Flush()
	time.Sleep(500 * time.Millisecond)
	if n := runs(); n != 0 {
		t.Fatalf("a worker's trigger queued %d runs", n)
	}

	body := []byte(`{"event": "order.created"}`)
	now := time.Now().Unix()
	signed := map[string]string{service.HeaderTimestamp: strconv.FormatInt(now, 10), service.HeaderSignature: service.Sign([]byte("s3cr3t-hook-secret-0123"), now, body)}
	code, m := s.do(t, "POST", "/hooks/orders", "", body, signed)
	if code != 202 {
		t.Fatalf("signed webhook: %d %v", code, m)
	}
	s.waitRun(t, m["run_id"].(string), s.tok)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err = worker.RequestWithContext(ctx, "$JS.API.STREAM.PURGE.KV_dango_webhook_signatures", nil)
	cancel()
	if err == nil {
		t.Error("the worker identity purged the webhook signatures")
	}
	if code, _ := s.do(t, "POST", "/hooks/orders", "", body, signed); code != 401 {
		t.Errorf("the replayed webhook: %d, want 401", code)
	}

	trig := connectAs(t, s.nats, users[events.RoleTrigger])
	reply, err := trig.Request("dango.trigger.sync.other", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rm map[string]string
	json.Unmarshal(reply.Data, &rm)
	if rm["run_id"] == "" {
		t.Fatalf("trigger: %s", reply.Data)
	}
	if run := s.waitRun(t, rm["run_id"], s.tok); run["status"] != "success" {
		t.Fatalf("triggered run: %v", run)
	}
	// A forged batch from the trigger identity never reaches the stream.
	forged, _ := json.Marshal(events.BatchMsg{V: 1, RunID: "run_x", LoadID: "x", Source: "other", Schema: "raw_other", Seq: 1, End: true})
	serve := connectAs(t, s.nats, users[events.RoleServe])
	js, _ := jetstream.New(serve)
	before := streamLast(t, js, events.StreamBatches)
	trig.Publish(events.BatchSubject("other"), forged)
	trig.Flush()
	time.Sleep(300 * time.Millisecond)
	if after := streamLast(t, js, events.StreamBatches); after != before {
		t.Errorf("the trigger's batch was stored (last sequence %d → %d)", before, after)
	}
}

func streamLast(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// startNATSConf runs the real nats-server with a config file (and env), returning its URL.
func startNATSConf(t *testing.T, conf string, env ...string) string {
	t.Helper()
	bin := requireTool(t, "DANGO_NATS_SERVER", "nats-server")
	dir := t.TempDir()
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	conf = "listen: " + host + ":" + port + "\njetstream {store_dir: " + strconv.Quote(filepath.Join(dir, "js")) + "}\n" + conf
	os.WriteFile(filepath.Join(dir, "test.conf"), []byte(conf), 0o600)
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "test.conf"))
	cmd.Env = append(os.Environ(), env...)
	runNATSServer(t, addr, cmd)
	return "nats://" + addr
}

// TestExternalNATSAuth: an external nats-server configured with deploy/nats/auth.conf; dango
// serve logs in as dango-serve, a dango worker in another folder as dango-worker (each from
// its own environment, as in docker-compose.yml), and the worker's sync completes.
func TestExternalNATSAuth(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{"serve": "serve-pw-0123456789abcdef", "worker": "worker-pw-0123456789abcdef", "trigger": "trigger-pw-0123456789abcdef"}
	url := startNATSConf(t, string(src), "DANGO_NATS_SERVE_PASSWORD="+pw["serve"], "DANGO_NATS_WORKER_PASSWORD="+pw["worker"], "DANGO_NATS_TRIGGER_PASSWORD="+pw["trigger"])
	block := "nats:\n  user_env: DANGO_NATS_USER\n  password_env: DANGO_NATS_PASSWORD\n"
	dir := newProject(t, serveSources)
	writeFile(t, dir, ".dango/project.yml", block)
	writeFile(t, dir, ".env", "DANGO_NATS_USER=dango-serve\nDANGO_NATS_PASSWORD="+pw["serve"]+"\n")
	remote := newProject(t, serveSources)
	writeFile(t, remote, ".dango/project.yml", block+"  url: "+url+"\n")
	writeFile(t, remote, ".env", "DANGO_NATS_USER=dango-worker\nDANGO_NATS_PASSWORD="+pw["worker"]+"\n")
	writeFile(t, remote, "data/sales.csv", csvRows(30))
	writeFile(t, remote, "data/other.csv", "a\n1\n")
	// The worker starts first: it waits for serve to set up the queue, creating nothing.
	wout := startWorker(t, remote)
	time.Sleep(500 * time.Millisecond)
	s := startServe(t, dir, "--nats", url, "--workers", "0")
	_, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{}`), nil)
	run := s.waitRun(t, m["run_id"].(string), s.tok)
	if run["status"] != "success" {
		t.Fatalf("run: %v\nworker:\n%s\nserve:\n%s", run, wout.String(), s.out.String())
	}
	// A serve with the worker's password is refused its setup: it cannot manage streams.
	bad := newProject(t, serveSources)
	writeFile(t, bad, ".dango/project.yml", block)
	writeFile(t, bad, ".env", "DANGO_NATS_USER=dango-worker\nDANGO_NATS_PASSWORD="+pw["worker"]+"\n")
	if r := dango(t, bad, "serve", "--listen", freePort(t), "--nats", url); r.code == 0 {
		t.Errorf("serve as the worker identity started: %+v", r)
	}
}

// TestExternalNATSTokenAndNKey: token, nkey and .creds (JWT) logins from the nats: block.
func TestExternalNATSTokenAndNKey(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	opConf, creds := operatorMode(t)
	for name, tc := range map[string]struct{ conf, block, env string }{
		"creds": {opConf, "nats:\n  creds_file: dango.creds\n", ""},
		"token": {"authorization {token: $TOK}\n", "nats:\n  token_env: NATS_TOKEN\n", "NATS_TOKEN=tok-0123456789\n"},
		"nkey":  {"authorization {users = [{nkey: " + pub + "}]}\n", "nats:\n  nkey_seed_file: nats.nk\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			url := startNATSConf(t, tc.conf, "TOK=tok-0123456789")
			if nc, err := nats.Connect(url); err == nil {
				nc.Close()
				t.Fatal("the server lets anyone in")
			}
			dir := newProject(t, serveSources)
			writeFile(t, dir, "data/sales.csv", csvRows(5))
			writeFile(t, dir, "data/other.csv", "a\n1\n")
			writeFile(t, dir, ".dango/project.yml", tc.block)
			writeFile(t, dir, ".env", tc.env)
			writeFile(t, dir, "nats.nk", string(seed))
			writeFile(t, dir, "dango.creds", string(creds))
			s := startServe(t, dir, "--nats", url, "--workers", "1")
			_, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{"sources": ["sales"]}`), nil)
			if run := s.waitRun(t, m["run_id"].(string), s.tok); run["status"] != "success" {
				t.Fatalf("run: %v", run)
			}
		})
	}
}

// operatorMode is a nats-server config in JWT (operator) mode with one JetStream account, and
// a .creds file of a user of that account.
func operatorMode(t *testing.T) (string, []byte) {
	t.Helper()
	op, _ := nkeys.CreateOperator()
	acct, _ := nkeys.CreateAccount()
	sys, _ := nkeys.CreateAccount() // JetStream needs a system account in operator mode
	sysPub, _ := sys.PublicKey()
	user, _ := nkeys.CreateUser()
	opPub, _ := op.PublicKey()
	acctPub, _ := acct.PublicKey()
	userPub, _ := user.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	ac := jwt.NewAccountClaims(acctPub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	acctJWT, err := ac.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	userJWT, err := jwt.NewUserClaims(userPub).Encode(acct)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatal(err)
	}
	return "operator: " + opJWT + "\nsystem_account: " + sysPub + "\nresolver: MEMORY\nresolver_preload: {" + acctPub + ": " + acctJWT + ", " + sysPub + ": " + sysJWT + "}\n", creds
}

// TestServeNATSTLS: the embedded listener with a certificate from the project's nats.tls (a
// CA made here); a remote worker verifying it with ca_file completes a sync; a client
// without TLS is refused.
func TestServeNATSTLS(t *testing.T) {
	certDir := t.TempDir()
	ca, caKey := makeCert(t, certDir, "ca", nil, nil)
	makeCert(t, certDir, "server", ca, caKey)
	dir := newProject(t, serveSources)
	writeFile(t, dir, ".dango/project.yml", "nats:\n  tls:\n    cert_file: "+filepath.Join(certDir, "server.pem")+"\n    key_file: "+filepath.Join(certDir, "server-key.pem")+"\n")
	s := startServe(t, dir, "--workers", "0")
	users := natsAuth(t, dir)
	if nc, err := nats.Connect(s.nats, nats.UserInfo(users[events.RoleWorker].User, users[events.RoleWorker].Password)); err == nil {
		nc.Close()
		t.Error("a client without TLS connected")
	}
	remote := newProject(t, serveSources)
	writeFile(t, remote, ".dango/project.yml", "nats:\n  user: dango-worker\n  password_env: PW\n  tls:\n    ca_file: "+filepath.Join(certDir, "ca.pem")+"\n")
	writeFile(t, remote, ".env", "PW="+users[events.RoleWorker].Password+"\n")
	writeFile(t, remote, "data/sales.csv", csvRows(7))
	writeFile(t, remote, "data/other.csv", "a\n1\n")
	wout := startWorker(t, remote, "--nats", s.nats)
	_, m := s.do(t, "POST", "/api/v1/sync", s.tok, []byte(`{}`), nil)
	if run := s.waitRun(t, m["run_id"].(string), s.tok); run["status"] != "success" {
		t.Fatalf("run over TLS: %v\nworker:\n%s", run, wout.String())
	}
}

// makeCert writes name.pem and name-key.pem: a CA when parent is nil, else a server
// certificate for 127.0.0.1 signed by it.
func makeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "dango test " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	signer, signKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		signer, signKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}
