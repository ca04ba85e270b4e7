package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ProjectFile is the project settings file inside a project.
const ProjectFile = ".dango/project.yml"

// ProjectFields documents .dango/project.yml.
var ProjectFields = []Field{
	{Name: "name", Kind: String, Doc: "Project name; defaults to the folder's name."},
	{Name: "warehouse", Kind: String, Default: "data/warehouse.duckdb", Doc: "DuckDB file, relative to the project root."},
	{Name: "dbt_project_dir", Kind: String, Default: "dbt", Doc: "Folder of the dbt project."},
	{Name: "auto_generate", Kind: Bool, Default: false, Doc: "Regenerate staging models after a sync that changed a raw schema."},
	{Name: "auto_run", Kind: Bool, Default: false, Doc: "Run the models downstream of a source after it syncs."},
	{Name: "sync_memory_limit", Kind: String, Default: "512MB", Doc: "DuckDB's memory_limit while syncing (e.g. 2GB). Loads stream from files and need little; the limit keeps DuckDB's buffer pool from growing with every table a long sync or dango serve writes (1,000 re-synced small sources: 1.9 GB RSS without it, 0.9 GB with it), and makes large merges spill to disk instead."},
	{Name: "api_token_env", Kind: String, Doc: "dango serve: a variable holding a further bearer token the HTTP API accepts (at least 16 bytes), beside the generated one in .dango/api_token."},
	{Name: "webhooks", Kind: Any, Doc: "dango serve: webhooks as a list of {name, secret_env, sync: [sources], run: true|false}; POST /hooks/<name> signed with the secret (at least 16 bytes) queues the syncs (and the run)."},
	{Name: "nats", Kind: Object, Fields: natsFields, Doc: "How this project's processes log in to NATS (dango serve --nats, dango worker, dango events): url, user with password_env, token_env, creds_file or nkey_seed_file, tls {ca_file, cert_file, key_file}. dango serve with its embedded server generates credentials in .dango/nats-auth.json when none are set."},
	{Name: "engine", Kind: String, Default: "dango", Enum: []string{"dango", "dbt-core"}, Doc: "What runs dbt commands: dango's own engine, or real dbt-core (installed separately)."},
}

// Project is a loaded, validated dango project.
type Project struct {
	Root         string // absolute
	Name         string
	Warehouse    string // absolute path of the DuckDB file
	DBTDir       string // absolute
	AutoGenerate bool
	AutoRun      bool
	SyncMemory   string // DuckDB memory_limit for the writer during syncs
	APITokenEnv  string // dango serve: variable holding the API's bearer token
	Webhooks     []Webhook
	NATS         NATS   // the nats: block
	Engine       string // "dango" or "dbt-core"
	Sources      []Source
	Secrets      *SecretResolver
}

// ErrNoProject is returned when no .dango folder is found.
var ErrNoProject = errors.New("not a dango project (no .dango/ folder here or in any parent); run `dango init` first")

// FindRoot walks up from dir to the first folder holding .dango/.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, ".dango")); err == nil && st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoProject
		}
		dir = parent
	}
}

// Load reads project.yml and sources.yml of the project rooted at root.
func Load(root string, specs Specs) (*Project, error) { return load(root, specs, false) }

// LoadForReading is Load for commands that never contact a source (query, ls, run, …): a
// secret that is set nowhere resolves to "" instead of failing, so a colleague without the
// Stripe key can still query the warehouse. Syncs must use Load.
func LoadForReading(root string, specs Specs) (*Project, error) { return load(root, specs, true) }

