#!/usr/bin/env bash
# Install the Debian tools project 05's deployment tests run for real, if they are missing:
# nginx (the reverse proxy in front of gunicorn) and prometheus (promtool checks and unit-
# tests the alert rules, the scrape config and every dashboard query).
# Under CI=true a tool that cannot be installed fails the run; elsewhere the tests that need
# it fail with a message naming this script.
set -uo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && { echo "ensure_tools: nginx and promtool are installed"; exit 0; }

echo "ensure_tools: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Install without starting the packaged services: the tests run their own nginx and promtool.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && created_policy=1
fi
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/ensure_tools.log 2>&1; then
  echo "ensure_tools: could not install ${missing[*]} (see /tmp/ensure_tools.log)" >&2
  [ "$created_policy" -eq 1 ] && $SUDO rm -f "$policy"
  exit 1
fi
[ "$created_policy" -eq 1 ] && $SUDO rm -f "$policy"
# The packaged prometheus service must not hold port 9090 or write to /var/lib.
pkill -x prometheus 2>/dev/null || true
echo "ensure_tools: installed ${missing[*]}"
