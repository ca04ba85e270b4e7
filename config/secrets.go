package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/joho/godotenv"
)

// SecretResolver resolves the variable named by a "*_env" key: first the process
// environment, then the project's .env file, then .dlt/secrets.toml (a top-level key of that
// name, or dlt's section form: SOURCES__STRIPE__API_KEY is [sources.stripe] api_key).
type SecretResolver struct {
	root    string
	dotenv  map[string]string
	secrets map[string]any
	loaded  bool
	loadErr error
	// lenient resolves a variable that is set nowhere to "" instead of failing (commands
	// that only read the warehouse or the dbt project need no source credentials).
	lenient bool
}

// NewSecretResolver reads nothing until the first lookup.
func NewSecretResolver(root string) *SecretResolver { return &SecretResolver{root: root} }

func (r *SecretResolver) load() error {
	if r.loaded {
		return r.loadErr
	}
	r.loaded = true
	envPath := filepath.Join(r.root, ".env")
	if m, err := godotenv.Read(envPath); err == nil {
		r.dotenv = m
	} else if !errors.Is(err, os.ErrNotExist) {
		// godotenv's messages quote the text they choke on, which is a secret's value: say
		// where instead.
		r.loadErr = &Error{File: ".env", Line: dotenvBadLine(envPath), Msg: "cannot parse this line (is a quote left open? " +
			"quote values that hold spaces or #)", Err: errors.New("invalid .env syntax")}
		return r.loadErr
	}
	tomlPath := filepath.Join(r.root, ".dlt", "secrets.toml")
	if _, err := os.Stat(tomlPath); err == nil {
		var m map[string]any
		if _, err := toml.DecodeFile(tomlPath, &m); err != nil {
			line := 0
			var perr toml.ParseError
			if errors.As(err, &perr) {
				line = perr.Position.Line
			}
			// The parser's message quotes the offending text (`expected value but found
			// "s3cr3t…"` for an unquoted value): only the line is given.
			r.loadErr = &Error{File: ".dlt/secrets.toml", Line: line, Msg: `cannot parse this line (is it key = "value", with the value quoted?)`,
				Err: errors.New("invalid TOML")}
			return r.loadErr
		}
		r.secrets = m
	}
	return nil
}

// Lookup returns the value of the named variable or an error naming it and where it looked.
// The value is registered for redaction (see Redact): whoever asks for a variable by name
// holds a credential.
func (r *SecretResolver) Lookup(name string) (Secret, error) {
	v, err := r.lookup(name)
	if err == nil {
		RegisterSecret(v.Reveal())
	}
	return v, err
}

// lookup is Lookup without registering: sources.yml's *_env keys register by what the key
// names (a user name or host given as user_env is not a secret to hide everywhere).
func (r *SecretResolver) lookup(name string) (Secret, error) {
	if name == "" {
		return "", fmt.Errorf("names no environment variable")
	}
	if v, ok := os.LookupEnv(name); ok {
		return Secret(v), nil
	}
	if err := r.load(); err != nil {
		return "", err
	}
	if v, ok := r.dotenv[name]; ok {
		return Secret(v), nil
	}
	if v, ok := lookupTOML(r.secrets, name); ok {
		return Secret(v), nil
	}
	if r.lenient {
		return "", nil
	}
	return "", fmt.Errorf("environment variable %s is not set (looked in the environment, .env and .dlt/secrets.toml)", name)
}

func lookupTOML(m map[string]any, name string) (string, bool) {
	if m == nil {
		return "", false
	}
	if v, ok := m[name]; ok {
		if s, ok := scalarString(v); ok {
			return s, true
		}
	}
	// dlt's convention: SECTION__SUB__KEY, matched case-insensitively.
	parts := strings.Split(name, "__")
	var cur any = m
	for _, p := range parts {
		mm, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		found := false
		for k, v := range mm {
			if strings.EqualFold(k, p) {
				cur, found = v, true
				break
			}
		}
		if !found {
			return "", false
		}
	}
	return scalarString(cur)
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64, float64, bool:
		return fmt.Sprint(x), true
	}
	return "", false
}

// dotenvBadLine is the line after the longest start of the file that parses: where the
// syntax breaks (0 when it cannot tell).
func dotenvBadLine(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 5000 {
		return 0
	}
	for k := len(lines) - 1; k >= 0; k-- {
		if _, err := godotenv.Unmarshal(strings.Join(lines[:k], "")); err == nil {
			return k + 1
		}
	}
	return 0
}
