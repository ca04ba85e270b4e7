package dbtdeps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// LockFile is the name of the lock dbt deps writes next to dbt_project.yml.
const LockFile = "package-lock.yml"

// DefaultHubURL is the dbt package hub; DBT_PACKAGE_HUB_URL overrides it, as it does for dbt.
const DefaultHubURL = "https://hub.getdbt.com/"

// DBTVersion is the dbt-core version dango's engine stands in for when a hub package states
// require-dbt-version.
const DBTVersion = "1.9.11"

const pinPackageURL = "https://docs.getdbt.com/docs/package-management#section-specifying-package-versions"

// Installer installs a dbt project's packages as `dbt deps` does.
type Installer struct {
	ProjectDir   string // the dbt project (holds dbt_project.yml, packages.yml)
	InstallPath  string // absolute; default: dbt_project.yml's packages-install-path
	HubURL       string // default: $DBT_PACKAGE_HUB_URL or DefaultHubURL
	HTTP         *http.Client
	GitBinary    string
	Out          io.Writer // progress lines ("Installing …")
	Warn         io.Writer // warnings
	Upgrade      bool      // re-resolve even when the lock matches (dbt deps --upgrade)
	LockOnly     bool      // write the lock, install nothing (dbt deps --lock)
	GitTimeout   time.Duration
	HTTPTimeout  time.Duration
	MaxDownload  int64 // bytes per tarball download
	MaxExtract   int64 // bytes unpacked per tarball
	DBTVersion   string
	VersionCheck bool // skip hub versions whose require_dbt_version excludes DBTVersion

	tmp      string
	index    map[string]bool
	hubCache map[string]*hubPackage
	metas    map[string]*metadata
}

// NewInstaller returns an installer for the dbt project in dir with dbt's defaults.
func NewInstaller(dir string) (*Installer, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	ip, err := InstallPathOf(abs)
	if err != nil {
		return nil, err
	}
	hub := os.Getenv("DBT_PACKAGE_HUB_URL")
	if hub == "" {
		hub = DefaultHubURL
	}
	return &Installer{ProjectDir: abs, InstallPath: ip, HubURL: hub, HTTP: http.DefaultClient, GitBinary: "git",
		Out: io.Discard, Warn: io.Discard, GitTimeout: 5 * time.Minute, HTTPTimeout: 2 * time.Minute,
		MaxDownload: 256 << 20, MaxExtract: 1 << 30, DBTVersion: DBTVersion, VersionCheck: true}, nil
}

// InstallPathOf reads packages-install-path from the project's dbt_project.yml (default
// dbt_packages), relative to the project.
func InstallPathOf(dir string) (string, error) {
	var cfg struct {
		Path string `yaml:"packages-install-path"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "dbt_project.yml"))
	if err != nil {
		return "", &Error{File: "dbt_project.yml", Msg: err.Error()}
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", &Error{File: "dbt_project.yml", Msg: "invalid YAML: " + err.Error()}
	}
	p := cfg.Path
	if p == "" {
		p = "dbt_packages"
	}
	if strings.Contains(p, "{{") {
		if p, err = renderString(p); err != nil {
			return "", &Error{File: "dbt_project.yml", Msg: err.Error()}
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p), nil
}

// ProjectName is the name: in a package's dbt_project.yml (what dbt names its folder by).
func ProjectName(dir string) (string, error) {
	var cfg struct {
		Name string `yaml:"name"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "dbt_project.yml"))
	if err != nil {
		return "", fmt.Errorf("no dbt_project.yml in %s: %w", dir, err)
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("%s: invalid YAML: %v", filepath.Join(dir, "dbt_project.yml"), err)
	}
	name := cfg.Name
	if strings.Contains(name, "{{") {
		if name, err = renderString(name); err != nil {
			return "", err
		}
	}
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return "", fmt.Errorf("%s: the project name %q cannot name a package folder", filepath.Join(dir, "dbt_project.yml"), name)
	}
	return name, nil
}

// ---- resolution ----

