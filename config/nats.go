package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// natsFields document the nats: block of .dango/project.yml: how this project's processes
// (dango serve --nats, dango worker, dango events, triggers) log in to NATS. Secrets are never
// written in the file: only the names of the variables holding them.
var natsFields = []Field{
	{Name: "url", Kind: String, Doc: "NATS URL(s) of dango serve's bus, comma-separated (dango worker and dango events use it when --nats is not given); may be given as url_env."},
	{Name: "user", Kind: String, Doc: "User name (with password_env); may be given as user_env."},
	{Name: "password_env", Kind: String, Doc: "Variable holding the user's password."},
	{Name: "token_env", Kind: String, Doc: "Variable holding an authentication token (instead of a user)."},
	{Name: "creds_file", Kind: String, Doc: "A NATS .creds file (JWT and nkey seed), relative to the project root."},
	{Name: "nkey_seed_file", Kind: String, Doc: "A file holding an nkey seed (SU…), relative to the project root."},
	{Name: "tls", Kind: Object, Doc: "TLS: ca_file verifies the server; cert_file and key_file are a client certificate (dango serve --nats-listen: the embedded server's certificate, and ca_file then requires client certificates).",
		Fields: []Field{
			{Name: "ca_file", Kind: String, Doc: "PEM file of the certificate authority."},
			{Name: "cert_file", Kind: String, Doc: "PEM certificate."},
			{Name: "key_file", Kind: String, Doc: "PEM private key of cert_file."},
		}},
}

// NATS is the nats: block, secrets still unresolved (see Resolve).
type NATS struct {
	URL, URLEnv, User, UserEnv string
	PasswordEnv, TokenEnv      string
	CredsFile, NKeySeedFile    string // absolute
	CAFile, CertFile, KeyFile  string // absolute
	lines                      map[string]int
}

// NATSAuth is the nats: block with its variables looked up.
type NATSAuth struct {
	URL, User                 string
	Password, Token           Secret
	CredsFile, NKeySeedFile   string
	CAFile, CertFile, KeyFile string
}

// Configured reports whether the block gives any way of logging in.
func (a NATSAuth) Configured() bool {
	return a.User != "" || a.Password != "" || a.Token != "" || a.CredsFile != "" || a.NKeySeedFile != ""
}

// Resolve looks up the block's variables with the project's secrets (environment, .env,
// .dlt/secrets.toml). A variable that is named but set nowhere is an error with the line
// that names it, even for commands that read leniently: a login without its password
// would only fail later, less clearly.
func (p *Project) ResolveNATS() (NATSAuth, error) {
	n := p.NATS
	a := NATSAuth{URL: n.URL, User: n.User, CredsFile: n.CredsFile, NKeySeedFile: n.NKeySeedFile, CAFile: n.CAFile, CertFile: n.CertFile, KeyFile: n.KeyFile}
	for _, v := range []struct {
		key, name string
		dst       func(Secret)
	}{
		{"url_env", n.URLEnv, func(s Secret) { a.URL = s.Reveal() }},
		{"user_env", n.UserEnv, func(s Secret) { a.User = s.Reveal() }},
		{"password_env", n.PasswordEnv, func(s Secret) { a.Password = s }},
		{"token_env", n.TokenEnv, func(s Secret) { a.Token = s }},
	} {
		if v.name == "" {
			continue
		}
		r := *p.Secrets
		r.lenient = false
		s, err := r.Lookup(v.name)
		if err == nil && s == "" {
			err = fmt.Errorf("variable %s is empty", v.name)
		}
		if err != nil {
			return NATSAuth{}, &Error{File: ProjectFile, Line: n.lines[v.key], Msg: fmt.Sprintf("nats.%s: %v", v.key, err), Err: err}
		}
		v.dst(s)
	}
	return a, nil
}

// parseNATS fills p.NATS from the validated block, with the line of each key for messages.
func parseNATS(vals Values, node *yaml.Node, p *Project) error {
	v := vals.Object("nats")
	if v == nil {
		return nil
	}
	n := NATS{URL: v.String("url"), URLEnv: v.String("url_env"), User: v.String("user"), UserEnv: v.String("user_env"),
		PasswordEnv: v.String("password_env"), TokenEnv: v.String("token_env"), lines: map[string]int{}}
	abs := func(s string) string {
		if s == "" {
			return ""
		}
		return p.Abs(s)
	}
	n.CredsFile, n.NKeySeedFile = abs(v.String("creds_file")), abs(v.String("nkey_seed_file"))
	if t := v.Object("tls"); t != nil {
		n.CAFile, n.CertFile, n.KeyFile = abs(t.String("ca_file")), abs(t.String("cert_file")), abs(t.String("key_file"))
	}
	block := 0
	if node != nil {
		node = resolveAlias(node)
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value != "nats" {
				continue
			}
			block = node.Content[i].Line
			m := resolveAlias(node.Content[i+1])
			for j := 0; j+1 < len(m.Content); j += 2 {
				n.lines[m.Content[j].Value] = m.Content[j].Line
			}
		}
	}
	ways := 0
	for _, set := range []bool{n.User != "" || n.UserEnv != "" || n.PasswordEnv != "", n.TokenEnv != "", n.CredsFile != "", n.NKeySeedFile != ""} {
		if set {
			ways++
		}
	}
	switch {
	case ways > 1:
		return errorf(ProjectFile, block, "nats: give one way of logging in: user with password_env, token_env, creds_file or nkey_seed_file")
	case (n.User != "" || n.UserEnv != "") != (n.PasswordEnv != ""):
		return errorf(ProjectFile, block, "nats: user and password_env go together")
	case (n.CertFile == "") != (n.KeyFile == ""):
		return errorf(ProjectFile, n.lines["tls"], "nats.tls: cert_file and key_file go together")
	}
	p.NATS = n
	return nil
}
