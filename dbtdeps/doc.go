// Package dbtdeps installs a dbt project's packages the way `dbt deps` does, without dbt:
// it reads packages.yml or dependencies.yml (env_var() rendered), resolves local:, git:,
// tarball: and hub package: entries together with every package's own packages, intersects
// hub version ranges with dbt's semver rules, writes package-lock.yml in dbt's format (its
// sha1_hash computed as dbt computes it, so dbt and dango share one lock) and installs what
// the lock pins into packages-install-path, each package in a folder named after its project.
//
// It talks to the outside only through the git binary (arguments validated, bounded by
// timeouts) and the package hub's HTTP API; tarballs are unpacked with size limits and never
// outside their folder. It does not touch the warehouse.
package dbtdeps
