#!/usr/bin/env bash
# The main job on the sample workspace (the repository root): check every issue, then
# run each later stage of the pipeline. No credentials: delivery goes to the local outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
newsletter check
newsletter render              # build/<slug>/email.html, email.txt, email.eml for every issue
