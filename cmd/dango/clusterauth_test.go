package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterRoutesNeedCredentials runs the shipped deploy/nats/cluster.conf on loopback with
// the real nats-server: the file validates (`nats-server -t`) only with a route password set,
// two nodes with the password form a cluster, and a node that routes to them without it, or
// with a wrong one, is refused. Only the addresses are rewritten for loopback; the cluster
// block, its authorization and auth.conf are used as shipped.
func TestClusterRoutesNeedCredentials(t *testing.T) {
	bin := requireTool(t, "DANGO_NATS_SERVER", "nats-server")
	root := filepath.Join("..", "..")
	shipped, err := os.ReadFile(filepath.Join(root, "deploy", "nats", "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := os.ReadFile(filepath.Join(root, "deploy", "nats", "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "auth.conf"), auth, 0o600)
	os.WriteFile(filepath.Join(dir, "cluster.conf"), shipped, 0o600)
	const pw = "0123456789abcdef0123456789abcdef"
	type node struct{ client, route, http string }
	nodes := []node{{freePort(t), freePort(t), freePort(t)}, {freePort(t), freePort(t), freePort(t)}}
	env := append(os.Environ(), "DANGO_NATS_SERVE_PASSWORD=s-pw-0123456789abcdef", "DANGO_NATS_WORKER_PASSWORD=w-pw-0123456789abcdef",
		"DANGO_NATS_TRIGGER_PASSWORD=t-pw-0123456789abcdef")
	routes := []string{}
	for i := 0; i < 3; i++ {
		addr := "127.0.0.1:1" // a third node that is not started
		if i < len(nodes) {
			addr = nodes[i].route
		}
		routes = append(routes, "DANGO_NATS_ROUTE_"+string(rune('1'+i))+"=nats-route://dango-route:"+pw+"@"+addr)
	}

	// The shipped file validates as it is, and not without the route password.
	check := func(extra ...string) (string, error) {
		cmd := exec.Command(bin, "-c", filepath.Join(dir, "cluster.conf"), "-t")
		cmd.Env = append(append(append([]string{}, env...), routes...), extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check("NATS_NAME=nats1", "DANGO_NATS_ROUTE_PASSWORD="+pw); err != nil {
		t.Fatalf("nats-server -t rejects deploy/nats/cluster.conf: %v\n%s", err, out)
	}
	if out, err := check("NATS_NAME=nats1"); err == nil {
		t.Errorf("cluster.conf validates without DANGO_NATS_ROUTE_PASSWORD:\n%s", out)
	}

	// Loopback copies: only listen, http and store_dir change.
	conf := func(name string, n node) string {
		s := string(shipped)
		for old, new := range map[string]string{
			"listen: 0.0.0.0:4222":       "listen: " + n.client,
			"http: 0.0.0.0:8222":         "http: " + n.http,
			"store_dir: /data/jetstream": "store_dir: " + filepath.Join(dir, "js-"+name),
			"listen: 0.0.0.0:6222":       "listen: " + n.route,
		} {
			if !strings.Contains(s, old) {
				t.Fatalf("cluster.conf has no %q", old)
			}
			s = strings.Replace(s, old, new, 1)
		}
		p := filepath.Join(dir, name+".conf")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	start := func(name string, n node, path string, extra ...string) {
		cmd := exec.Command(bin, "-c", path)
		cmd.Env = append(append(append([]string{}, env...), "NATS_NAME="+name), extra...)
		runNATSServer(t, n.client, cmd)
	}
	for i, n := range nodes {
		name := "nats" + string(rune('1'+i))
		start(name, n, conf(name, n), append(routes, "DANGO_NATS_ROUTE_PASSWORD="+pw)...)
	}
	routez := func() map[string]bool {
		resp, err := http.Get("http://" + nodes[0].http + "/routez")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var rz struct {
			Routes []struct {
				Remote string `json:"remote_name"`
			} `json:"routes"`
		}
		json.NewDecoder(resp.Body).Decode(&rz)
		names := map[string]bool{}
		for _, r := range rz.Routes {
			names[r.Remote] = true
		}
		return names
	}
	deadline := time.Now().Add(15 * time.Second)
	for !routez()["nats2"] {
		if time.Now().After(deadline) {
			t.Fatalf("the two nodes with the route password formed no cluster: routes %v", routez())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Intruders: a node whose cluster routes to nats1 without credentials, and one with a
	// wrong password. Neither may become a route.
	for name, url := range map[string]string{
		"nocreds":   "nats-route://" + nodes[0].route,
		"wrongpw":   "nats-route://dango-route:guess-guess-guess@" + nodes[0].route,
		"wronguser": "nats-route://dango-serve:s-pw-0123456789abcdef@" + nodes[0].route,
	} {
		n := node{freePort(t), freePort(t), ""}
		host, port, _ := net.SplitHostPort(n.route)
		p := filepath.Join(dir, name+".conf")
		os.WriteFile(p, []byte("server_name: "+name+"\nlisten: "+n.client+"\ncluster {\n  name: dango\n  listen: "+host+":"+port+
			"\n  routes: ["+url+"]\n}\n"), 0o600)
		start(name, n, p)
	}
	time.Sleep(3 * time.Second) // routes are retried every second
	for name := range map[string]bool{"nocreds": true, "wrongpw": true, "wronguser": true} {
		if routez()[name] {
			t.Errorf("node %s joined the cluster without the route password: routes %v", name, routez())
		}
	}
	if !routez()["nats2"] {
		t.Errorf("the cluster lost its own route: %v", routez())
	}
}
