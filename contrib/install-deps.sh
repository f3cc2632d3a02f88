#!/usr/bin/env bash
# Installs every build and test dependency of relay from Debian packages.
# Idempotent: when all packages are present it returns without touching apt.
# Postfix is installed with "No configuration": no main.cf, no daemon, port 25
# stays free; we only want smtp-source/smtp-sink and the daemons for benches.
# clang, libclang-rt-14-dev (libFuzzer, sanitizer runtimes) and llvm-14
# (llvm-symbolizer) build and run the fuzz targets (contrib/fuzz.sh).
set -euo pipefail

PKGS=(
  build-essential g++ cmake pkg-config git ca-certificates
  libuv1-dev libssl-dev libcurl4-openssl-dev libgmime-3.0-dev libpq-dev
  libyaml-cpp-dev doctest-dev libfmt-dev nlohmann-json3-dev
  postgresql postgresql-client
  postfix swaks curl msmtp openssl python3 python3-aiosmtpd python3-cryptography
  libnet-ssleay-perl libauthen-sasl-perl procps psmisc
  clang libclang-rt-14-dev llvm-14
  libsystemd-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
echo "postfix postfix/mailname string localhost" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
# policy-rc.d keeps package postinst scripts from starting system services
# (the Debian postgresql cluster, postfix) on machines without systemd.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
