#!/usr/bin/env bash
# Lays the upstream projects listed in corpus.tsv under compat/dbt/testdata/<pkg>/, from git
# directories of their repositories (one per repository, e.g. the bare copies a session's
# search tool brings: MIRRORS=/work/.mirror, laid out as <owner>+<name>/repo).
# Each package's tree is exactly the listed paths at the listed commit, LICENSE included.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mirrors=${MIRRORS:-/work/.mirror}
out=$here/testdata
grep -v '^#' "$here/corpus.tsv" | while IFS=$'\t' read -r pkg repo tag commit paths; do
	[ -n "$pkg" ] || continue
	gitdir=$mirrors/${repo/\//+}/repo
	if [ ! -d "$gitdir" ]; then
		echo "corpus.sh: no git directory for $repo at $gitdir (bring the repository first)" >&2
		exit 1
	fi
	got=$(git --git-dir="$gitdir" rev-parse "$commit^{commit}")
	rm -rf "${out:?}/$pkg"
	mkdir -p "$out/$pkg"
	# shellcheck disable=SC2086 # paths is a list
	git --git-dir="$gitdir" archive --format=tar "$got" $paths | tar -x -C "$out/$pkg"
	printf '%s\t%s\t%s\t%s\n' "$pkg" "$repo" "$tag" "$got" >"$out/$pkg/UPSTREAM"
	echo "corpus.sh: $pkg <- $repo $tag ($got)"
done
