#!/usr/bin/env bash
# Installs everything protectlambda needs to build and test on Debian 12: Debian packages
# (apt-get) and the npm packages the integration tests run (tests/package.json).
# Idempotent: skips what is already there. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-tidy cppcheck
  libvectorscan-dev libpcre2-dev libyaml-dev libseccomp-dev libsqlite3-dev sqlite3
  libssl-dev libcurl4-openssl-dev
  python3 curl zip unzip ripgrep binutils file
  autoconf automake libtool g++ make
  chromium inotify-tools iproute2 valgrind
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Node.js and npm: use the machine's when present (a NodeSource node already ships npm, and
# Debian's npm package would conflict with it).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages for the integration tests: aws-lambda-ric (real runtime client, builds its
# native part from source), dynalite (DynamoDB on LevelDB), aws4 (independent SigV4).
if [ -f tests/package.json ]; then
  stamp=tests/node_modules/.protectlambda-stamp
  if [ ! -f "$stamp" ] || [ tests/package.json -nt "$stamp" ]; then
    echo "setup: installing npm packages for the tests (aws-lambda-ric builds from source: a few minutes)"
    # node-gyp must use the installed Node headers: there is no network for them
    (cd tests && npm_config_nodedir=/usr npm install --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
fi
echo "setup: done"
