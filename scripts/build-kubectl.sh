#!/usr/bin/env bash
# build-kubectl.sh builds the pinned stock kubectl in tools/kubectl (its own
# Go module, so its dependencies stay out of Cella's go.mod) into
# bin/kubectl at the repository root, and prints the binary's absolute path
# as its last line on stdout. It rebuilds only when a source of the tool or
# this script is newer than the binary, so calling it before every e2e run
# is cheap. A cold build takes a few minutes on two cores; it shares the
# build cache with the root module (no -trimpath), which has already
# compiled client-go and apimachinery when the e2e tests run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tools/kubectl"
out="$root/bin/kubectl"
self="$root/scripts/build-kubectl.sh"

if [[ -x "$out" && ! "$self" -nt "$out" ]] && [[ -z "$(find "$src" -newer "$out" -type f -print -quit)" ]]; then
	echo "$out"
	exit 0
fi

# The kubectl version this module pins (k8s.io/kubectl v0.X.Y is Kubernetes
# v1.X.Y), stamped into the binary as a release build would be, so that
# `kubectl version` and the User-Agent name a real version.
kv="$(cd "$src" && go list -m -f '{{.Version}}' k8s.io/kubectl)"
minor="$(echo "$kv" | cut -d. -f2)"
git_version="v1.${kv#v0.}"
ldflags=""
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ldflags+=" -X $pkg.gitVersion=$git_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

mkdir -p "$root/bin"
echo "building kubectl $git_version from $src" >&2
# Build to a temporary name of its own and rename, so neither an
# interrupted build nor two builds at once leave a broken binary that looks
# up to date.
tmp="$(mktemp "$root/bin/.kubectl.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
(cd "$src" && go build -ldflags "$ldflags" -o "$tmp" .)
mv -f "$tmp" "$out"
echo "$out"
