package dbtdeps

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ---- git ----

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// checkArg refuses values git could read as an option or that carry control characters.
func checkArg(what, v string) error {
	if strings.HasPrefix(v, "-") {
		return fmt.Errorf("%s %q may not start with '-'", what, v)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q contains a control character", what, v)
		}
	}
	return nil
}

func checkRevision(rev string) error {
	if err := checkArg("git revision", rev); err != nil {
		return err
	}
	if strings.ContainsAny(rev, " ~^:?*[\\") || strings.Contains(rev, "..") || strings.Contains(rev, "@{") {
		return fmt.Errorf("git revision %q is not a branch, tag or commit name", rev)
	}
	return nil
}

func checkSubdir(sub string) error {
	if err := checkArg("subdirectory", sub); err != nil {
		return err
	}
	clean := path.Clean(filepath.ToSlash(sub))
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("subdirectory %q must stay inside the repository", sub)
	}
	return nil
}

func (in *Installer) git(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, in.GitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.GitBinary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "GIT_TERMINAL_PROMPT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return "", fmt.Errorf("git %s: %w", args[0], ctx.Err())
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		return "", fmt.Errorf("git %s failed: %v: %s", args[0], err, msg)
	}
	return stdout.String(), nil
}

// checkout clones repo at revision the way dbt does (shallow clone, then fetch and reset to
// the revision, tags preferred over branches), sparse when only a subdirectory is wanted. It
// returns the package folder and the commit it is at.
func (in *Installer) checkout(ctx context.Context, repo, revision, subdir string) (string, string, error) {
	if err := checkArg("git URL", repo); err != nil {
		return "", "", err
	}
	if revision == "" {
		revision = "HEAD"
	}
	if err := checkRevision(revision); err != nil {
		return "", "", err
	}
	if subdir != "" {
		if err := checkSubdir(subdir); err != nil {
			return "", "", err
		}
	}
	sum := md5.Sum([]byte(repo + "/" + subdir + "@" + revision))
	name := hex.EncodeToString(sum[:])
	dir := filepath.Join(in.tmp, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", "", err
	}
	clone := []string{"clone", "--depth", "1"}
	if subdir != "" {
		clone = append(clone, "--filter=blob:none", "--sparse")
	}
	clone = append(clone, "--", repo, name)
	if _, err := in.git(ctx, in.tmp, clone...); err != nil {
		return "", "", fmt.Errorf("cloning %s: %w", repo, err)
	}
	if subdir != "" {
		if _, err := in.git(ctx, dir, "sparse-checkout", "set", "--", subdir); err != nil {
			return "", "", fmt.Errorf("sparse checkout of %s in %s: %w", subdir, repo, err)
		}
	}
	spec := revision
	if shaRE.MatchString(revision) {
		if _, err := in.git(ctx, dir, "fetch", "--depth", "1", "--end-of-options", "origin", revision); err != nil {
			return "", "", fmt.Errorf("checking out %s at %s: %w", repo, revision, err)
		}
	} else {
		if _, err := in.git(ctx, dir, "remote", "set-branches", "origin", revision); err != nil {
			return "", "", fmt.Errorf("checking out %s at %s: %w", repo, revision, err)
		}
		if _, err := in.git(ctx, dir, "fetch", "--depth", "1", "--tags", "--end-of-options", "origin", revision); err != nil {
			return "", "", fmt.Errorf("checking out %s at %s: %w", repo, revision, err)
		}
		tags, err := in.git(ctx, dir, "tag", "--list")
		if err != nil {
			return "", "", err
		}
		spec = "origin/" + revision
		for _, t := range strings.Split(tags, "\n") {
			if strings.TrimSpace(t) == revision {
				spec = "tags/" + revision
			}
		}
	}
	if _, err := in.git(ctx, dir, "reset", "--hard", spec, "--"); err != nil {
		return "", "", fmt.Errorf("checking out %s at %s: %w", repo, revision, err)
	}
	sha, err := in.git(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return "", "", err
	}
	pkgDir := dir
	if subdir != "" {
		pkgDir = filepath.Join(dir, filepath.FromSlash(subdir))
		if st, err := os.Stat(pkgDir); err != nil || !st.IsDir() {
			return "", "", fmt.Errorf("%s has no subdirectory %s at %s", repo, subdir, revision)
		}
	}
	return pkgDir, strings.TrimSpace(sha), nil
}

// ---- hub ----

type hubVersion struct {
	Name              string          `json:"name"`
	Packages          json.RawMessage `json:"packages"`
	RequireDBTVersion any             `json:"require_dbt_version"`
	Downloads         struct {
		Tarball string `json:"tarball"`
	} `json:"downloads"`
}

type hubPackage struct {
	Name     string                 `json:"name"`
	Versions map[string]*hubVersion `json:"versions"`
}

func (in *Installer) getJSON(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, in.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := in.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("package hub request GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &httpError{URL: u, Status: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("package hub request GET %s: %w", u, err)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("package hub response from %s is not what the hub API returns: %v", u, err)
	}
	return nil
}

type httpError struct {
	URL    string
	Status int
}

func (e *httpError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status) }

