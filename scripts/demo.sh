#!/usr/bin/env bash
# The main job on the sample workspace (the repository root): check every issue, then
# run each later stage of the pipeline. No credentials: delivery goes to the local outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
# The interpreter that has newsletter installed: make demo passes .venv's.
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
nl() { "$PYTHON" -m newsletter "$@"; }

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
echo "== preview: serve vol-2-10 live for a moment, fetch its page and text part, stop"
preview_log=$(mktemp)
"$PYTHON" -m newsletter preview --port 0 vol-2-10 >"$preview_log" 2>&1 &  # not nl: $! is Python
preview_pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'previewing at http://[^ ]*' "$preview_log" | cut -d' ' -f3 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
"$PYTHON" - "$url" <<'EOF'
import sys
import urllib.request

for part in ("", "text.txt", "state.json"):
    with urllib.request.urlopen(sys.argv[1] + part, timeout=60) as response:
        print(f"GET {sys.argv[1] + part}: {response.status} ({len(response.read())} bytes)")
EOF
kill -TERM "$preview_pid"  # a background job ignores SIGINT; the preview stops on both
wait "$preview_pid"
rm -f "$preview_log"
echo "== serve: answer a reader's one-click unsubscribe (RFC 8058) here, then list suppressions"
serve_log=$(mktemp)
"$PYTHON" -m newsletter serve --port 0 >"$serve_log" 2>&1 &  # not nl: $! is Python
serve_pid=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'on http://[^ ]*' "$serve_log" | cut -d' ' -f2 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
"$PYTHON" - "$url" <<'EOF'
import email
import email.policy
import re
import sys
import urllib.request

local = sys.argv[1].rstrip("/")
with open("outbox/vol-2-10/ana.ito@example.org.eml", "rb") as handle:
    message = email.message_from_binary_file(handle, policy=email.policy.default)
link = re.search(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"])).group(1)
link = re.sub(r"^https?://[^/]+", local, link)  # the published host, served on this machine
request = urllib.request.Request(
    link,
    data=b"List-Unsubscribe=One-Click",
    headers={"Content-Type": "application/x-www-form-urlencoded"},
)
with urllib.request.urlopen(request, timeout=60) as response:
    print(f"POST {link.split('?')[0]} (one-click): {response.status}")
with urllib.request.urlopen(local + "/healthz", timeout=60) as response:
    print(f"GET {local}/healthz: {response.status}")
EOF
kill -TERM "$serve_pid"
wait "$serve_pid"
rm -f "$serve_log"
nl suppress list
