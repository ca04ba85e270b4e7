package node

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/dangohq/dango/config"
	"github.com/dangohq/dango/events"
)

// AuthFile is where dango serve keeps the credentials it generated for its embedded NATS
// server: one user and password per role (serve, worker, trigger), mode 0600.
const AuthFile = ".dango/nats-auth.json"

// AuthPath is the project's credentials file.
func AuthPath(p *config.Project) string { return filepath.Join(p.Root, filepath.FromSlash(AuthFile)) }

// Credentials decide how a process of a role in project p logs in to NATS: the nats: block
// of .dango/project.yml when it gives a way of logging in (a remote worker's, or every
// process's against an external cluster); otherwise the role's user in the credentials file
// a dango serve of this project generated, when there is one; otherwise none (a server
// without authentication refuses nothing, one with it refuses the connection, saying so).
// TLS files of the block apply in every case. The URL is the block's (empty when unset).
func Credentials(p *config.Project, role string) (events.Credentials, string, error) {
	a, err := p.ResolveNATS()
	if err != nil {
		return events.Credentials{}, "", err
	}
	c := events.Credentials{User: a.User, Password: a.Password.Reveal(), Token: a.Token.Reveal(), CredsFile: a.CredsFile, NKeyFile: a.NKeySeedFile,
		TLS: events.TLSFiles{CAFile: a.CAFile, CertFile: a.CertFile, KeyFile: a.KeyFile}}
	config.RegisterSecret(c.Password, c.Token) // never printed, even in a wrapped error
	if a.Configured() {
		return c, a.URL, nil
	}
	f, err := events.LoadAuth(AuthPath(p))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, a.URL, nil
	case err != nil:
		return events.Credentials{}, "", err
	}
	u := f.Users[role]
	c.User, c.Password = u.User, u.Password
	config.RegisterSecret(u.Password)
	return c, a.URL, nil
}

// serverTLS is the embedded listener's TLS: the block's certificate and key (and CA, which
// then requires client certificates).
func serverTLS(p *config.Project) events.TLSFiles {
	if p.NATS.CertFile == "" {
		return events.TLSFiles{}
	}
	return events.TLSFiles{CAFile: p.NATS.CAFile, CertFile: p.NATS.CertFile, KeyFile: p.NATS.KeyFile}
}
