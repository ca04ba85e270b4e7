// Package config reads a dango project's files — .dango/project.yml, .dango/sources.yml,
// .env and .dlt/secrets.toml — and validates them before anything touches the network or the
// warehouse.
//
// Validation is driven by Specs: each source type declares its keys (name, kind, default,
// documentation) once, and the same declaration checks user files (with file:line errors),
// fills defaults and prints the reference docs. The package never imports connectors; callers
// pass a SpecLookup so that config stays at the bottom of the dependency graph.
package config
