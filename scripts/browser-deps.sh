#!/usr/bin/env bash
# The browser lane's system packages: Debian's Chromium and its chromedriver (the same version, so
# nothing is downloaded at run time). Installed with apt-get when missing; needs root.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "browser lane: ${missing[*]} missing; install them as root: apt-get install chromium chromium-driver" >&2
  exit 1
fi
echo "browser lane: installing ${missing[*]} (Debian packages)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver > /dev/null
/usr/bin/chromium --version