func (in *Installer) hubURL(name string) (string, error) {
	base := in.HubURL
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u, err := url.Parse(base + "api/v1/" + name + ".json")
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

var hubNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

func (in *Installer) hubIndex(ctx context.Context) (map[string]bool, error) {
	if in.index != nil {
		return in.index, nil
	}
	u, err := in.hubURL("index")
	if err != nil {
		return nil, err
	}
	var names []string
	if err := in.getJSON(ctx, u, &names); err != nil {
		return nil, err
	}
	in.index = map[string]bool{}
	for _, n := range names {
		in.index[n] = true
	}
	return in.index, nil
}

func (in *Installer) hubPackage(ctx context.Context, name string) (*hubPackage, error) {
	if p, ok := in.hubCache[name]; ok {
		return p, nil
	}
	if !hubNameRE.MatchString(name) || strings.Contains(name, "..") {
		return nil, fmt.Errorf("%q is not a package hub name (org/name)", name)
	}
	u, err := in.hubURL(name)
	if err != nil {
		return nil, err
	}
	var p hubPackage
	if err := in.getJSON(ctx, u, &p); err != nil {
		return nil, err
	}
	if p.Name == "" || p.Versions == nil {
		return nil, fmt.Errorf("package hub response for %s lacks name or versions", name)
	}
	for v, hv := range p.Versions {
		if hv == nil || hv.Name == "" || hv.Downloads.Tarball == "" {
			return nil, fmt.Errorf("package hub response for %s version %s lacks name, packages or downloads", name, v)
		}
	}
	in.hubCache[name] = &p
	return &p, nil
}

// ---- tarballs ----

// download fetches a URL into a temporary file, refusing more than MaxDownload bytes.
func (in *Installer) download(ctx context.Context, u string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") {
		return "", fmt.Errorf("tarball URL %q must be http or https", u)
	}
	ctx, cancel := context.WithTimeout(ctx, in.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := in.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("downloading %s: %w", u, &httpError{URL: u, Status: resp.StatusCode})
	}
	f, err := os.CreateTemp(in.tmp, "tarball-*.tar.gz")
	if err != nil {
		return "", err
	}
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(resp.Body, in.MaxDownload+1))
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", u, err)
	}
	if n > in.MaxDownload {
		return "", fmt.Errorf("downloading %s: larger than %d bytes", u, in.MaxDownload)
	}
	return f.Name(), nil
}

// extract unpacks a .tar.gz into a new folder and returns its single top-level folder. Entries
// that would land outside the folder (absolute, .., links pointing out), device files and
// archives over MaxExtract bytes are refused.
func (in *Installer) extract(archive, label string) (string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s is not a gzip tarball: %w", label, err)
	}
	dest, err := os.MkdirTemp(in.tmp, "untarred-")
	if err != nil {
		return "", err
	}
	tr := tar.NewReader(gz)
	var total int64
	tops := map[string]bool{}
	type link struct{ name, target string }
	var links []link
	for files := 0; ; files++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: corrupt tarball: %w", label, err)
		}
		if files > 200000 {
			return "", fmt.Errorf("%s: too many files", label)
		}
		if h.Typeflag == tar.TypeXGlobalHeader || h.Name == "pax_global_header" {
			continue
		}
		name := path.Clean(strings.TrimPrefix(filepath.ToSlash(h.Name), "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(h.Name) || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(h.Name, "\x00") {
			return "", fmt.Errorf("%s: refusing entry %q outside the package folder", label, h.Name)
		}
		tops[strings.SplitN(name, "/", 2)[0]] = true
		target := filepath.Join(dest, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return "", err
			}
		case tar.TypeReg, tar.TypeRegA:
			total += h.Size
			if total > in.MaxExtract {
				return "", fmt.Errorf("%s: unpacks to more than %d bytes", label, in.MaxExtract)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", err
			}
			if err := inside(dest, filepath.Dir(target)); err != nil {
				return "", fmt.Errorf("%s: refusing entry %q: %w", label, h.Name, err)
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644|os.FileMode(h.Mode)&0o111)
			if err != nil {
				return "", err
			}
			n, err := io.Copy(out, io.LimitReader(tr, h.Size))
			out.Close()
			if err != nil {
				return "", fmt.Errorf("%s: %w", label, err)
			}
			if n != h.Size {
				return "", fmt.Errorf("%s: truncated entry %q", label, h.Name)
			}
		case tar.TypeSymlink:
			lt := filepath.ToSlash(h.Linkname)
			resolved := path.Clean(path.Join(path.Dir(name), lt))
			if path.IsAbs(lt) || resolved == ".." || strings.HasPrefix(resolved, "../") {
				return "", fmt.Errorf("%s: refusing symlink %q -> %q pointing outside the package folder", label, h.Name, h.Linkname)
			}
			links = append(links, link{target, h.Linkname})
		default:
			return "", fmt.Errorf("%s: refusing entry %q of type %q (only files, folders and links inside are allowed)", label, h.Name, string(h.Typeflag))
		}
	}
	// links last, so no file is written through one
	for _, l := range links {
		if err := os.MkdirAll(filepath.Dir(l.name), 0o755); err != nil {
			return "", err
		}
		if err := os.Symlink(filepath.FromSlash(l.target), l.name); err != nil {
			return "", fmt.Errorf("%s: %w", label, err)
		}
	}
	if len(tops) != 1 {
		return "", fmt.Errorf("Incorrect structure for package extracted from %s. The extracted package needs to follow the structure <package_name>/<package_contents>.", label)
	}
	for top := range tops {
		dir := filepath.Join(dest, top)
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
			return "", fmt.Errorf("Incorrect structure for package extracted from %s. The extracted package needs to follow the structure <package_name>/<package_contents>.", label)
		}
		return dir, nil
	}
	return "", nil
}

// inside fails when dir (after resolving links) is not within root.
func inside(root, dir string) error {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(r, d)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("path leaves the package folder")
	}
	return nil
}

var _ = time.Second
