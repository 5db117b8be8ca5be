#!/usr/bin/env bash
# build-helm.sh builds the pinned stock Helm 4 in tools/helm (its own Go
# module, so its dependencies stay out of Cella's go.mod) into bin/helm at
# the repository root, and prints the binary's absolute path as its last
# line on stdout. It rebuilds only when a source of the tool or this script
# is newer than the binary, so calling it before every e2e run is cheap. A
# cold build takes several minutes on two cores; it shares the build cache
# with the root module and with tools/kubectl (no -trimpath), which have
# already compiled client-go and apimachinery when the e2e tests run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/tools/helm"
out="$root/bin/helm"
self="$root/scripts/build-helm.sh"

if [[ -x "$out" && ! "$self" -nt "$out" ]] && [[ -z "$(find "$src" -newer "$out" -type f -print -quit)" ]]; then
	echo "$out"
	exit 0
fi

# The Helm version this module pins, stamped into the binary as Helm's
# release build stamps it, so that `helm version` and the User-Agent name a
# real version rather than "v4.3+unreleased".
hv="$(cd "$src" && go list -m -f '{{.Version}}' helm.sh/helm/v4)"
ldflags="-X helm.sh/helm/v4/internal/version.version=$hv -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

mkdir -p "$root/bin"
echo "building helm $hv from $src" >&2
# Build to a temporary name of its own and rename, so neither an
# interrupted build nor two builds at once leave a broken binary that looks
# up to date.
tmp="$(mktemp "$root/bin/.helm.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
(cd "$src" && go build -ldflags "$ldflags" -o "$tmp" .)
mv -f "$tmp" "$out"
echo "$out"
