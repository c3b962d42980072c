#!/usr/bin/env bash
# Install the headless browser the end-to-end tests drive (tests/e2e): Debian's chromium and its
# matching chromedriver. Idempotent: does nothing when both are already there.
#
# Debian's packages, not Selenium Manager or Chrome for Testing: those download a browser build
# of their own at run time, and the machines this project runs on reach only the package registries.
set -euo pipefail
log() { printf '\033[1m[setup-browser]\033[0m %s\n' "$*" >&2; }

# --no-install-recommends keeps out what a desktop wants (upower, udev, a notification daemon, a
# printer dialog); of chromium's recommends only fonts-liberation matters headless: text in
# screenshots with Arial/Times metrics. fonts-wqy-microhei draws the Chinese of the pages (without
# a CJK font every Chinese character is a box).
PACKAGES=(chromium chromium-driver fonts-liberation fonts-wqy-microhei)
CJK_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -f "$CJK_FONT" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  log "chromium or chromedriver is missing; install them as root with:"
  log "  sudo apt-get update && sudo apt-get install -y ${PACKAGES[*]}"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get install -y -q --no-install-recommends "${PACKAGES[@]}")
log "installing ${PACKAGES[*]} with apt-get"
# The package lists are refreshed only when the install fails without them: an update costs
# time and network on every machine whose lists are already current.
if ! "${APT[@]}"; then
  log "install failed; refreshing the package lists and trying again"
  apt-get update -q
  "${APT[@]}"
fi

for bin in /usr/bin/chromium /usr/bin/chromedriver; do
  if [ ! -x "$bin" ]; then
    log "apt-get finished but $bin is missing"
    exit 1
  fi
done
log "$(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed"
