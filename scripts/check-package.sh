#!/usr/bin/env bash
# Checks the release packages as a user without Rust gets them (issue #19): builds them
# (scripts/package.sh, incremental), installs both tarballs into an empty folder with a PATH
# that holds node and npm and no compiler, and from there captures JPEG and H.264 under Xvfb
# (scripts/check-package.mjs decodes them). Asserts what the binary links, its glibc floor and
# that the install compiled nothing. Exits non-zero naming what is wrong or missing.
# Run by `npm test` (__test__/package.test.mjs); runs alone too: `bash scripts/check-package.sh`.
# STRIPECAST_CHECK_BULLSEYE=1 also runs the capture in a Debian bullseye root (glibc 2.31; see
# docs/packaging.md for why it is opt-in).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { echo "check-package: $*"; }
fail() { echo "check-package: FAIL: $*" >&2; exit 1; }

for tool in node npm tar objdump ldd Xvfb xdpyinfo ffmpeg; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/setup.sh installs it)"
done

bash scripts/package.sh
version=$(node -p "require('./package.json').version")
MAIN=$ROOT/dist/stripecast-$version.tgz
PLAT=$ROOT/dist/stripecast-linux-x64-gnu-$version.tgz
NODE_FILE=stripecast.linux-x64-gnu.node

# The tarballs: the .node only in the platform package, no build sources in either.
main_list=$(tar -tzf "$MAIN")
plat_list=$(tar -tzf "$PLAT")
if grep -E '\.node$|^package/(src|crates|scripts|target|__test__|npm)/|Cargo\.|build\.rs' <<<"$main_list"; then
  fail "$MAIN holds the files above (a .node or build sources)"
fi
for f in package/$NODE_FILE package/LICENSE package/NOTICE package/package.json; do
  grep -qx "$f" <<<"$plat_list" || fail "$PLAT lacks $f"
done
[ "$(grep -c . <<<"$plat_list")" -le 5 ] || fail "$PLAT holds more than the binary, its licence texts and README: $plat_list"

# A PATH with node, npm and the few programs they run, and nothing that compiles.
T=$(mktemp -d /tmp/stripecast-check-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/home" "$T/app" "$T/main-only"
for tool in node npm sh env; do ln -s "$(command -v "$tool")" "$T/bin/$tool"; done
for tool in cargo rustc cc c++ gcc g++ clang ld make cmake nasm pkg-config python3 zig cargo-zigbuild node-gyp; do
  if env -i PATH="$T/bin" /bin/sh -c "command -v $tool" >/dev/null 2>&1; then fail "$tool is on the user PATH"; fi
done
user_env=(env -i PATH="$T/bin" HOME="$T/home" npm_config_cache="$T/npm-cache" npm_config_update_notifier=false LANG=C.UTF-8)

echo '{ "name": "check", "private": true }' >"$T/app/package.json"
start=$(date +%s%N)
(cd "$T/app" && "${user_env[@]}" npm install --offline --no-audit --no-fund --foreground-scripts "$MAIN" "$PLAT") >"$T/install.log" 2>&1 ||
  { cat "$T/install.log" >&2; fail "npm install of the two tarballs failed"; }
install_ms=$((($(date +%s%N) - start) / 1000000))
say "npm install of both tarballs: ${install_ms} ms"
[ "$install_ms" -lt 30000 ] || fail "npm install took ${install_ms} ms (limit 30 s)"

# Nothing was compiled: no package has an install hook or a binding.gyp, npm ran no script,
# and the only binary is the one from the platform package.
nm=$T/app/node_modules
if grep -E '^> ' "$T/install.log"; then fail "npm ran the scripts above during install"; fi
node -e '
  const fs = require("fs"), path = require("path")
  for (const dir of fs.readdirSync(process.argv[1]).filter((d) => !d.startsWith("."))) {
    const p = JSON.parse(fs.readFileSync(path.join(process.argv[1], dir, "package.json"), "utf8"))
    for (const s of ["preinstall", "install", "postinstall"]) if (p.scripts?.[s]) throw new Error(`${dir} has a ${s} script`)
    if (fs.existsSync(path.join(process.argv[1], dir, "binding.gyp"))) throw new Error(`${dir} has a binding.gyp`)
  }' "$nm" || fail "a package would build at install time"
nodes=$(cd "$nm" && find . -name '*.node' | sort)
[ "$nodes" = "./stripecast-linux-x64-gnu/$NODE_FILE" ] || fail "expected one .node, in stripecast-linux-x64-gnu; found: ${nodes:-none}"
find "$nm" "$T/app" -maxdepth 3 \( -name target -o -name build -o -name '*.o' \) | grep . && fail "build outputs above appeared"

# The binary: only libc's libraries, glibc <= 2.28.
BIN=$nm/stripecast-linux-x64-gnu/$NODE_FILE
deps=$(ldd "$BIN")
echo "$deps" | sed 's/^/  /'
bad=$(echo "$deps" | grep -vE '^\s*(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|/lib64/ld-linux-x86-64\.so\.2)\b' || true)
[ -z "$bad" ] || fail "$NODE_FILE links more than libc's libraries: $bad"
glibc_max=$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
say "highest glibc symbol version: $glibc_max; $NODE_FILE: $(stat -c %s "$BIN") bytes"
[ "$(printf '%s\n' "$glibc_max" GLIBC_2.28 | sort -V | tail -1)" = GLIBC_2.28 ] || fail "$NODE_FILE needs $glibc_max (> GLIBC_2.28)"

# Only the main package (optional dependencies left out): the error names the missing package.
echo '{ "name": "check-main-only", "private": true }' >"$T/main-only/package.json"
(cd "$T/main-only" && "${user_env[@]}" npm install --offline --no-audit --no-fund --omit=optional "$MAIN") >"$T/install-main.log" 2>&1 ||
  { cat "$T/install-main.log" >&2; fail "npm install of $MAIN alone failed"; }

# Run: captures, errors and encoder reports from the installed package, as the user.
cp scripts/check-package-child.cjs "$T/app/child.cjs"
cp scripts/check-package-child.cjs "$T/main-only/child.cjs"
node scripts/check-package.mjs "$T"

if [ "${STRIPECAST_CHECK_BULLSEYE:-0}" = 1 ]; then
  bash scripts/check-bullseye.sh "$T"
fi
say "OK"
