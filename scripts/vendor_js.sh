#!/usr/bin/env bash
# Vendor the web app's browser libraries: install web/js/package-lock.json with npm, then copy
# only the files the pages load (and their licences) into web/static/vendor/, which is built,
# not committed. The pages then work with no network at all.
#
# Idempotent: skipped while a stamp of the lock file (and of this script, which says what is
# copied) matches. Run with RAG_VENDOR_FORCE=1 to redo it anyway.
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."
JS=web/js
VENDOR=web/static/vendor
log() { printf '\033[1m[vendor-js]\033[0m %s\n' "$*" >&2; }

# What the pages load, as "package-relative source -> vendor-relative target".
# vis-network's standalone build injects its own stylesheet (a <style> element it adds on load),
# so unlike the peer build it needs no separate CSS file.
FILES=(
  "vis-network/standalone/umd/vis-network.min.js vis-network/vis-network.min.js"
  "vis-network/LICENSE-APACHE-2.0 vis-network/LICENSE-APACHE-2.0"
  "vis-network/LICENSE-MIT vis-network/LICENSE-MIT"
  "swagger-ui-dist/swagger-ui-bundle.js swagger-ui/swagger-ui-bundle.js"
  "swagger-ui-dist/swagger-ui.css swagger-ui/swagger-ui.css"
  "swagger-ui-dist/LICENSE swagger-ui/LICENSE"
  "swagger-ui-dist/NOTICE swagger-ui/NOTICE"
  "swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt swagger-ui/swagger-ui-bundle.js.LICENSE.txt"
)

stamp_of() { cat "$JS/package-lock.json" "$SELF" | sha256sum | cut -c1-16; }
STAMP_FILE=$VENDOR/.stamp
want=$(stamp_of)
complete=1
for pair in "${FILES[@]}"; do
  [ -f "$VENDOR/${pair#* }" ] || complete=0
done
if [ -z "${RAG_VENDOR_FORCE:-}" ] && [ "$complete" = 1 ] && [ "$(cat "$STAMP_FILE" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  log "npm is needed to vendor the web app's JavaScript: apt-get install npm"
  exit 1
fi

log "installing $JS/package-lock.json with npm ci"
# --ignore-scripts: nothing here needs an install script, and swagger-ui-dist's dependency
# @scarf/scarf would otherwise run one that reports the install over the network.
(cd "$JS" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

# Build the new tree beside the old one and swap it in, so a failed copy never leaves a
# half-vendored directory behind a valid stamp.
mkdir -p "$(dirname "$VENDOR")"
tmp=$(mktemp -d "$VENDOR.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for pair in "${FILES[@]}"; do
  src=$JS/node_modules/${pair%% *} dst=$tmp/${pair#* }
  mkdir -p "$(dirname "$dst")"
  cp "$src" "$dst"
done
echo "$want" > "$tmp/.stamp"
chmod 755 "$tmp"
rm -rf "$VENDOR"
mv "$tmp" "$VENDOR"
trap - EXIT
log "vendored into $VENDOR: $(cd "$VENDOR" && find . -type f ! -name .stamp | sort | tr '\n' ' ')"
