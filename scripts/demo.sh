#!/usr/bin/env bash
# The main job on the sample workspace (the repository root): check every issue, then
# run each later stage of the pipeline. No credentials: delivery goes to the local outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
nl() { "${PYTHON:-python3}" -m newsletter "$@"; }

echo "== check: every issue in issues/ and newsletter.yaml"
nl check
echo "== doctor: what this machine has for PDFs (WeasyPrint, Pango, CJK fonts)"
nl doctor
