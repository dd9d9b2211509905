#!/usr/bin/env bash
# What the chat page's browser test needs (crates/herd-server/tests/browser): Debian's
# Chromium, and playwright-core (pinned in package-lock.json) to drive it. Idempotent;
# scripts/test.sh runs it before the tests. Playwright's own browser download is not
# used (it fails on machines without general internet access); the test launches
# /usr/bin/chromium (or $CHROMIUM).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf 'setup-browser: %s\n' "$*"; }

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    say "installing Debian's chromium (needed by the chat page test)"
    bash "$ROOT/scripts/apt-install.sh" chromium
fi
say "chromium: $("$CHROMIUM" --version 2>/dev/null | head -1)"

cd "$ROOT/crates/herd-server/tests/browser"
STAMP=node_modules/.herd-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    say "playwright-core: up to date"
else
    say "playwright-core: npm ci"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$STAMP"
fi
