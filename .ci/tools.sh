# shellcheck shell=bash
#
# .ci/tools.sh - install the non-Python tools the tests and the demo need into a cache:
# helm, promtool + prometheus, etcd, kube-apiserver, and the CRDs of the chart's custom
# resources. `make setup` runs it (so `make test` and `.ci/run` do too).
#
# Usage, as a script (no argument = ensure_all):
#
#     bash .ci/tools.sh [ensure_helm ensure_promtool ensure_etcd ensure_kube_apiserver ensure_crds]
#
# or from a script that may run with `set -euo pipefail`:
#
#     source .ci/tools.sh
#     ensure_helm
#
# Everything goes under ${INFUSION_VALIDATOR_CACHE:-$HOME/.cache/infusion-validator}:
#
#     bin/          helm, promtool, prometheus, etcd, kube-apiserver (this directory is put
#                   first on PATH when the file is sourced)
#     crds/         CustomResourceDefinitions: KEDA's, and prometheus-operator's (generated)
#     go/           GOPATH, module cache and build cache used to build helm and kube-apiserver
#     logs/         full output of the last build / fetch of each tool
#
# Every function is idempotent: it skips all work when the tool is already in the cache and
# runs. Each prints one short line to stderr saying what it did and how long it took. On failure
# it prints one "tools: ERROR: ..." line (pointing at the full log) and returns non-zero, without
# leaving a half-installed binary behind. Cold, on 2 cores: helm ~2 min, kube-apiserver 5-7 min,
# CRDs ~1 min, the Debian packages seconds.
#
# Knobs (environment):
#   INFUSION_VALIDATOR_CACHE         cache root (read once, when this file is sourced)
#   INFUSION_VALIDATOR_HELM_VERSION  helm tag to build; default below. v3.x and v4.x are supported.
#   INFUSION_VALIDATOR_KUBE_VERSION  kube-apiserver tag to build; default further below.
#
# When sourced, this file only defines functions and variables prefixed with _iv_/IV_TOOLS_, and
# adjusts PATH. It does not change shell options or traps of the shell that sources it.

# The Go module proxy serves helm v3.22.0 but does not approve it; v3.21.4 (go.mod: no replace
# directives) is approved and builds with `go install` and the installed Go.
IV_TOOLS_HELM_DEFAULT_VERSION="v3.21.4"

