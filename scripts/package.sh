#!/usr/bin/env bash
# Release packaging (`npm run package`): builds the portable binary and packs the two npm
# packages into dist/, publishing nothing:
#
#   dist/stripecast-<v>.tgz                 JavaScript only (loader, typings, client)
#   dist/stripecast-linux-x64-gnu-<v>.tgz   the .node: x264 and libjpeg-turbo linked in,
#                                           glibc >= 2.28, nothing else needed on the host
#
# The binary is built with cargo-zigbuild (zig as C compiler and linker, glibc 2.28 stubs) in
# target/package, apart from the contributors' build (`npm run build`, target/release). x264 is
# built from Debian's source tarball with -fPIC (Debian's libx264.a is not PIC: it cannot be
# linked into a shared object). What is missing is installed: Debian packages (as root or with
# password-less sudo), cargo-zigbuild and zig (PyPI wheels, in a venv under
# ${STRIPECAST_TOOLS:-~/.cache/stripecast}). Incremental: a second run rebuilds only what changed.
# Why this toolchain and the figures: docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { echo "stripecast package: $*"; }
die() { echo "stripecast package: $*" >&2; exit 1; }

TRIPLE=x86_64-unknown-linux-gnu
GLIBC=2.28
PLATFORM=linux-x64-gnu
NODE_FILE=stripecast.$PLATFORM.node
PKG_DIR=npm/$PLATFORM
OUT=target/package
TOOLS=${STRIPECAST_TOOLS:-$HOME/.cache/stripecast}
CARGO_ZIGBUILD_VERSION=0.24.1
ZIGLANG_VERSION=0.17.1
# x264 as Debian 12 ships it (libx264-dev 2:0.164.3095+gitbaee400-3), from Debian's archive.
X264_VERSION=0.164.3095+gitbaee400
X264_URL=https://deb.debian.org/debian/pool/main/x/x264/x264_0.164.3095%2Bgitbaee400.orig.tar.gz
X264_SHA256=8b237e94b08c196a1da22f2f25875f10be4cff3648df4eeff21e00da8f683fc2

# 1. The versions of the two packages and the dependency between them agree.
node scripts/versions.mjs

# 2. Build tools. cmake and nasm build libjpeg-turbo and x264, libclang serves bindgen.
need_apt=()
for pair in cmake:cmake nasm:nasm pkg-config:pkg-config make:make curl:curl python3:python3; do
  command -v "${pair%%:*}" >/dev/null || need_apt+=("${pair#*:}")
done
compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null || compgen -G '/usr/lib/x86_64-linux-gnu/libclang*.so*' >/dev/null ||
  need_apt+=(libclang-dev)
if command -v python3 >/dev/null && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then need_apt+=(python3-venv); fi
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then sudo=""
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"
  else die "missing build tools: ${need_apt[*]}; install them with: sudo apt-get install -y ${need_apt[*]}"
  fi
  say "installing ${need_apt[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
[ -x node_modules/.bin/napi ] || die "node_modules/.bin/napi missing: run scripts/setup.sh (or npm install) first"

# cargo-zigbuild and zig live outside the checkout: zig reports its library directory relative
# to the working directory when it sits below it, and bindgen's include paths then break.
VENV=$TOOLS/zig-venv
if ! "$VENV/bin/cargo-zigbuild" --version 2>/dev/null | grep -qF "$CARGO_ZIGBUILD_VERSION" ||
  ! "$VENV/bin/python" -m ziglang version 2>/dev/null | grep -qxF "$ZIGLANG_VERSION"; then
  say "installing cargo-zigbuild $CARGO_ZIGBUILD_VERSION and zig $ZIGLANG_VERSION (PyPI) in $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION" ||
    die "pip could not install cargo-zigbuild and ziglang into $VENV"
  rm -rf "$HOME/.cache/cargo-zigbuild" # wrappers that point at an older venv
