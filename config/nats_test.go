package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeProject(t *testing.T, yml, env string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".dango"), 0o755)
	os.WriteFile(filepath.Join(dir, ProjectFile), []byte(yml), 0o644)
	os.WriteFile(filepath.Join(dir, ".dango", "sources.yml"), []byte("version: 1\nsources: []\n"), 0o644)
	if env != "" {
		os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o600)
	}
	return dir
}

func TestNATSBlock(t *testing.T) {
	dir := writeProject(t, "name: p\nnats:\n  url: nats://h:4222\n  user: dango-worker\n  password_env: NATS_PW\n  tls:\n    ca_file: certs/ca.pem\n", "NATS_PW=from-dotenv\n")
	p, err := Load(dir, specs)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.ResolveNATS()
	if err != nil {
		t.Fatal(err)
	}
	if a.URL != "nats://h:4222" || a.User != "dango-worker" || a.Password.Reveal() != "from-dotenv" || a.CAFile != filepath.Join(dir, "certs", "ca.pem") || !a.Configured() {
		t.Errorf("resolved %+v", a)
	}
	// No block: nothing configured, and no error.
	p, err = Load(writeProject(t, "name: p\n", ""), specs)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := p.ResolveNATS(); err != nil || a.Configured() {
		t.Errorf("no block: %+v %v", a, err)
	}
}

func TestNATSBlockErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yml, want string }{
		"unknown key":      {"nats:\n  url: nats://h\n  pasword_env: X\n", `.dango/project.yml:3: project.nats: unknown key "pasword_env"`},
		"plain password":   {"nats:\n  user: u\n  password: hunter2\n", `.dango/project.yml:3: project.nats: unknown key "password"`},
		"plain token":      {"nats:\n  token: hunter2\n", `.dango/project.yml:2: project.nats: unknown key "token"`},
		"unknown tls key":  {"nats:\n  tls:\n    ca: x\n", `.dango/project.yml:3: project.nats.tls: unknown key "ca"`},
		"two ways":         {"nats:\n  user: u\n  password_env: P\n  token_env: T\n", ".dango/project.yml:1: nats: give one way of logging in"},
		"user alone":       {"nats:\n  user: u\n", ".dango/project.yml:1: nats: user and password_env go together"},
		"cert without key": {"nats:\n  tls:\n    cert_file: c.pem\n", ".dango/project.yml:2: nats.tls: cert_file and key_file go together"},
	} {
		_, err := Load(writeProject(t, tc.yml, ""), specs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A variable named but set nowhere fails where it is named, even for reading commands.
	p, err := LoadForReading(writeProject(t, "nats:\n  user: u\n  password_env: DANGO_TEST_NOPE_PW\n", ""), specs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ResolveNATS(); err == nil || !strings.Contains(err.Error(), ".dango/project.yml:3: nats.password_env: environment variable DANGO_TEST_NOPE_PW is not set") {
		t.Errorf("unset password variable: %v", err)
	}
}
