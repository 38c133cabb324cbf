#!/usr/bin/env bash
# Installs what pip and npm cannot: python3-venv, nginx, Node, PostgreSQL, curl, tmux (the
# pseudo-terminal that the conformance suite drives opencode's terminal UI in). As root it uses
# apt-get; otherwise it
# stops and prints the exact command to run.
set -euo pipefail
want="${1:-python}"
missing=()

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi
if [[ "$want" == test ]]; then
  command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  # The tests start their own throwaway cluster from these binaries (tests/support/postgres.py).
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || missing+=(postgresql)
  command -v tmux >/dev/null 2>&1 || missing+=(tmux)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
fi

if ((${#missing[@]} == 0)); then exit 0; fi

if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian packages start nginx on port 80 and a PostgreSQL cluster on 5432; the tests run
  # their own instances.
  if [[ " ${missing[*]} " == *" nginx "* ]]; then
    (service nginx stop || nginx -s stop || true) >/dev/null 2>&1
  fi
  if [[ " ${missing[*]} " == *" postgresql "* ]]; then
    (service postgresql stop || true) >/dev/null 2>&1
  fi
  exit 0
fi

echo "wakeful needs: ${missing[*]}" >&2
echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
exit 1