fi
mkdir -p "$TOOLS/bin"
ln -sf "$(echo "$VENV"/lib/python3*/site-packages/ziglang/zig)" "$TOOLS/bin/zig"
ln -sf "$VENV/bin/cargo-zigbuild" "$TOOLS/bin/cargo-zigbuild"
export PATH="$TOOLS/bin:$PATH"
ZIG="$TOOLS/bin/zig"

# 3. x264, static and PIC, compiled by zig against glibc 2.28.
X264_PREFIX=$ROOT/$OUT/x264
X264_STAMP=$X264_PREFIX/.built-$X264_SHA256-$ZIGLANG_VERSION
if [ ! -f "$X264_STAMP" ]; then
  tarball=$TOOLS/src/x264_$X264_VERSION.orig.tar.gz
  if ! echo "$X264_SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
    say "downloading x264 $X264_VERSION source from Debian"
    mkdir -p "$TOOLS/src"
    curl -fsSL --retry 3 -o "$tarball.part" "$X264_URL" || die "could not download $X264_URL"
    echo "$X264_SHA256  $tarball.part" | sha256sum -c --status || die "$X264_URL: SHA-256 mismatch"
    mv "$tarball.part" "$tarball"
  fi
  say "building x264 (static, PIC, glibc $GLIBC)"
  rm -rf "$OUT/x264-src" "$X264_PREFIX"
  mkdir -p "$OUT/x264-src"
  tar -xzf "$tarball" -C "$OUT/x264-src" --strip-components=1
  cat >"$OUT/x264-src/zcc" <<EOF
#!/bin/sh
exec "$ZIG" cc -target x86_64-linux-gnu.$GLIBC "\$@"
EOF
  chmod +x "$OUT/x264-src/zcc"
  (
    cd "$OUT/x264-src"
    CC=$PWD/zcc AR="$ZIG ar" RANLIB="$ZIG ranlib" ./configure --prefix="$X264_PREFIX" \
      --enable-static --enable-pic --disable-cli --disable-opencl --bit-depth=8 >configure.log 2>&1 ||
      { tail -20 configure.log >&2; die "x264 configure failed ($OUT/x264-src/configure.log)"; }
    make -j"$(nproc)" >make.log 2>&1 || { tail -20 make.log >&2; die "x264 build failed ($OUT/x264-src/make.log)"; }
    make install-lib-static >/dev/null
  )
  touch "$X264_STAMP"
fi

# 4. The addon. system-deps finds x264 through our x264.pc (a private prefix, so it links the
# static archive) and bindgen reads x264.h with zig's glibc headers.
say "building $NODE_FILE (release, glibc $GLIBC, cargo-zigbuild)"
start=$(date +%s)
PKG_CONFIG_PATH="$X264_PREFIX/lib/pkgconfig" SYSTEM_DEPS_X264_LINK=static \
  node_modules/.bin/napi build --platform --release --cross-compile --target "$TRIPLE.$GLIBC" \
  --target-dir "$OUT" --output-dir "$OUT/out" --no-js --dts native.d.ts
say "built in $(($(date +%s) - start)) s"

# 5. Fill the platform package and pack both.
cp "$OUT/out/$NODE_FILE" "$PKG_DIR/$NODE_FILE"
version=$(node -p "require('./package.json').version")
rm -rf dist
mkdir -p dist
npm pack --silent --pack-destination "$ROOT/dist" >/dev/null
(cd "$PKG_DIR" && npm pack --silent --pack-destination "$ROOT/dist" >/dev/null)
for f in "dist/stripecast-$version.tgz" "dist/stripecast-$PLATFORM-$version.tgz"; do
  [ -f "$f" ] || die "npm pack did not write $f"
  say "$f ($(stat -c %s "$f") bytes)"
done
say "$NODE_FILE: $(stat -c %s "$PKG_DIR/$NODE_FILE") bytes, needs $(objdump -T "$PKG_DIR/$NODE_FILE" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
