#!/usr/bin/env bash
# Installs relay's Debian 12 dependencies. Root, or a user with sudo.
#
#   install-deps.sh run    what building and running relay needs (compiler,
#                          libraries, PostgreSQL): contrib/quickstart.sh
#   install-deps.sh test   that plus the test and bench tools (clients, SMTP
#                          peers, fuzzing toolchain, Postfix's smtp-source
#                          and smtp-sink): contrib/test.sh. The default.
#
# Nothing is ever removed: every install is simulated first (apt-get -s) and
# refused if apt would remove a package. Postfix conflicts with every other
# MTA (exim4, opensmtpd, ...): the postfix package is installed (with "No
# configuration": no main.cf, no daemon, port 25 stays free) only when that
# removes nothing. Otherwise its .deb is downloaded (apt-get download) and
# unpacked with dpkg-deb -x into $RELAY_POSTFIX_TOOLS (default
# <src>/var/postfix-tools), never configured or started; bin/smtp-source and
# bin/smtp-sink there are wrappers that point the loader at the unpacked
# libpostfix-*.so (the binaries' RUNPATH is /usr/lib/postfix), and the
# libraries they link are installed from Debian (plain libraries, no MTA).
# The test harness looks there first (tests/integration/relaytest.py
# postfix_tool). The benches' throwaway Postfix needs the real package.
# Idempotent: when all packages are present it returns without touching apt.
#
# Environment (for tests of this script): RELAY_DEPS_SIMULATE=1 prints what
# would be installed (apt-get -s) and changes nothing; RELAY_DPKG_ADMINDIR
# reads the installed packages from DIR/status instead of /var/lib/dpkg.
# prometheus ships promtool, which checks contrib/monitoring's alert rules.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-test}

# Runtime and build: the quickstart builds relay and runs it on a private
# PostgreSQL.
RUN_PKGS=(
  build-essential g++ cmake pkg-config git ca-certificates
  libuv1-dev libssl-dev libcurl4-openssl-dev libgmime-3.0-dev libpq-dev
  libyaml-cpp-dev libfmt-dev nlohmann-json3-dev
  libmicrohttpd-dev libsystemd-dev
  postgresql postgresql-client
)
# Tests and benches only. clang, libclang-rt-14-dev (libFuzzer, sanitizer
# runtimes) and llvm-14 (llvm-symbolizer) build and run the fuzz targets.
# postfix is handled apart (see above).
TEST_PKGS=(
  doctest-dev swaks curl msmtp openssl python3 python3-aiosmtpd python3-cryptography
  libnet-ssleay-perl libauthen-sasl-perl procps psmisc
  clang libclang-rt-14-dev llvm-14
  prometheus haproxy
)

