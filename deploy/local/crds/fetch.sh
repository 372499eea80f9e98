#!/usr/bin/env bash
# Write the CustomResourceDefinitions of the chart's custom resources into OUTPUT_DIR, from the
# Go module proxy only (no release download):
#
#     deploy/local/crds/fetch.sh OUTPUT_DIR
#
# - ScaledObject, TriggerAuthentication (and KEDA's other two kinds): KEDA ships them in its Go
#   module, config/crd/bases/. v2.18.3 is the newest whose go.mod the installed Go accepts.
# - PrometheusRule, ServiceMonitor (and the operator's other kinds): prometheus-operator's root
#   module is not served by the proxy, so they are generated from the API types module with
#   controller-gen, as the operator's own Makefile does.
#
# The versions are pinned here; .ci/tools.sh refetches when this file changes. Go state comes
# from the environment (GOMODCACHE, GOCACHE).
set -euo pipefail

KEDA_VERSION=v2.18.3
PROMETHEUS_OPERATOR_VERSION=v0.95.2
CONTROLLER_TOOLS_VERSION=v0.23.0

out="${1:?usage: fetch.sh OUTPUT_DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/crds.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local GOFLAGS=-modcacherw

module_dir() { # the unpacked module $1 in the module cache
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": *"\(.*\)",\{0,1\}$/\1/p'
}

keda="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
cp "$keda"/config/crd/bases/*.yaml "$out/"

# controller-gen needs a module that requires the API types; it reads their Go sources.
cd "$work"
cat >go.mod <<EOF
module local.invalid/crds

go 1.25
EOF
api=github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
go get "$api/v1@$PROMETHEUS_OPERATOR_VERSION"
GOBIN="$work/bin" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION"
"$work/bin/controller-gen" crd:crdVersions=v1,maxDescLen=0 "paths=$api/v1" "output:crd:dir=$out"

for kind in keda.sh_scaledobjects keda.sh_triggerauthentications \
  monitoring.coreos.com_prometheusrules monitoring.coreos.com_servicemonitors; do
  [[ -s "$out/$kind.yaml" ]] || {
    echo "fetch.sh: $kind.yaml was not produced" >&2
    exit 1
  }
done
echo "fetch.sh: $(ls "$out" | wc -l) CRDs in $out"
