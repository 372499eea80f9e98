#!/usr/bin/env bash
# Build kube-apiserver from the Go module proxy (no git clone, no release download).
#
#     deploy/local/kube-apiserver/build.sh VERSION OUTPUT_BINARY
#
# k8s.io/kubernetes is not meant to be used as a module: its go.mod requires its own staging
# modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and replaces them with ./staging paths,
# which a module zip does not honour. A throw-away module that requires k8s.io/kubernetes
# VERSION and replaces each of those staging modules with its published v0.MINOR.PATCH makes
# `go build k8s.io/kubernetes/cmd/kube-apiserver` work. The version is set at link time as
# hack/lib/version.sh does: without it the binary says v0.0.0-master and helm refuses any chart
# with a kubeVersion constraint.
#
# Go state (module and build caches) comes from the environment (GOMODCACHE, GOCACHE), so the
# caller decides where it is kept. 5-7 minutes on 2 cores from cold; the binary is ~110 MB.
set -euo pipefail

version="${1:?usage: build.sh VERSION OUTPUT_BINARY}"
output="${2:?usage: build.sh VERSION OUTPUT_BINARY}"
[[ "$version" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || {
  echo "build.sh: version '$version' is not of the form v1.MINOR.PATCH" >&2
  exit 1
}
minor="${BASH_REMATCH[1]}"
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/kube-apiserver-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

export GOTOOLCHAIN=local # never download another Go: the installed one must do
export CGO_ENABLED=0     # a static binary, as the release builds are
export GOFLAGS="-modcacherw -trimpath"

gomod="$(go mod download -json "k8s.io/kubernetes@$version" |
  sed -n 's/^[[:space:]]*"GoMod": *"\(.*\)",\{0,1\}$/\1/p')"
[[ -f "$gomod" ]] || {
  echo "build.sh: go mod download k8s.io/kubernetes@$version gave no go.mod" >&2
  exit 1
}
go_directive="$(awk '$1 == "go" { print $2; exit }' "$gomod")"

{
  echo "module local.invalid/kube-apiserver-build"
  echo
  echo "go $go_directive"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  # `k8s.io/api => ./staging/src/k8s.io/api` becomes `k8s.io/api => k8s.io/api v0.36.3`.
  awk -v v="$staging_version" '$2 == "=>" && $3 ~ /^\.\/staging\// { printf "\t%s => %s %s\n", $1, $1, v }' "$gomod"
  # Any other replace of the upstream module (none in v1.36) is kept as it is.
  awk '$2 == "=>" && $3 !~ /^\.\/staging\// && $3 !~ /^\./ { printf "\t%s\n", $0 }' "$gomod"
  echo ")"
} >go.mod
echo "package main" >dummy.go # a module needs a package for `go mod tidy`; this one imports nothing

# Resolve the requirement graph (adds every module kube-apiserver's packages need to go.mod and
# go.sum, checked against the checksum database), then build.
go get "k8s.io/kubernetes/cmd/kube-apiserver@$version"

pkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags="-s -w"
for pkg in "${pkgs[@]}"; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
go build -ldflags "$ldflags" -o "$work/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver

got="$("$work/kube-apiserver" --version)"
[[ "$got" == "Kubernetes $version" ]] || {
  echo "build.sh: the new binary reports '$got', expected 'Kubernetes $version'" >&2
  exit 1
}
mkdir -p "$(dirname "$output")"
mv -f "$work/kube-apiserver" "$output.partial"
mv -f "$output.partial" "$output"
echo "build.sh: $got built into $output"