case $mode in
  run) pkgs=("${RUN_PKGS[@]}") ;;
  test) pkgs=("${RUN_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  *) echo "usage: install-deps.sh [run|test]" >&2; exit 2 ;;
esac

simulate=${RELAY_DEPS_SIMULATE:-0}
admindir=${RELAY_DPKG_ADMINDIR:-}
tools=${RELAY_POSTFIX_TOOLS:-$src/var/postfix-tools}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_opts=(-o Debug::NoLocking=1)
dpkg_opts=()
if [ -n "$admindir" ]; then
  apt_opts+=(-o "Dir::State::status=$admindir/status")
  dpkg_opts+=(--admindir="$admindir")
fi

installed() {
  dpkg-query "${dpkg_opts[@]}" -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
# Of the packages named, those not installed (one dpkg-query for all).
not_installed() {
  local have
  have=$(dpkg-query "${dpkg_opts[@]}" -W -f='${Package} ${Status}\n' "$@" 2>/dev/null |
         awk '/ install ok installed$/ {print $1}') || true
  for p in "$@"; do grep -qx "$p" <<<"$have" || echo "$p"; done
}

# apt-get -s install PKGS: prints the plan; fails when apt would remove
# anything (or cannot install).
plan() {
  local out
  out=$(apt-get -s "${apt_opts[@]}" install --no-install-recommends "$@" 2>&1) || { echo "$out" >&2; return 1; }
  echo "$out" | grep -E '^(Inst|Remv) ' || true
  if echo "$out" | grep -q '^Remv '; then return 3; fi
}

# Postfix's test tools: the package if that removes nothing, else unpacked.
postfix_tools_ok() {
  [ -x "$tools/bin/smtp-sink" ] && [ -x "$tools/bin/smtp-source" ]
}

mapfile -t missing < <(not_installed "${pkgs[@]}")
want_postfix=0
if [ "$mode" = test ] && ! installed postfix && ! postfix_tools_ok; then want_postfix=1; fi
if [ ${#missing[@]} -eq 0 ] && [ "$want_postfix" -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} $mode packages present"
  exit 0
fi

if [ "$simulate" != 1 ]; then
  $SUDO apt-get update -qq
fi
postfix_how=none
if [ "$want_postfix" -eq 1 ]; then
  rc=0
  plan postfix >/dev/null || rc=$?
  if [ "$rc" -eq 0 ]; then
    postfix_how=package
    missing+=(postfix)
  else
    postfix_how=unpack
    echo "install-deps: installing postfix would remove another package (an MTA): not installing it;" \
         "its smtp-source/smtp-sink are unpacked into $tools instead"
    # The libraries the unpacked binaries link (no MTA among them).
    mapfile -t libs < <(apt-cache "${apt_opts[@]}" depends --important postfix 2>/dev/null |
                        sed -n 's/^ *Depends: \(lib[^ <>]*\)$/\1/p')
    [ ${#libs[@]} -gt 0 ] && mapfile -t -O ${#missing[@]} missing < <(not_installed "${libs[@]}")
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: $mode: installing ${missing[*]}"
  rc=0
  plan "${missing[@]}" || rc=$?
  if [ "$rc" -eq 3 ]; then
    echo "install-deps: refusing: apt would remove the packages marked Remv above" >&2
    exit 1
  elif [ "$rc" -ne 0 ]; then
    exit "$rc"
  fi
fi
if [ "$simulate" = 1 ]; then
  [ "$postfix_how" = unpack ] && echo "install-deps: simulation: would unpack postfix into $tools (not installed)"
  echo "install-deps: simulation only, nothing changed"
  exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$postfix_how" = package ]; then
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
    echo "postfix postfix/mailname string localhost" | $SUDO debconf-set-selections
  fi
  # policy-rc.d keeps package postinst scripts from starting system services
  # (the Debian postgresql cluster, postfix) on machines without systemd.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$postfix_how" = unpack ]; then
  work=$(mktemp -d)
  chmod 755 "$work"  # apt-get download runs as _apt when it can
  (cd "$work" && apt-get download -q postfix)
  rm -rf "$tools"
  mkdir -p "$tools/bin"
  dpkg-deb -x "$work"/postfix_*.deb "$tools/root"
  rm -rf "$work"
  for t in smtp-sink smtp-source; do
    printf '#!/bin/sh\n# %s from the unpacked postfix package (contrib/install-deps.sh)\nLD_LIBRARY_PATH=%q/root/usr/lib/postfix${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %q/root/usr/sbin/%s "$@"\n' \
      "$t" "$tools" "$tools" "$t" > "$tools/bin/$t"
    chmod 755 "$tools/bin/$t"
    if LD_LIBRARY_PATH="$tools/root/usr/lib/postfix" ldd "$tools/root/usr/sbin/$t" | grep -q "not found"; then
      echo "install-deps: $t from the unpacked postfix misses libraries:" >&2
      LD_LIBRARY_PATH="$tools/root/usr/lib/postfix" ldd "$tools/root/usr/sbin/$t" | grep "not found" >&2
      exit 1
    fi
  done
  echo "install-deps: smtp-source and smtp-sink are in $tools/bin (postfix not installed)"
fi
echo "install-deps: done"
