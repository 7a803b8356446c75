#!/usr/bin/env bash
# Install the system tools the test suite judges with: Chromium, poppler, SpamAssassin,
# Java (Nu HTML Checker), fonts (Liberation: the print theme; Noto CJK: Japanese glyphs)
# Pango (WeasyPrint) and PostgreSQL 15 (the tests start their own server from its binaries
# in /usr/lib/postgresql/15/bin, as the `postgres` user the package creates).
# Skips apt entirely when everything is already there, so a second run takes a second.
set -euo pipefail

packages=(chromium poppler-utils spamassassin default-jre-headless fonts-noto-cjk
          fonts-dejavu-core fonts-liberation libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
          postgresql)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Java 17 ships on these machines outside apt; accept it rather than install a second one.
if command -v java >/dev/null; then
  missing=("${missing[@]/default-jre-headless}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "system packages: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