// unpinned is what every requirement on one package adds up to.
type unpinned struct {
	spec         *Spec
	revisions    []string // git
	versions     []string // hub
	warnUnpinned bool
	prerelease   bool
}

func (u *unpinned) name() string {
	s := u.spec
	switch s.Kind {
	case "local":
		return s.Local
	case "git":
		if s.Subdirectory != "" {
			return s.Git + "/" + s.Subdirectory
		}
		return s.Git
	case "tarball":
		return s.Tarball
	}
	return s.Package
}

func (u *unpinned) allNames() []string {
	s := u.spec
	if s.Kind != "git" {
		return []string{u.name()}
	}
	other := s.Git + ".git"
	if strings.HasSuffix(s.Git, ".git") {
		other = strings.TrimSuffix(s.Git, ".git")
	}
	if s.Subdirectory != "" {
		return []string{s.Git + "/" + s.Subdirectory, other + "/" + s.Subdirectory}
	}
	return []string{s.Git, other}
}

var kindClass = map[string]string{"local": "LocalUnpinnedPackage", "git": "GitUnpinnedPackage", "tarball": "TarballUnpinnedPackage", "hub": "RegistryUnpinnedPackage"}

type listing struct {
	keys []string
	m    map[string]*unpinned
}

func newListing() *listing { return &listing{m: map[string]*unpinned{}} }

func (l *listing) pick(u *unpinned) string {
	for _, n := range u.allNames() {
		if _, ok := l.m[n]; ok {
			return n
		}
	}
	return u.name()
}

func (l *listing) incorporate(u *unpinned) error {
	k := l.pick(u)
	old, ok := l.m[k]
	if !ok {
		l.keys = append(l.keys, k)
		cp := *u
		l.m[k] = &cp
		return nil
	}
	if old.spec.Kind != u.spec.Kind {
		return fmt.Errorf("Cannot incorporate %s (%s) in %s (%s): mismatched types", u.name(), kindClass[u.spec.Kind], old.name(), kindClass[old.spec.Kind])
	}
	merged := *old
	merged.revisions = append(append([]string(nil), old.revisions...), u.revisions...)
	merged.versions = append(append([]string(nil), old.versions...), u.versions...)
	merged.warnUnpinned = old.warnUnpinned && u.warnUnpinned
	l.m[k] = &merged
	return nil
}

func (l *listing) add(specs []*Spec) error {
	for _, s := range specs {
		u := &unpinned{spec: s, warnUnpinned: s.WarnUnpinned, prerelease: s.InstallPrerelease}
		if s.Kind == "git" && s.Revision != "" {
			u.revisions = []string{s.Revision}
		}
		if s.Kind == "hub" {
			u.versions = s.Versions
		}
		if err := l.incorporate(u); err != nil {
			return err
		}
	}
	return nil
}

// pinned is one package at one version.
type pinned struct {
	spec         *Spec
	revision     string // git: as asked, then the commit once fetched
	version      string // hub
	latest       string // hub: the newest installable version
	warnUnpinned bool
	meta         *metadata
}

type metadata struct {
	name     string
	packages []*Spec
	tarball  string // hub download
	dir      string // git checkout or unpacked tarball, ready to move into place
	sha      string // git: the commit checked out
}

