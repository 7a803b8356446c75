#!/usr/bin/env bash
# Install the Debian packages newsletter needs.
#   --run    only what running it needs (make demo): python3-venv (ensurepip, to create
#            .venv from Debian's own Python), Pango (WeasyPrint) and fonts (Liberation: the
#            print theme; Noto CJK: Japanese glyphs)
#   default  also what the test suite judges with (make test): Chromium, poppler,
#            SpamAssassin, Java (Nu HTML Checker) and PostgreSQL 15 (the shared state store)
# Skips apt entirely when everything is already there, so a second run takes a second.
set -euo pipefail

packages=(python3-venv fonts-noto-cjk fonts-dejavu-core fonts-liberation
          libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
if [ "${1:-}" != "--run" ]; then
  packages+=(chromium poppler-utils spamassassin default-jre-headless postgresql)
fi
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
