package service

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dangohq/dango/config"
)

// TokenFile holds the HTTP API's bearer token: created (crypto/rand) by the first dango serve,
// mode 0600, read by the project's CLI to talk to the server, replaced by `dango token rotate`.
// The server reads it on every request, so a rotation takes effect at once, without a
// restart, and the old token stops working.
const TokenFile = ".dango/api_token"

// tokenPrefix makes a leaked token recognizable (secret scanners, logs).
const tokenPrefix = "dango_"

// MinSecret is the shortest webhook secret, API token or token file accepted, in bytes.
const MinSecret = config.MinSecretBytes

// ErrNoToken means the project has no API token file yet (no dango serve has started).
var ErrNoToken = errors.New("no API token yet: start dango serve once, or run `dango token rotate`")

func tokenPath(root string) string { return filepath.Join(root, TokenFile) }

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate an API token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// ReadToken reads the project's API token. The file must be a regular file (not a link)
// that only its owner can read, holding one token.
func ReadToken(root string) (string, error) {
	path := tokenPath(root)
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", TokenFile, ErrNoToken)
	}
	if err != nil {
		return "", fmt.Errorf("read the API token: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%s): remove it and run `dango token rotate`", TokenFile, st.Mode().Type())
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s can be read by others (mode %04o): the token may have leaked; run `dango token rotate` (it writes a new one, mode 0600)", TokenFile, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the API token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < MinSecret || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s does not hold a valid token: run `dango token rotate`", TokenFile)
	}
	return tok, nil
}

// EnsureToken returns the project's API token, creating the file at first start.
func EnsureToken(root string) (string, error) {
	tok, err := ReadToken(root)
	if errors.Is(err, ErrNoToken) {
		return RotateToken(root)
	}
	return tok, err
}

// RotateToken writes a new API token, replacing the old one at once (a running dango serve
// refuses the old token from its next request on).
func RotateToken(root string) (string, error) {
	tok, err := newToken()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(tokenPath(root))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write the API token: %w", err)
	}
	// A new file (mode 0600 from its creation) renamed over the old: readers see the old
	// token or the new one, never a part, and a link at the path is replaced, not followed.
	f, err := os.CreateTemp(dir, ".api_token-*")
	if err != nil {
		return "", fmt.Errorf("write the API token: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("write the API token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write the API token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("write the API token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write the API token: %w", err)
	}
	if err := os.Rename(tmp, tokenPath(root)); err != nil {
		return "", fmt.Errorf("write the API token: %w", err)
	}
	return tok, nil
}
