#!/usr/bin/env bash
# Runs the installed packages (the folder scripts/check-package.sh made, $1) in a Debian
# bullseye root (glibc 2.31, nothing of this host's libraries): debootstrap --variant=minbase,
# cached in target/bullseye-root, with the host's node copied in and the X socket directory
# bound, through chroot; then the same checks as on the host (scripts/check-package.mjs).
# Needs root. Opt-in from check-package.sh (STRIPECAST_CHECK_BULLSEYE=1): see docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:?usage: check-bullseye.sh <folder made by check-package.sh>}
say() { echo "check-bullseye: $*"; }
fail() { echo "check-bullseye: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap and chroot)"
ROOTFS=$PWD/target/bullseye-root
MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

start=$(date +%s)
if [ ! -f "$ROOTFS/.stripecast-ready" ]; then
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  say "debootstrap --variant=minbase bullseye from $MIRROR (once; cached in $ROOTFS)"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase bullseye "$ROOTFS" "$MIRROR" >"$PWD/target/bullseye-debootstrap.log" 2>&1 ||
    { tail -20 "$PWD/target/bullseye-debootstrap.log" >&2; fail "debootstrap failed"; }
  touch "$ROOTFS/.stripecast-ready"
  say "root made in $(($(date +%s) - start)) s"
fi
cp /usr/bin/node "$ROOTFS/usr/local/bin/node"
rm -rf "$ROOTFS/check" && mkdir -p "$ROOTFS/check"
cp -a "$T/app" "$T/main-only" "$ROOTFS/check/"

mounts=()
cleanup() { for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}"; done; }
trap cleanup EXIT
for m in /proc /dev /tmp/.X11-unix; do
  mkdir -p "$ROOTFS$m"
  mount --bind "$m" "$ROOTFS$m"
  mounts+=("$ROOTFS$m")
done
glibc=$(chroot "$ROOTFS" /usr/local/bin/node -p 'process.report.getReport().header.glibcVersionRuntime')
say "bullseye root: glibc $glibc"
CHECK_CHROOT=$ROOTFS CHECK_CHROOT_CMD=$(command -v chroot) node scripts/check-package.mjs "$T"
say "OK in $(($(date +%s) - start)) s"
