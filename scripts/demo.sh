#!/usr/bin/env bash
# The main job on the sample workspace (the repository root): check every issue, then
# run each later stage of the pipeline. No credentials: delivery goes to the local outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
# The interpreter that has newsletter installed: make demo passes .venv's.
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
nl() { "$PYTHON" -m newsletter "$@"; }
# Run `newsletter <command> ...` in the background and wait for the http:// address it prints.
start_server() {
  server_log=$(mktemp)
  "$PYTHON" -m newsletter "$@" >"$server_log" 2>&1 &  # not nl: $! is Python
  server_pid=$!
  url=""
  for _ in $(seq 100); do
    url=$(grep -o 'http://[^ ]*' "$server_log" | head -n 1 || true)
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "demo: newsletter $1 printed no address:" >&2
  cat "$server_log" >&2
  return 1
}
stop_server() {
  kill -TERM "$server_pid"  # a background job ignores SIGINT; both servers stop on SIGTERM
  wait "$server_pid"
  rm -f "$server_log"
}

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
start_server preview --port 0 vol-2-10
"$PYTHON" - "$url" <<'EOF'
import sys
import urllib.request

for part in ("", "text.txt", "state.json"):
    with urllib.request.urlopen(sys.argv[1] + part, timeout=60) as response:
        print(f"GET {sys.argv[1] + part}: {response.status} ({len(response.read())} bytes)")
EOF
stop_server
echo "== serve: answer a reader's one-click unsubscribe (RFC 8058) here, then list suppressions"
start_server serve --port 0
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
stop_server
nl suppress list
