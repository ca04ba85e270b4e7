package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebhookSecretRule: a webhook secret must be set, non-empty and at least 16 bytes; a
// short one is a configuration error naming .dango/project.yml and the webhook, at load when
// it is set here and when dango serve resolves it in any case. The error never shows it.
func TestWebhookSecretRule(t *testing.T) {
	for _, tc := range []struct {
		name, env  string
		loadErr    string // "" when Load succeeds
		serveErr   string // WebhookSecret's error; "" when it succeeds
		lenientErr string
	}{
		{"empty", "HOOK_SECRET=\n", "is empty", "is empty", ""},
		{"short", "HOOK_SECRET=abc123\n", "is 6 bytes", "is 6 bytes", "is 6 bytes"},
		{"15 bytes", "HOOK_SECRET=0123456789abcde\n", "is 15 bytes", "is 15 bytes", "is 15 bytes"},
		{"16 bytes", "HOOK_SECRET=0123456789abcdef\n", "", "", ""},
		{"unset", "", "", "HOOK_SECRET is not set", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, ".dango"), 0o755)
			os.WriteFile(filepath.Join(dir, ProjectFile), []byte("webhooks:\n  - name: orders\n    secret_env: HOOK_SECRET\n    run: true\n"), 0o644)
			os.WriteFile(filepath.Join(dir, ".env"), []byte(tc.env), 0o600)
			secret := strings.TrimSuffix(strings.TrimPrefix(tc.env, "HOOK_SECRET="), "\n")
			check := func(what string, err error, want string) {
				t.Helper()
				switch {
				case want == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), ProjectFile+": ") || !strings.Contains(err.Error(), "orders")):
					t.Errorf("%s: %v, want an error naming %s and the webhook saying %q", what, err, ProjectFile, want)
				case err != nil && secret != "" && strings.Contains(err.Error(), secret):
					t.Errorf("%s: the error shows the secret: %v", what, err)
				}
			}
			p, err := Load(dir, specs)
			check("Load", err, tc.loadErr)
			_, err = LoadForReading(dir, specs)
			check("LoadForReading", err, tc.lenientErr)
			if p == nil {
				if p, err = LoadForReading(dir, specs); p == nil {
					p = &Project{Root: dir, Secrets: NewSecretResolver(dir)}
				}
				p.Secrets = NewSecretResolver(dir)
			}
			_, err = p.WebhookSecret(Webhook{Name: "orders", SecretEnv: "HOOK_SECRET"})
			check("WebhookSecret", err, tc.serveErr)
		})
	}
}

func TestAPITokenRule(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".dango"), 0o755)
	p := &Project{Root: dir, Secrets: NewSecretResolver(dir)}
	if tok, err := p.APIToken(); tok != "" || err != nil {
		t.Errorf("no api_token_env: %q %v", tok, err)
	}
	p.APITokenEnv = "DANGO_TEST_API_TOKEN"
	for val, want := range map[string]string{"": "0 bytes", "tok-123": "7 bytes", "0123456789abcdef": ""} {
		t.Setenv("DANGO_TEST_API_TOKEN", val)
		tok, err := p.APIToken()
		if want == "" {
			if err != nil || tok != val {
				t.Errorf("%q: %q %v", val, tok, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), ProjectFile+": api_token_env") || (val != "" && strings.Contains(err.Error(), val)) {
			t.Errorf("%q: %v", val, err)
		}
	}
}