func (in *Installer) resolved(ctx context.Context, u *unpinned) (*pinned, error) {
	p := &pinned{spec: u.spec, warnUnpinned: u.warnUnpinned}
	switch u.spec.Kind {
	case "git":
		set := map[string]bool{}
		var revs []string
		for _, r := range u.revisions {
			if !set[r] {
				set[r] = true
				revs = append(revs, r)
			}
		}
		switch len(revs) {
		case 0:
			p.revision = "HEAD"
		case 1:
			p.revision = revs[0]
		default:
			sort.Strings(revs)
			return nil, fmt.Errorf("git dependencies should contain exactly one version. %s contains: {'%s'}", u.name(), strings.Join(revs, "', '"))
		}
	case "hub":
		if err := in.resolveHub(ctx, u, p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (in *Installer) resolveHub(ctx context.Context, u *unpinned, p *pinned) error {
	name := u.spec.Package
	idx, err := in.hubIndex(ctx)
	if err != nil {
		return err
	}
	if !idx[name] {
		return fmt.Errorf("Package %s was not found in the package index", name)
	}
	var specs []version
	prerelease := u.prerelease
	for _, s := range u.versions {
		v, err := parseVersion(s)
		if err != nil {
			return fmt.Errorf("package %s: %w", name, err)
		}
		prerelease = prerelease || v.prerelease != ""
		specs = append(specs, v)
	}
	rng, err := reduceVersions(specs)
	if err != nil {
		return fmt.Errorf("Version error for package %s: %v", name, err)
	}
	hp, err := in.hubPackage(ctx, name)
	if err != nil {
		return err
	}
	var compat []string
	for v, info := range hp.Versions {
		if !in.VersionCheck || in.dbtCompatible(info.RequireDBTVersion) {
			compat = append(compat, v)
		}
	}
	sort.Strings(compat)
	inst := installable(compat, prerelease)
	target := ""
	if len(inst) > 0 {
		target = resolveVersion(rng, inst)
	}
	if target == "" {
		msg := fmt.Sprintf("Could not find a matching compatible version for package %s\n  Requested range: %s\n  Compatible versions: [%s]\n", name, rng, quoteList(inst))
		if in.VersionCheck {
			msg += "  Not shown: package versions incompatible with installed version of dbt-core\n  To include them, set version checks off (dbt --no-version-check deps)\n"
		}
		return fmt.Errorf("%s", msg)
	}
	p.version, p.latest = target, inst[len(inst)-1]
	return nil
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = "'" + s + "'"
	}
	return strings.Join(q, ", ")
}

func (in *Installer) dbtCompatible(req any) bool {
	var reqs []string
	switch x := req.(type) {
	case nil:
		return true
	case string:
		if x == "" {
			return true
		}
		reqs = []string{x}
	case []any:
		if len(x) == 0 {
			return true
		}
		for _, r := range x {
			reqs = append(reqs, pyStr(r))
		}
	default:
		return true
	}
	dv, err := parseVersion(in.DBTVersion)
	if err != nil {
		return true
	}
	vs := []version{dv}
	for _, r := range reqs {
		v, err := parseVersion(r)
		if err != nil {
			return false
		}
		vs = append(vs, v)
	}
	return compatible(vs...)
}

// fetchMetadata learns a pinned package's project name and its own packages; for git it also
// pins the revision to the commit checked out.
func (in *Installer) fetchMetadata(ctx context.Context, p *pinned) (*metadata, error) {
	if p.meta != nil {
		return p.meta, nil
	}
	s := p.spec
	key := metaKey(p)
	if m, ok := in.metas[key]; ok {
		p.meta = m
		if s.Kind == "git" {
			p.revision = m.sha
		}
		return m, nil
	}
	var dir string
	m := &metadata{}
	switch s.Kind {
	case "local":
		dir = in.localPath(s.Local)
	case "git":
		if (p.revision == "HEAD" || p.revision == "main" || p.revision == "master") && p.warnUnpinned {
			pin := "not pinned, using HEAD (default branch)"
			if p.revision != "HEAD" {
				pin = fmt.Sprintf("pinned to the %q branch", p.revision)
			}
			fmt.Fprintf(in.Warn, "WARNING: The git package %q \n\tis %s.\n\tThis can introduce breaking changes into your project without warning!\n\nSee %s\n", s.Git, pin, pinPackageURL)
		}
		d, sha, err := in.checkout(ctx, s.Git, p.revision, s.Subdirectory)
		if err != nil {
			return nil, err
		}
		dir, p.revision, m.sha = d, sha, sha
	case "tarball":
		d, err := in.fetchTarball(ctx, s.Tarball)
		if err != nil {
			return nil, err
		}
		dir = d
	case "hub":
		hp, err := in.hubPackage(ctx, s.Package)
		if err != nil {
			return nil, err
		}
		hv, ok := hp.Versions[p.version]
		if !ok {
			return nil, fmt.Errorf("package %s has no version %s on the hub", s.Package, p.version)
		}
		m.name, m.tarball = hv.Name, hv.Downloads.Tarball
		var list any
		if len(hv.Packages) > 0 {
			if err := json.Unmarshal(hv.Packages, &list); err != nil {
				return nil, fmt.Errorf("package hub: %s %s: packages: %v", s.Package, p.version, err)
			}
		}
		specs, err := parseSpecs("hub:"+s.Package+"@"+p.version, intsFromJSON(list), nil, false)
		if err != nil {
			return nil, err
		}
		m.packages = specs
	}
	if dir != "" {
		name, err := ProjectName(dir)
		if err != nil {
			return nil, err
		}
		m.name = name
		if s.Kind == "tarball" {
			m.name = s.Name
		}
		d, err := ReadDeclared(dir)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", m.name, err)
		}
		m.packages = d.Specs
		if s.Kind != "local" {
			m.dir = dir
		}
	}
	in.metas[key] = m
	p.meta = m
	return m, nil
}

// intsFromJSON turns whole JSON numbers into ints, as YAML would have read them.
func intsFromJSON(v any) any {
	switch x := v.(type) {
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
	case []any:
		for i := range x {
			x[i] = intsFromJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = intsFromJSON(x[k])
		}
	}
	return v
}

func metaKey(p *pinned) string {
	return p.spec.Kind + "\x00" + (&unpinned{spec: p.spec}).name() + "\x00" + p.revision + p.version
}

func (in *Installer) localPath(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(in.ProjectDir, p)
	}
	return filepath.Clean(p)
}

