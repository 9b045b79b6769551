#!/usr/bin/env bash
# Make sure the system packages the test suite or the benchmarks need are present:
#   - PostgreSQL server binaries (initdb, pg_ctl), for the PostgreSQL half of the suite;
#   - Chromium, for the browser tests (when the suite has them: see tests/browser/);
#   - with the argument `bench` (`make bench`), also Debian's belenios-tool, the anchor
#     bench/encrypted.py measures Parvis's encrypted ballots against.
# As root, missing packages are installed from Debian; otherwise the script fails with the
# command to run. It never lets the suite silently skip a database or a browser, nor the
# benchmark its anchor.
set -euo pipefail

need=()
have_pg() {
  [ -n "${PARVIS_PG_BINDIR:-}" ] && [ -x "$PARVIS_PG_BINDIR/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v initdb >/dev/null 2>&1
}
have_pg || need+=(postgresql)
if [ -d tests/browser ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
if [ "${1:-}" = bench ] && ! command -v belenios-tool >/dev/null 2>&1; then
  need+=(belenios-tool)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages: ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
