#!/usr/bin/env bash
# Brings a fresh Debian/Ubuntu machine with Rust and Node up to what stripecast needs, then
# builds the addon. Idempotent: each step only does what is missing (cargo is incremental).
set -euo pipefail
cd "$(dirname "$0")/.."

# Already done: nothing that goes into the build changed since the last complete run. Checked
# with file times alone (a few milliseconds), so `npm run demo` and `npm test` on a built tree
# start at once; anything newer than the stamp runs every step below again.
STAMP=target/.setup-done
INPUTS="src crates tools/xpaint typings Cargo.toml Cargo.lock build.rs package.json package-lock.json scripts/setup.sh"
if [ -f "$STAMP" ] && [ -x target/release/xpaint ] && [ -x node_modules/.bin/napi ] &&
  compgen -G 'stripecast.*.node' >/dev/null &&
  [ -z "$(find $INPUTS -newer "$STAMP" -print -quit 2>/dev/null)" ]; then
  exit 0
fi

# Build: libx264 (H.264), libva/libdrm (VA-API), libclang (bindgen), cmake + nasm (the vendored
# libjpeg-turbo). Tests and demo: Xvfb, xdpyinfo, xrandr, xdotool, ffmpeg (decoding H.264 in
# tests), Chromium (end-to-end browser tests, driven by playwright-core), Janus (the WebRTC
# fan-out test and example), iproute2 + nftables (the WebRTC loss test's namespace and random
# drop: the kernel may have no netem), sway + swaybg (a headless wlroots compositor for the
# Wayland capture test).
APT_PACKAGES="libx264-dev libva-dev libdrm-dev libclang-dev cmake nasm pkg-config xvfb x11-utils x11-xserver-utils xdotool ffmpeg chromium janus iproute2 nftables sway swaybg x11-xkb-utils xclip"

missing=()
# dpkg-query exits 1 when a package is unknown to dpkg (never installed): not an error here
installed=$( (dpkg-query -W -f='${Package} ${Status}\n' $APT_PACKAGES 2>/dev/null || true) | awk '/install ok installed/ {print $1}')
for p in $APT_PACKAGES; do
  grep -qx "$p" <<<"$installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo="sudo"
  else
    echo "stripecast setup: missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "stripecast setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x node_modules/.bin/napi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "stripecast setup: installing npm dependencies"
  # `npm install`, not `npm ci`: npm 11 leaves optional platform packages of @napi-rs/cli out
  # of a lock file written on Linux and then refuses `npm ci` on the very same machine.
  npm install --no-audit --no-fund --loglevel=error
fi

echo "stripecast setup: building the native addon (release)"
npm run build --silent
cargo build --release -p xpaint --quiet
touch "$STAMP"