IV_TOOLS_CACHE="${INFUSION_VALIDATOR_CACHE:-${HOME:-/root}/.cache/infusion-validator}"
# A relative cache path would break as soon as the caller changes directory.
case "$IV_TOOLS_CACHE" in
  /*) ;;
  *) IV_TOOLS_CACHE="$PWD/$IV_TOOLS_CACHE" ;;
esac
IV_TOOLS_BIN="$IV_TOOLS_CACHE/bin"

# Put the cache bin first on PATH (once, even if this file is sourced several times).
case ":${PATH:-}:" in
  *":$IV_TOOLS_BIN:"*) ;;
  *) PATH="$IV_TOOLS_BIN${PATH:+:$PATH}" ;;
esac
export PATH

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

_iv_info() { printf 'tools: %s\n' "$*" >&2; }
_iv_error() { printf 'tools: ERROR: %s\n' "$*" >&2; }

# Current time in microseconds. EPOCHREALTIME (bash >= 5) has a locale-dependent decimal
# separator, so keep only the digits; fall back to whole seconds on older shells.
_iv_now_us() {
  local t="${EPOCHREALTIME:-}"
  if [[ -n "$t" ]]; then
    printf '%s' "${t//[!0-9]/}"
  else
    printf '%s' "$((SECONDS * 1000000))"
  fi
}

# Elapsed time since $1 (from _iv_now_us), formatted like "12.3s".
_iv_elapsed() {
  local now tenths
  now="$(_iv_now_us)"
  tenths=$(((now - $1) / 100000))
  printf '%d.%ds' "$((tenths / 10))" "$((tenths % 10))"
}

# The most telling line of a log file, shortened, for a one-line error message: the last apt
# error ("E: ...") if there is one, else the last non-blank line (where go prints its error).
_iv_last_line() {
  awk 'NF { line = $0 } /^E: / { err = $0 }
       END { if (err != "") line = err; gsub(/^[ \t]+/, "", line); print substr(line, 1, 240) }' \
    "$1" 2>/dev/null
}

# The go command: the one on PATH, else the standard install location.
_iv_find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '%s\n' /usr/local/go/bin/go
  else
    return 1
  fi
}

# Print the version of the helm binary at $1 (e.g. "v3.22.0"); fail if it is missing or broken.
_iv_helm_version_of() {
  local out
  [[ -x "$1" ]] || return 1
  out="$("$1" version --short 2>/dev/null)" || return 1
  # --short prints "v3.22.0" or "v3.22.0+g<commit>"; drop the build metadata.
  out="${out%%+*}"
  [[ "$out" == v* ]] || return 1
  printf '%s\n' "$out"
}

# --------------------------------------------------------------------------------------------
# helm
# --------------------------------------------------------------------------------------------

# Build helm $1 (a tag such as v3.22.0) with `go install` into IV_TOOLS_BIN, logging to $2.
# Runs in a subshell (note the parentheses) so the exports and the cleanup trap stay local.
# Every step is checked explicitly: `set -e` does not apply inside a function called from
# `if`/`||`, so it could not be relied on here anyway.
_iv_build_helm() (
  want="$1"
  log="$2"

  if ! go="$(_iv_find_go)"; then
    _iv_error "ensure_helm: no Go toolchain (no 'go' on PATH and no /usr/local/go/bin/go)"
    exit 1
  fi

  major="${want#v}"
  major="${major%%.*}"
  case "$major" in
    3 | 4) mod="helm.sh/helm/v$major" ;;
    *)
      _iv_error "ensure_helm: unsupported helm version '$want' (expected v3.x.y or v4.x.y)"
      exit 1
      ;;
  esac

  if ! mkdir -p "$IV_TOOLS_BIN" "$IV_TOOLS_CACHE/logs" "$IV_TOOLS_CACHE/go"; then
    _iv_error "ensure_helm: cannot create the cache directories under $IV_TOOLS_CACHE"
    exit 1
  fi
  if ! stage="$(mktemp -d "$IV_TOOLS_CACHE/go/stage.XXXXXX")"; then
    _iv_error "ensure_helm: cannot create a staging directory under $IV_TOOLS_CACHE/go"
    exit 1
  fi
  trap 'rm -rf "$stage"' EXIT

  # Keep all Go state inside the cache so a second run reuses downloaded modules and compiled
  # packages. -modcacherw keeps the module cache deletable with a plain `rm -rf`.
  # CGO_ENABLED=0 and -trimpath match Helm's own Makefile (static binary, no C compiler needed).
  export GOPATH="$IV_TOOLS_CACHE/go"
  export GOMODCACHE="$IV_TOOLS_CACHE/go/pkg/mod"
  export GOCACHE="$IV_TOOLS_CACHE/go/build-cache"
  export GOBIN="$stage"
  export GOFLAGS="-modcacherw -trimpath"
  export CGO_ENABLED=0

  {
    printf '# %s: building %s/cmd/helm@%s\n' "$(date -u +%FT%TZ)" "$mod" "$want"
    "$go" version
  } >"$log" 2>&1

  # 1. Fetch the module first: this gives a clear error for a bad tag or an unreachable proxy,
  #    and its go.mod tells us which Kubernetes version Helm was built against.
  if ! "$go" mod download -json "$mod@$want" >"$stage/mod.json" 2>>"$log"; then
    cat "$stage/mod.json" >>"$log" 2>/dev/null
    reason="$(sed -n 's/^[[:space:]]*"Error": *"\(.*\)",\{0,1\}$/\1/p' "$stage/mod.json" | head -n 1)"
    reason="${reason//\\n\\t/ }" # the JSON string may hold escaped newlines/tabs
    reason="${reason//\\n/ }"
    _iv_error "ensure_helm: cannot download $mod@$want from the Go module proxy: ${reason:-$(_iv_last_line "$log")} (log: $log)"
    exit 1
  fi
  gomod="$(sed -n 's/^[[:space:]]*"GoMod": *"\(.*\)",\{0,1\}$/\1/p' "$stage/mod.json" | head -n 1)"

  # 2. Link-time variables, as Helm's Makefile sets them. Without them a `go install` build
  #    reports its version as just "v3.22" and (v3 only) assumes Kubernetes 1.20 for
  #    .Capabilities.KubeVersion in `helm template` and for deprecation checks in `helm lint`.
  ldflags="-s -w -X $mod/internal/version.version=$want -X $mod/internal/version.gitTreeState=clean"
  if [[ "$major" == 3 ]]; then
    # Makefile: Kubernetes major = client-go major + 1 (v0.x -> 1), minor = client-go minor.
    client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }
                      $1 == "require" && $2 == "k8s.io/client-go" { print $3; exit }' "$gomod" 2>/dev/null)"
    if [[ ! "$client_go" =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
      _iv_error "ensure_helm: cannot find the k8s.io/client-go version in ${gomod:-the go.mod of $mod@$want} (log: $log)"
      exit 1
    fi
    k8s_major="$((BASH_REMATCH[1] + 1))"
    k8s_minor="${BASH_REMATCH[2]}"
    for pkg in pkg/chartutil pkg/lint/rules; do
      ldflags+=" -X $mod/$pkg.k8sVersionMajor=$k8s_major -X $mod/$pkg.k8sVersionMinor=$k8s_minor"
    done
  fi
  # (v4 reads the client-go version from the binary's build info, so it needs nothing more.)

  # 3. Build. On 2 cores a cold build takes a few minutes; with a warm cache a few seconds.
  printf '# ldflags: %s\n' "$ldflags" >>"$log"
  if ! "$go" install -ldflags "$ldflags" "$mod/cmd/helm@$want" >>"$log" 2>&1; then
    _iv_error "ensure_helm: go install $mod/cmd/helm@$want failed: $(_iv_last_line "$log") (log: $log)"
    exit 1
  fi

  # 4. Check the new binary before it replaces anything, then move it into place atomically
  #    (the staging directory is on the same filesystem as bin/).
  if ! got="$(_iv_helm_version_of "$stage/helm")" || [[ "$got" != "$want" ]]; then
    _iv_error "ensure_helm: the freshly built helm reports version '${got:-<none>}', expected $want (log: $log)"
    exit 1
  fi
  if ! mkdir -p "$IV_TOOLS_CACHE/helm/$want" || ! mv -f "$stage/helm" "$IV_TOOLS_CACHE/helm/$want/helm"; then
    _iv_error "ensure_helm: cannot move helm into $IV_TOOLS_CACHE/helm/$want"
    exit 1
  fi
)

# Point bin/helm at the cached build of version $1 (a new symlink renamed over the old one).
_iv_link_helm() {
  ln -sfn "$IV_TOOLS_CACHE/helm/$1/helm" "$IV_TOOLS_BIN/.helm.$$" &&
    mv -Tf "$IV_TOOLS_BIN/.helm.$$" "$IV_TOOLS_BIN/helm"
}

# ensure_helm: make sure $IV_TOOLS_BIN/helm exists, runs, and is the wanted version. Each
# version is built once into $IV_TOOLS_CACHE/helm/<version>/ and bin/helm links to the wanted
# one, so checkouts that pin different versions share one cache without rebuilding.
ensure_helm() {
  local start want have log
  start="$(_iv_now_us)"
  want="${INFUSION_VALIDATOR_HELM_VERSION:-$IV_TOOLS_HELM_DEFAULT_VERSION}"
  log="$IV_TOOLS_CACHE/logs/helm-build.log"

  if have="$(_iv_helm_version_of "$IV_TOOLS_BIN/helm")" && [[ "$have" == "$want" ]]; then
    _iv_info "helm $want already in $IV_TOOLS_BIN, nothing to do ($(_iv_elapsed "$start"))"
    return 0
  fi
  if have="$(_iv_helm_version_of "$IV_TOOLS_CACHE/helm/$want/helm")" && [[ "$have" == "$want" ]]; then
    _iv_link_helm "$want" || return 1
    hash -r
    _iv_info "helm $want (built before) linked into $IV_TOOLS_BIN ($(_iv_elapsed "$start"))"
    return 0
  fi

  mkdir -p "$IV_TOOLS_BIN" || return 1
  _iv_build_helm "$want" "$log" || return 1
  if ! _iv_link_helm "$want"; then
    _iv_error "ensure_helm: cannot link $IV_TOOLS_BIN/helm"
    return 1
  fi
  hash -r # forget any previously looked-up helm location
  _iv_info "helm $want built with go install from the Go module proxy into $IV_TOOLS_BIN ($(_iv_elapsed "$start"))"
}
# --------------------------------------------------------------------------------------------
# Binaries from Debian packages: promtool + prometheus, etcd
# --------------------------------------------------------------------------------------------

# Print the first line `$1 --version` prints; fail if $1 is missing or does not run.
_iv_version_line() {
  local out
  [[ -x "$1" ]] || return 1
  out="$("$1" --version 2>&1)" || return 1
  out="$(head -n 1 <<<"$out")"
  [[ -n "$out" ]] || return 1
  printf '%s\n' "$out"
}

# Fetch Debian package $1, unpack it without installing it (so no service is set up or
# started) and copy each usr/bin/<name> named after the log file $2 into IV_TOOLS_BIN.
# Subshell: local cd and trap.
_iv_fetch_deb() (
  pkg="$1"
  log="$2"
  shift 2

  for cmd in apt-get dpkg; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
      _iv_error "$pkg: '$cmd' not found (a Debian-based system is required)"
      exit 1
    fi
  done
  if ! mkdir -p "$IV_TOOLS_BIN" "$IV_TOOLS_CACHE/logs"; then
    _iv_error "$pkg: cannot create the cache directories under $IV_TOOLS_CACHE"
    exit 1
  fi
  if ! work="$(mktemp -d "$IV_TOOLS_CACHE/deb.XXXXXX")"; then
    _iv_error "$pkg: cannot create a work directory under $IV_TOOLS_CACHE"
    exit 1
  fi
  trap 'rm -rf "$work"' EXIT
  # Note: as root, apt logs a harmless "Download is performed unsandboxed as root" notice here,
  # because the _apt user cannot reach a directory under /root. It only goes to the log.
  if ! cd "$work"; then
    _iv_error "$pkg: cannot enter the work directory $work"
    exit 1
  fi

  printf '# %s: fetching %s from the Debian package %s\n' "$(date -u +%FT%TZ)" "$*" "$pkg" >"$log"

  # `apt-get update` only when the download fails: on a fresh machine the package lists may
  # be missing, or stale after a point release removed the old .deb from the mirror.
  if ! apt-get download -q "$pkg" >>"$log" 2>&1; then
    sudo=()
    if [[ "${EUID:-$(id -u)}" != 0 ]]; then
      if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo -n)
      else
        _iv_error "$pkg: apt-get download failed and apt-get update needs root (log: $log)"
        exit 1
      fi
    fi
    printf '# download failed; running apt-get update and retrying\n' >>"$log"
    if ! "${sudo[@]}" apt-get update -q >>"$log" 2>&1; then
      _iv_error "$pkg: apt-get update failed: $(_iv_last_line "$log") (log: $log)"
      exit 1
    fi
    if ! apt-get download -q "$pkg" >>"$log" 2>&1; then
      _iv_error "$pkg: apt-get download failed: $(_iv_last_line "$log") (log: $log)"
      exit 1
    fi
  fi

  debs=("${pkg}"_*.deb)
  if [[ ! -f "${debs[0]}" ]]; then
    _iv_error "$pkg: apt-get download succeeded but no ${pkg}_*.deb appeared (log: $log)"
    exit 1
  fi
  printf '# unpacking %s\n' "${debs[0]}" >>"$log"
  if ! dpkg -x "${debs[0]}" root >>"$log" 2>&1; then
    _iv_error "$pkg: dpkg -x ${debs[0]} failed (log: $log)"
    exit 1
  fi
  for name in "$@"; do
    if [[ ! -f "root/usr/bin/$name" ]] || ! _iv_version_line "root/usr/bin/$name" >/dev/null; then
      _iv_error "$pkg: usr/bin/$name is missing from ${debs[0]} or does not run (log: $log)"
      exit 1
    fi
    # Copy next to the destination, then rename: never leaves a partial binary in bin/.
    if ! cp -f "root/usr/bin/$name" "$IV_TOOLS_BIN/.$name.$$" ||
      ! chmod 0755 "$IV_TOOLS_BIN/.$name.$$" ||
      ! mv -f "$IV_TOOLS_BIN/.$name.$$" "$IV_TOOLS_BIN/$name"; then
      rm -f "$IV_TOOLS_BIN/.$name.$$"
      _iv_error "$pkg: cannot install $name into $IV_TOOLS_BIN"
      exit 1
    fi
  done
)

# _iv_ensure_deb PACKAGE BINARY...: make sure each BINARY is in IV_TOOLS_BIN and runs.
_iv_ensure_deb() {
  local pkg="$1" start log name missing=0
  shift
  start="$(_iv_now_us)"
  log="$IV_TOOLS_CACHE/logs/$pkg-fetch.log"
  for name in "$@"; do
    _iv_version_line "$IV_TOOLS_BIN/$name" >/dev/null || missing=1
  done
  if [[ "$missing" == 0 ]]; then
    _iv_info "$* from $pkg already in $IV_TOOLS_BIN, nothing to do ($(_iv_elapsed "$start"))"
    return 0
  fi
  _iv_fetch_deb "$pkg" "$log" "$@" || return 1
  hash -r # forget any previously looked-up location
  _iv_info "$* extracted from Debian's $pkg package into $IV_TOOLS_BIN ($(_iv_elapsed "$start"))"
}

# ensure_promtool: promtool (rule checks) and the prometheus server (the live scrape test),
# both from Debian's prometheus package.
ensure_promtool() { _iv_ensure_deb prometheus promtool prometheus; }
ensure_prometheus() { ensure_promtool; }

# ensure_etcd: the etcd server behind the test kube-apiserver, from Debian's etcd-server.
ensure_etcd() { _iv_ensure_deb etcd-server etcd; }

# --------------------------------------------------------------------------------------------
# kube-apiserver (built from the Go module proxy; deploy/local/kube-apiserver/build.sh)
# --------------------------------------------------------------------------------------------

IV_TOOLS_KUBE_DEFAULT_VERSION="v1.36.3"

# _iv_go_env: run "$@" with Go's state kept in the cache (as for helm) and go on PATH.
_iv_go_env() (
  if ! go="$(_iv_find_go)"; then
    _iv_error "no Go toolchain (no 'go' on PATH and no /usr/local/go/bin/go)"
    exit 1
  fi
  export PATH="$(dirname "$go"):$PATH"
  export GOPATH="$IV_TOOLS_CACHE/go"
  export GOMODCACHE="$IV_TOOLS_CACHE/go/pkg/mod"
  export GOCACHE="$IV_TOOLS_CACHE/go/build-cache"
  export TMPDIR="$IV_TOOLS_CACHE/go" # the build's scratch module, next to the caches
  mkdir -p "$GOCACHE" && "$@"
)

# ensure_kube_apiserver: $IV_TOOLS_BIN/kube-apiserver of the wanted version. 5-7 minutes on
# 2 cores when the Go build cache is cold; nothing when the binary is there.
ensure_kube_apiserver() {
  local start want have log
  start="$(_iv_now_us)"
  want="${INFUSION_VALIDATOR_KUBE_VERSION:-$IV_TOOLS_KUBE_DEFAULT_VERSION}"
  log="$IV_TOOLS_CACHE/logs/kube-apiserver-build.log"
  if have="$(_iv_version_line "$IV_TOOLS_BIN/kube-apiserver")" && [[ "$have" == "Kubernetes $want" ]]; then
    _iv_info "kube-apiserver $want already in $IV_TOOLS_BIN, nothing to do ($(_iv_elapsed "$start"))"
    return 0
  fi
  mkdir -p "$IV_TOOLS_CACHE/logs" "$IV_TOOLS_BIN" || return 1
  _iv_info "building kube-apiserver $want from the Go module proxy (5-10 minutes; log: $log)"
  if ! _iv_go_env bash "$IV_TOOLS_REPO/deploy/local/kube-apiserver/build.sh" "$want" \
    "$IV_TOOLS_BIN/kube-apiserver" >"$log" 2>&1; then
    _iv_error "ensure_kube_apiserver: the build failed: $(_iv_last_line "$log") (log: $log)"
    return 1
  fi
  _iv_info "kube-apiserver $want built into $IV_TOOLS_BIN ($(_iv_elapsed "$start"))"
}

# --------------------------------------------------------------------------------------------
# CRDs of the chart's custom resources (deploy/local/crds/fetch.sh)
# --------------------------------------------------------------------------------------------

# ensure_crds: $IV_TOOLS_CACHE/crds/*.yaml, refetched when fetch.sh (which pins the versions)
# changes.
ensure_crds() {
  local start script key dir log
  start="$(_iv_now_us)"
  script="$IV_TOOLS_REPO/deploy/local/crds/fetch.sh"
  key="$(sha1sum "$script" | cut -c1-12)"
  dir="$IV_TOOLS_CACHE/crds"
  log="$IV_TOOLS_CACHE/logs/crds-fetch.log"
  if [[ "$(cat "$dir/.key" 2>/dev/null)" == "$key" ]]; then
    _iv_info "CRDs already in $dir, nothing to do ($(_iv_elapsed "$start"))"
    return 0
  fi
  mkdir -p "$IV_TOOLS_CACHE/logs" || return 1
  rm -rf "$dir.partial"
  if ! _iv_go_env bash "$script" "$dir.partial" >"$log" 2>&1; then
    rm -rf "$dir.partial"
    _iv_error "ensure_crds: $(_iv_last_line "$log") (log: $log)"
    return 1
  fi
  printf '%s\n' "$key" >"$dir.partial/.key"
  rm -rf "$dir" && mv "$dir.partial" "$dir"
  _iv_info "CRDs (KEDA, prometheus-operator) written to $dir ($(_iv_elapsed "$start"))"
}

# ensure_all: every tool the tests and the demo need (make setup calls this).
ensure_all() {
  ensure_helm && ensure_promtool && ensure_etcd && ensure_kube_apiserver && ensure_crds
}

IV_TOOLS_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Executed rather than sourced (`bash .ci/tools.sh ensure_helm ensure_crds`, or no argument for
# ensure_all): run the named functions in order and stop at the first failure.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -uo pipefail
  for fn in "${@:-ensure_all}"; do
    case "$fn" in
      ensure_*) "$fn" || exit 1 ;;
      *)
        _iv_error "unknown function '$fn' (expected ensure_helm, ensure_promtool, ...)"
        exit 2
        ;;
    esac
  done
fi
