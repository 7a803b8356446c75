#!/usr/bin/env bash
# The main job on the sample workspace (the repository root): check every issue, then
# run each later stage of the pipeline. No credentials: delivery goes to the local outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
newsletter check
# What this machine has for PDFs (WeasyPrint, Pango, CJK fonts); exits 1 if a PDF cannot be made.
newsletter doctor