func load(root string, specs Specs, lenient bool) (*Project, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	p := &Project{Root: root, Secrets: NewSecretResolver(root)}
	p.Secrets.lenient = lenient
	vals := Values{}
	var doc *yaml.Node
	data, err := os.ReadFile(filepath.Join(root, ProjectFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		vals, _ = (&decoder{file: ProjectFile}).decodeBlock(emptyMapping(), "project", ProjectFields)
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", ProjectFile, err)
	default:
		node, err := parseYAML(ProjectFile, data)
		if err != nil {
			return nil, err
		}
		if node == nil {
			node = emptyMapping()
		}
		doc = node
		if vals, err = (&decoder{file: ProjectFile}).decodeBlock(node, "project", ProjectFields); err != nil {
			return nil, err
		}
	}
	p.Name = vals.String("name")
	if p.Name == "" {
		p.Name = filepath.Base(root)
	}
	p.Warehouse = p.Abs(vals.String("warehouse"))
	p.DBTDir = p.Abs(vals.String("dbt_project_dir"))
	p.AutoGenerate = vals.Bool("auto_generate")
	p.AutoRun = vals.Bool("auto_run")
	p.SyncMemory = vals.String("sync_memory_limit")
	p.APITokenEnv = vals.String("api_token_env")
	p.Engine = vals.String("engine")
	if p.Sources, err = LoadSources(root, specs, p.Secrets); err != nil {
		return nil, err
	}
	if p.Webhooks, err = parseWebhooks(vals["webhooks"], p); err != nil {
		return nil, err
	}
	// A secret that is set but too short is an error for every command; one not set here
	// (another machine's) is dango serve's to report (WebhookSecret).
	for _, h := range p.Webhooks {
		v, err := p.Secrets.Lookup(h.SecretEnv)
		if err != nil || (lenient && v == "") {
			continue
		}
		if _, err := p.checkSecret(h, v); err != nil {
			return nil, err
		}
	}
	if err := parseNATS(vals, doc, p); err != nil {
		return nil, err
	}
	return p, nil
}

// MinSecretBytes is the shortest webhook secret or API token accepted: an HMAC key or a
// bearer token shorter than this can be guessed.
const MinSecretBytes = 16

// WebhookSecret resolves a webhook's HMAC secret. Unset, empty or shorter than
// MinSecretBytes is a configuration error naming the file and the webhook.
func (p *Project) WebhookSecret(h Webhook) ([]byte, error) {
	v, err := p.Secrets.Lookup(h.SecretEnv)
	if err != nil {
		return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhook %s: secret_env: %v", h.Name, err), Err: err}
	}
	return p.checkSecret(h, v)
}

func (p *Project) checkSecret(h Webhook, v Secret) ([]byte, error) {
	switch n := len(v.Reveal()); {
	case n == 0:
		return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhook %s: its secret (%s) is empty: set it to a random value of at least %d bytes (e.g. `openssl rand -hex 32`)", h.Name, h.SecretEnv, MinSecretBytes)}
	case n < MinSecretBytes:
		return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhook %s: its secret (%s) is %d bytes, too short to sign with: use a random value of at least %d bytes (e.g. `openssl rand -hex 32`)", h.Name, h.SecretEnv, n, MinSecretBytes)}
	}
	return []byte(v.Reveal()), nil
}

// APIToken resolves api_token_env: "" when it is not configured; unset or shorter than
// MinSecretBytes is a configuration error.
func (p *Project) APIToken() (string, error) {
	if p.APITokenEnv == "" {
		return "", nil
	}
	v, err := p.Secrets.Lookup(p.APITokenEnv)
	if err != nil {
		return "", &Error{File: ProjectFile, Msg: fmt.Sprintf("api_token_env: %v", err), Err: err}
	}
	if n := len(v.Reveal()); n < MinSecretBytes {
		return "", &Error{File: ProjectFile, Msg: fmt.Sprintf("api_token_env: the token in %s is %d bytes: use a random value of at least %d bytes (e.g. `openssl rand -hex 32`)", p.APITokenEnv, n, MinSecretBytes)}
	}
	return v.Reveal(), nil
}

// Webhook is an endpoint of dango serve, POST /hooks/<Name>, that queues syncs (and a run)
// when the request is signed with the secret.
type Webhook struct {
	Name      string
	SecretEnv string // variable holding the HMAC secret
	Sync      []string
	Run       bool
}

func parseWebhooks(v any, p *Project) ([]Webhook, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, &Error{File: ProjectFile, Msg: "webhooks: expected a list of {name, secret_env, sync, run}"}
	}
	var out []Webhook
	seen := map[string]bool{}
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d]: expected a mapping with name, secret_env, sync and run", i)}
		}
		var h Webhook
		for k, val := range m {
			switch k {
			case "name":
				h.Name = fmt.Sprint(val)
			case "secret_env":
				h.SecretEnv = fmt.Sprint(val)
			case "run":
				b, ok := val.(bool)
				if !ok {
					return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d].run: expected true or false", i)}
				}
				h.Run = b
			case "sync":
				switch x := val.(type) {
				case []any:
					for _, s := range x {
						h.Sync = append(h.Sync, fmt.Sprint(s))
					}
				case string:
					h.Sync = []string{x}
				default:
					return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d].sync: expected a list of source names", i)}
				}
			default:
				return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d]: unknown key %q (valid keys: name, secret_env, sync, run)", i, k)}
			}
		}
		switch {
		case h.Name == "" || strings.ContainsAny(h.Name, "/ ?#"):
			return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d]: name must be set, without slashes or spaces (it is the URL path /hooks/<name>)", i)}
		case seen[h.Name]:
			return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks: name %q appears twice", h.Name)}
		case h.SecretEnv == "":
			return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d] (%s): secret_env must name the variable holding its HMAC secret", i, h.Name)}
		case len(h.Sync) == 0 && !h.Run:
			return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d] (%s): give sync (sources) or run: true, or it does nothing", i, h.Name)}
		}
		for _, s := range h.Sync {
			if _, ok := p.Source(s); !ok {
				return nil, &Error{File: ProjectFile, Msg: fmt.Sprintf("webhooks[%d] (%s): unknown source %q", i, h.Name, s)}
			}
		}
		seen[h.Name] = true
		out = append(out, h)
	}
	return out, nil
}

// Abs resolves a project-relative path.
func (p *Project) Abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Root, path)
}

// Source returns the named source.
func (p *Project) Source(name string) (Source, bool) {
	for _, s := range p.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}
