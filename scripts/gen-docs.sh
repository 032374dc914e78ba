#!/usr/bin/env bash
# Regenerates docs/configuration.md from the settings table (include/protectlambda/settings.def).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
{
  cat <<'HEAD'
# Configuration

Every setting has a config-file key and an environment variable. Precedence: default < config file
(the file named by `PROTECTLAMBDA_CONFIG`, `key = value` lines, `#` comments) < environment.
Config-file keys starting with `playbook.` and `correlation.` configure incident response
(docs/incidents.md). `protectlambda config` prints the effective values; bad values are errors
naming the file and line, or the variable.

This page is generated from `include/protectlambda/settings.def` by `make docs`; a test checks it is
current.

HEAD
  "$build/src/cli/protectlambda" config --markdown
} > docs/configuration.md
echo "wrote docs/configuration.md"
