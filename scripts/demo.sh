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
echo "== render: build/<slug>/email.html, email.txt, email.eml, print.html, <slug>.pdf"
nl render
echo "== build: the web archive in site/ (index, web versions, PDFs, feed)"
nl build
echo "== send: vol-2-10 to subscribers.csv through the local outbox (outbox/vol-2-10/*.eml)"
# The outbox needs no credentials; unsubscribe links are signed with this demo-only secret.
export NEWSLETTER_UNSUBSCRIBE_SECRET="${NEWSLETTER_UNSUBSCRIBE_SECRET:-demo-only-not-secret}"
nl suppress add --reason unsubscribe frank.lee@example.org
nl send vol-2-10 --list subscribers.csv --yes
nl status vol-2-10 --format json