func (in *Installer) fetchTarball(ctx context.Context, u string) (string, error) {
	file, err := in.download(ctx, u)
	if err != nil {
		return "", err
	}
	return in.extract(file, u)
}

// resolve finds every package, transitive ones included, as dbt's resolver does: each
// round incorporates what the previous round's packages declare.
func (in *Installer) resolve(ctx context.Context, specs []*Spec, rootName string) ([]*pinned, error) {
	pending := newListing()
	if err := pending.add(specs); err != nil {
		return nil, err
	}
	final := newListing()
	for len(pending.keys) > 0 {
		next := newListing()
		for _, k := range pending.keys {
			u := pending.m[k]
			if err := final.incorporate(u); err != nil {
				return nil, err
			}
			p, err := in.resolved(ctx, final.m[final.pick(u)])
			if err != nil {
				return nil, err
			}
			m, err := in.fetchMetadata(ctx, p)
			if err != nil {
				return nil, err
			}
			if err := next.add(m.packages); err != nil {
				return nil, err
			}
		}
		pending = next
	}
	var out []*pinned
	seen := map[string]bool{}
	for _, k := range final.keys {
		p, err := in.resolved(ctx, final.m[k])
		if err != nil {
			return nil, err
		}
		m, err := in.fetchMetadata(ctx, p)
		if err != nil {
			return nil, err
		}
		if seen[m.name] {
			return nil, fmt.Errorf("Found duplicate project %q. This occurs when a dependency has the same project name as some other dependency.", m.name)
		}
		if m.name == rootName {
			return nil, fmt.Errorf("Found a dependency with the same name as the root project %q. Package names must be unique in a project. Please rename one of these packages.", m.name)
		}
		seen[m.name] = true
		out = append(out, p)
	}
	return out, nil
}

// lockDict is the lock entry dbt writes for a pinned package.
func (p *pinned) lockDict() map[string]any {
	s := p.spec
	unrendered := func(k, v string) string {
		if r, ok := s.raw[k].(string); ok {
			return r
		}
		return v
	}
	switch s.Kind {
	case "local":
		return map[string]any{"local": s.Local}
	case "git":
		d := map[string]any{"git": unrendered("git", s.Git), "revision": p.revision}
		if s.Subdirectory != "" {
			d["subdirectory"] = s.Subdirectory
		}
		return d
	case "tarball":
		return map[string]any{"tarball": unrendered("tarball", s.Tarball), "name": s.Name}
	}
	return map[string]any{"package": s.Package, "version": p.version}
}

