#!/usr/bin/env bash
# Installs the system packages the test suite needs, only when one is missing (Debian/Ubuntu apt).
#
# Called by `make test` (and so by `.ci/run`); `make bench` calls it with `bench`, which adds what
# the benchmarks need (wrk, the webhook benchmarks' load generator). Each line of NEEDS is "what proves it is there"
# (a command on PATH, or an absolute file path) and the apt package that provides it; add a line
# for a new need. Works as root without sudo, uses sudo otherwise,
# and does not touch apt at all when everything is present. SKIP_SYSTEM_DEPS=1 skips the check.
set -euo pipefail

NEEDS=(
  "chromium                                         chromium"          # browser tests (Playwright)
  "pdftoppm                                         poppler-utils"     # PDF pages rendered to PNG
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf  fonts-dejavu-core" # fonts Chromium renders with
  # audio (issue 16), when its tests land:
  # "ffmpeg                                         ffmpeg"
  # "espeak-ng                                      espeak-ng"
)

if [ "${1:-}" = "bench" ]; then
  NEEDS+=("wrk                                        wrk")  # webhook benchmarks' load generator
fi

[ "${SKIP_SYSTEM_DEPS:-}" = "1" ] && exit 0

present() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for line in "${NEEDS[@]}"; do
  read -r probe package _ <<<"$line"
  present "$probe" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "system-deps: installing ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: apt-get not found; install these yourself: ${missing[*]} (or SKIP_SYSTEM_DEPS=1)" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "system-deps: not root and no sudo; install these as root: ${missing[*]}" >&2
    exit 1
  fi
  as_root=(sudo)
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq "${missing[@]}" >/dev/null
