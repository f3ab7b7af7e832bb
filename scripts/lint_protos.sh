#!/usr/bin/env bash
# Lints protos/ with buf's STANDARD rules. buf comes from the npm registry (installed into
# .tools/ by `make tools`); the input is an image built by grpc_tools' protoc so the
# google/api imports resolve from the googleapis-common-protos wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
BUF="${BUF:-.tools/node_modules/.bin/buf}"
GOOGLE_PROTOS="$("$PY" -c 'import google.api, os; print(os.path.dirname(os.path.dirname(google.api.__path__[0])))')"
IMAGE="$(mktemp --suffix=.binpb)"
trap 'rm -f "$IMAGE"' EXIT
"$PY" -m grpc_tools.protoc -I protos -I "$GOOGLE_PROTOS" --include_imports --include_source_info \
  --descriptor_set_out="$IMAGE" protos/tc/v1/*.proto
"$BUF" lint "$IMAGE" --path tc/v1 --config buf.yaml
