#!/usr/bin/env bash
# Regenerates tc/_proto/ from protos/. The output is committed; tests/unit/test_protos_fresh.py
# fails when it drifts. Usage: scripts/gen_protos.sh [OUT_DIR]   (default tc/_proto)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
OUT="${1:-tc/_proto}"
GOOGLE_PROTOS="$("$PY" -c 'import google.api, os; print(os.path.dirname(os.path.dirname(google.api.__path__[0])))')"
MYPY_GRPC="$(dirname "$PY")/protoc-gen-mypy_grpc"

rm -rf "$OUT/tc"
mkdir -p "$OUT"
"$PY" -m grpc_tools.protoc \
  -I protos -I "$GOOGLE_PROTOS" \
  --python_out="$OUT" --pyi_out="$OUT" --grpc_python_out="$OUT" \
  --plugin=protoc-gen-mypy_grpc="$MYPY_GRPC" --mypy_grpc_out="$OUT" \
  protos/tc/v1/*.proto

# Generated code imports its siblings as top-level `tc.v1`; they live under tc._proto.
find "$OUT/tc" -name '*.py' -o -name '*.pyi' | sort | while read -r f; do
  sed -i -e 's/^from tc\.v1 import/from tc._proto.tc.v1 import/' -e 's/^import tc\.v1\./import tc._proto.tc.v1./' "$f"
done
touch "$OUT/__init__.py" "$OUT/tc/__init__.py" "$OUT/tc/v1/__init__.py"