func writeLock(path string, pins []*pinned, hash string) error {
	var b strings.Builder
	b.WriteString("packages:\n")
	for _, p := range pins {
		d := p.lockDict()
		for i, k := range sortedKeys(d) {
			if i == 0 {
				b.WriteString("  - ")
			} else {
				b.WriteString("    ")
			}
			b.WriteString(k + ": " + yamlScalar(d[k]) + "\n")
		}
	}
	b.WriteString("sha1_hash: " + hash + "\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// readLock reads package-lock.yml: its entries (rendered) and hash.
func readLock(path string) ([]*Spec, string, error) {
	m, node, err := readYAMLFile(path)
	if err != nil {
		return nil, "", &Error{File: LockFile, Msg: err.Error()}
	}
	for k := range m {
		if k != "packages" && k != "sha1_hash" {
			return nil, "", &Error{File: LockFile, Line: keyLine(node, k), Msg: fmt.Sprintf("unknown key %q", k)}
		}
	}
	hash, _ := m["sha1_hash"].(string)
	specs, err := parseSpecs(LockFile, m["packages"], valueNode(node, "packages"), true)
	return specs, hash, err
}

// Run does what `dbt deps` does: (re)writes package-lock.yml when packages.yml changed (or
// Upgrade), then installs exactly what the lock pins into a fresh InstallPath.
func (in *Installer) Run(ctx context.Context) error {
	in.hubCache, in.metas = map[string]*hubPackage{}, map[string]*metadata{}
	tmp, err := os.MkdirTemp(os.Getenv("DBT_DOWNLOADS_DIR"), "dango-deps-")
	if err != nil {
		return err
	}
	in.tmp = tmp
	defer os.RemoveAll(tmp)
	rootName, err := ProjectName(in.ProjectDir)
	if err != nil {
		return err
	}
	decl, err := ReadDeclared(in.ProjectDir)
	if err != nil {
		return err
	}
	declFile := decl.File
	if declFile == "" {
		declFile = "packages.yml"
	}
	lockPath := filepath.Join(in.ProjectDir, LockFile)
	relock := in.Upgrade
	if _, err := os.Stat(lockPath); err != nil {
		relock = true
	} else if !relock {
		_, prev, err := readLock(lockPath)
		if err != nil {
			return err
		}
		relock = prev != Hash(decl.Specs)
	}
	if relock {
		if len(decl.Specs) == 0 {
			fmt.Fprintf(in.Warn, "Warning: No packages were found in %s\n", declFile)
			return nil
		}
		pins, err := in.resolve(ctx, decl.Specs, rootName)
		if err != nil {
			return err
		}
		if err := writeLock(lockPath, pins, Hash(decl.Specs)); err != nil {
			return err
		}
		fmt.Fprintf(in.Out, "Updating lock file in file path: %s\n", lockPath)
	}
	if in.LockOnly {
		return nil
	}
	if err := os.RemoveAll(in.InstallPath); err != nil {
		return err
	}
	if err := os.MkdirAll(in.InstallPath, 0o755); err != nil {
		return err
	}
	locked, _, err := readLock(lockPath)
	if err != nil {
		return err
	}
	if len(locked) == 0 {
		fmt.Fprintf(in.Warn, "Warning: No packages were found in %s\n", declFile)
		return nil
	}
	l := newListing()
	if err := l.add(locked); err != nil {
		return err
	}
	var upgrades []string
	for _, k := range l.keys {
		u := l.m[k]
		p, err := in.resolved(ctx, u)
		if err != nil {
			return err
		}
		fmt.Fprintf(in.Out, "Installing %s\n", pinnedName(p))
		if err := in.install(ctx, p); err != nil {
			return fmt.Errorf("installing %s: %w", pinnedName(p), err)
		}
		fmt.Fprintf(in.Out, "Installed from %s\n", p.niceVersion())
		if p.spec.Kind == "hub" {
			if p.latest != p.version {
				upgrades = append(upgrades, p.spec.Package)
				fmt.Fprintf(in.Out, "Updated version available: %s\n", p.latest)
			} else {
				fmt.Fprintln(in.Out, "Up to date!")
			}
		}
		if p.spec.Subdirectory != "" {
			fmt.Fprintf(in.Out, "and subdirectory %s\n", p.spec.Subdirectory)
		}
	}
	if len(upgrades) > 0 {
		fmt.Fprintf(in.Out, "\nUpdates available for packages: ['%s'] \nUpdate your versions in %s, then run dango deps\n", strings.Join(upgrades, "', '"), declFile)
	}
	return nil
}

func pinnedName(p *pinned) string {
	if p.spec.Kind == "tarball" {
		return p.spec.Name
	}
	return (&unpinned{spec: p.spec}).name()
}

func (p *pinned) niceVersion() string {
	switch p.spec.Kind {
	case "local":
		return "<local @ " + p.spec.Local + ">"
	case "git":
		if p.revision == "HEAD" {
			return "HEAD (default revision)"
		}
		return "revision " + p.revision
	case "tarball":
		return "tarball (url: " + p.spec.Tarball + ")"
	}
	return "version " + p.version
}

// install puts one pinned package into InstallPath/<project name>.
func (in *Installer) install(ctx context.Context, p *pinned) error {
	s := p.spec
	switch s.Kind {
	case "local":
		src := in.localPath(s.Local)
		name, err := ProjectName(src)
		if err != nil {
			return err
		}
		dest := filepath.Join(in.InstallPath, name)
		if err := os.RemoveAll(dest); err != nil {
			return err
		}
		// dbt links local packages (and copies only where links are unavailable)
		if err := os.Symlink(src, dest); err != nil {
			return copyTree(src, dest)
		}
		return nil
	case "hub":
		m, err := in.fetchMetadata(ctx, p)
		if err != nil {
			return err
		}
		dir, err := in.fetchTarball(ctx, m.tarball)
		if err != nil {
			return err
		}
		return moveInto(dir, filepath.Join(in.InstallPath, m.name))
	}
	m, err := in.fetchMetadata(ctx, p)
	if err != nil {
		return err
	}
	if m.dir == "" {
		return fmt.Errorf("internal: no download of %s", pinnedName(p))
	}
	dir := m.dir
	m.dir = "" // moved: a second install must fetch again
	delete(in.metas, metaKey(p))
	return moveInto(dir, filepath.Join(in.InstallPath, m.name))
}

func moveInto(src, dest string) error {
	if err := os.RemoveAll(dest); err != nil {
		return err
	}
	if err := os.Rename(src, dest); err == nil {
		return nil
	}
	return copyTree(src, dest)
}

// copyTree copies regular files and folders (links are copied as links).
func copyTree(src, dest string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dest, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil
	})
}

// Missing reports dbt's check before run/compile/ls: fewer packages installed than declared.
// It returns nil when every declared package has a folder in the install path.
func Missing(dir string) error {
	decl, err := ReadDeclared(dir)
	if err != nil {
		return err
	}
	if len(decl.Specs) == 0 {
		return nil
	}
	ip, err := InstallPathOf(dir)
	if err != nil {
		return err
	}
	installed := 0
	entries, _ := os.ReadDir(ip)
	for _, e := range entries {
		full := filepath.Join(ip, e.Name())
		if st, err := os.Stat(full); err == nil && st.IsDir() {
			if _, err := os.Stat(filepath.Join(full, "dbt_project.yml")); err == nil {
				installed++
			}
		}
	}
	if len(decl.Specs) > installed {
		rel, err := filepath.Rel(dir, ip)
		if err != nil {
			rel = ip
		}
		return &Error{File: decl.File, Msg: fmt.Sprintf("dango found %d package(s) specified in %s, but only %d package(s) installed in %s. Run \"dango deps\" to install package dependencies.", len(decl.Specs), decl.File, installed, rel)}
	}
	return nil
}
