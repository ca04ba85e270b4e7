package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDeployFiles checks docker-compose.yml and deploy/ without a Docker engine (none runs in
// CI): the YAML parses with its anchors merged, there are three NATS nodes whose names match
// the cluster routes and the stream-replica logic, a dango serve and two workers pointed at all
// three, every named volume is declared, and every dango flag used exists in this binary.
func TestDeployFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       map[string]string `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	conf, err := os.ReadFile(filepath.Join(root, "deploy", "nats", "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var natsURLs []string
	for _, n := range []string{"nats1", "nats2", "nats3"} {
		s, ok := doc.Services[n]
		if !ok {
			t.Fatalf("no service %s", n)
		}
		// Routes log in: every node gets all three route URLs with the route password.
		for j, m := range []string{"nats1", "nats2", "nats3"} {
			v := "DANGO_NATS_ROUTE_" + string(rune('1'+j))
			if s.Environment[v] != "nats-route://dango-route:${DANGO_NATS_ROUTE_PASSWORD}@"+m+":6222" || !strings.Contains(string(conf), "$"+v) {
				t.Errorf("%s: %s = %q, or cluster.conf does not route to it", n, v, s.Environment[v])
			}
		}
		if s.Environment["NATS_NAME"] != n || s.Environment["DANGO_NATS_ROUTE_PASSWORD"] == "" {
			t.Errorf("%s: NATS_NAME %q (want it), or no route password", n, s.Environment["NATS_NAME"])
		}

		if !strings.HasPrefix(s.Image, "nats:") || strings.Join(s.Command, " ") != "-c /etc/nats/cluster.conf" {
			t.Errorf("%s: image %q command %v", n, s.Image, s.Command)
		}
		natsURLs = append(natsURLs, "nats://"+n+":4222")
	}
	// Clients must log in (auth.conf, mounted beside cluster.conf, its passwords from every
	// node's environment), and each dango container logs in as its own identity.
	if !strings.Contains(string(conf), "include ./auth.conf") {
		t.Error("cluster.conf does not include auth.conf: the cluster would take anyone")
	}
	for _, n := range []string{"nats1", "nats2", "nats3"} {
		s := doc.Services[n]
		if !strings.Contains(strings.Join(s.Volumes, " "), "./deploy/nats/auth.conf:/etc/nats/auth.conf") {
			t.Errorf("%s does not mount auth.conf: %v", n, s.Volumes)
		}
		for _, v := range []string{"DANGO_NATS_SERVE_PASSWORD", "DANGO_NATS_WORKER_PASSWORD", "DANGO_NATS_TRIGGER_PASSWORD"} {
			if s.Environment[v] == "" {
				t.Errorf("%s lacks %s", n, v)
			}
		}
	}
	for svc, user := range map[string]string{"dango-serve": "dango-serve", "dango-worker-1": "dango-worker", "dango-worker-2": "dango-worker"} {
		if got := doc.Services[svc].Environment["DANGO_NATS_USER"]; got != user || doc.Services[svc].Environment["DANGO_NATS_PASSWORD"] == "" {
			t.Errorf("%s logs in to NATS as %q, want %s with a password", svc, got, user)
		}
	}
	if !strings.Contains(string(conf), "jetstream") || !strings.Contains(string(conf), "store_dir: /data/jetstream") {
		t.Error("cluster.conf does not enable JetStream on the data volume")
	}
	want := strings.Join(natsURLs, ",")
	roles := map[string]string{"dango-serve": "serve", "dango-worker-1": "worker", "dango-worker-2": "worker"}
	for name, role := range roles {
		s, ok := doc.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if len(s.Command) == 0 || s.Command[0] != role {
			t.Errorf("%s runs %v, want dango %s", name, s.Command, role)
		}
		if !strings.Contains(strings.Join(s.Command, " "), "--nats "+want) {
			t.Errorf("%s does not join all three NATS nodes: %v", name, s.Command)
		}
		if s.Build["dockerfile"] != "deploy/Dockerfile" || len(s.Volumes) == 0 || !strings.HasSuffix(s.Volumes[0], ":/project") {
			t.Errorf("%s: build %v volumes %v", name, s.Build, s.Volumes)
		}
		// Every flag the compose file passes exists.
		help := dango(t, t.TempDir(), role, "--help").stdout
		for _, f := range s.Command[1:] {
			if strings.HasPrefix(f, "--") && f != "--log-json" && !strings.Contains(help, f+" ") {
				t.Errorf("%s: dango %s has no flag %s", name, role, f)
			}
		}
	}
	if p := doc.Services["dango-serve"].Ports; len(p) != 1 || p[0] != "8800:8800" {
		t.Errorf("serve ports %v", p)
	}
	for name, s := range doc.Services {
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, src)
				}
			} else if !strings.HasPrefix(src, "$") {
				if _, ok := doc.Volumes[src]; !ok {
					t.Errorf("%s uses volume %s, not declared", name, src)
				}
			}
		}
	}
	df, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^FROM golang:\S+ AS build`, `CGO_ENABLED=1 go build .* \./cmd/dango`, `(?m)^FROM debian:\S+-slim`, `(?m)^USER dango`} {
		if !regexp.MustCompile(re).Match(df) {
			t.Errorf("deploy/Dockerfile lacks %s", re)
		}
	}
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "dango.service"))
	if err != nil || !strings.Contains(string(unit), "ExecStart=/usr/local/bin/dango serve") {
		t.Errorf("deploy/dango.service: %v", err)
	}
}
