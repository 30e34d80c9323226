#!/usr/bin/env bash
# Builds the Leptos SPA into frontend/dist: cargo (wasm32, wasm-release profile) → wasm-split (the lazy
# routes into their own modules, see frontend/src/app.rs) → wasm-bindgen → wasm-opt → Brotli/gzip copies.
# We do not use trunk: its inline loader script would break the Content-Security-Policy (no inline scripts);
# frontend/static/boot.js loads the app instead.
#
# Environment: CARGO_TARGET_DIR (default <repo>/target), WASM_OPT=0 to skip wasm-opt.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
dist="frontend/dist"

die() {
  echo "build-frontend: error: $*" >&2
  exit 1
}

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wbg_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[[ -n "$wbg_version" ]] || die "could not find the wasm-bindgen version in Cargo.lock"

if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    die "the Rust target wasm32-unknown-unknown is not installed.
  Install it with: rustup target add wasm32-unknown-unknown"
  fi
elif ! rustc --print sysroot >/dev/null 2>&1 || [[ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown" ]]; then
  die "the Rust target wasm32-unknown-unknown is not installed.
  Install it with: rustup target add wasm32-unknown-unknown"
fi

if ! command -v wasm-bindgen >/dev/null 2>&1; then
  die "wasm-bindgen (the CLI) is not on PATH.
  Install the version matching Cargo.lock with: cargo install wasm-bindgen-cli --version $wbg_version"
fi
installed_wbg="$(wasm-bindgen --version | awk '{ print $2 }')"
if [[ "$installed_wbg" != "$wbg_version" ]]; then
  die "wasm-bindgen CLI is $installed_wbg but Cargo.lock has the wasm-bindgen crate at $wbg_version; they must match.
  Install the matching CLI with: cargo install wasm-bindgen-cli --version $wbg_version"
fi

# wasm-split (the CLI of the wasm_split_cli_support crate) at the version frontend/wasm-split-cli.version pins.
split_version="$(tr -d '[:space:]' < frontend/wasm-split-cli.version)"
split_install="cargo install wasm_split_cli_support --version $split_version --features build-binary --locked"
if ! command -v wasm-split-cli >/dev/null 2>&1; then
  die "wasm-split-cli is not on PATH.
  Install it with: $split_install"
fi
if ! cargo install --list 2>/dev/null | grep -qx "wasm_split_cli_support v$split_version:"; then
  die "wasm-split-cli is not version $split_version (frontend/wasm-split-cli.version).
  Install it with: $split_install"
fi

echo "build-frontend: cargo build (wasm32-unknown-unknown, wasm-release) into $target_dir"
CARGO_TARGET_DIR="$target_dir" cargo build -p chap-scheduler-frontend \
  --target wasm32-unknown-unknown --profile wasm-release

wasm="$target_dir/wasm32-unknown-unknown/wasm-release/chap-scheduler-frontend.wasm"
[[ -f "$wasm" ]] || die "cargo did not produce $wasm"

rm -rf "$dist"
mkdir -p "$dist"
# The main module goes to $split/app.wasm for wasm-bindgen; the lazy modules (split_<group>.wasm, the
# code groups share as chunk_<n>.wasm) and their loader (__wasm_split.js) go straight to dist.
split="$target_dir/wasm-split"
rm -rf "$split"
mkdir -p "$split"
echo "build-frontend: wasm-split $split_version"
wasm-split-cli "$wasm" "$dist" --target web --out-name app
mv "$dist/app.wasm" "$split/app.wasm"
echo "build-frontend: wasm-bindgen $installed_wbg"
# --keep-lld-exports: the lazy modules import the main module's functions through those exports.
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --keep-lld-exports --out-dir "$dist" --out-name app "$split/app.wasm"

# wasm-opt: prefer the pinned npm binaryen (132); Debian's binaryen (108) produces wasm that breaks at run time.
find_wasm_opt() {
  local npm_bin="e2e/browser/node_modules/.bin/wasm-opt"
  if [[ -x "$npm_bin" ]]; then
    echo "$npm_bin"
  elif command -v wasm-opt >/dev/null 2>&1; then
    command -v wasm-opt
  fi
}

if [[ "${WASM_OPT:-1}" == "0" ]]; then
  echo "build-frontend: WASM_OPT=0, skipping wasm-opt"
else
  wasm_opt="$(find_wasm_opt)"
  if [[ -z "$wasm_opt" ]]; then
    echo "build-frontend: no wasm-opt found, skipping it (the wasm stays larger)."
    echo "  For a smaller build: (cd e2e/browser && npm ci)  # installs binaryen@132.0.0"
  else
    opt_version="$("$wasm_opt" --version | grep -oE '[0-9]+' | head -n1 || true)"
    if [[ -z "$opt_version" || "$opt_version" -lt 116 ]]; then
      echo "build-frontend: $wasm_opt is version ${opt_version:-unknown} (< 116, which breaks the wasm); skipping wasm-opt."
      echo "  For a smaller build: (cd e2e/browser && npm ci)  # installs binaryen@132.0.0"
    else
      echo "build-frontend: wasm-opt -Oz (binaryen $opt_version, $wasm_opt)"
      for module in "$dist"/*.wasm; do
        # wasm-bindgen output uses these post-MVP features (Rust's default wasm32 target enables them).
        # --strip-debug drops the names wasm-split leaves in the lazy modules.
        "$wasm_opt" -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
          --enable-mutable-globals --enable-reference-types --enable-multivalue \
          -o "$module.opt" "$module"
        mv "$module.opt" "$module"
      done
    fi
  fi
fi

cp frontend/index.html "$dist/"
cp -R frontend/static/. "$dist/"

# The lazy modules get their content's hash in their names (split_runs-<hash>.wasm), and the loader
# their new names: a page still running an older build asks for its own modules, which are gone after an
# upgrade (an error the page shows), never for modules of another build (which would link wrongly). The
# server lets browsers cache the hashed files for good.
for module in "$dist"/split_*.wasm "$dist"/chunk_*.wasm; do
  [[ -f "$module" ]] || continue
  name="$(basename "$module" .wasm)"
  hash="$(sha256sum "$module" | cut -c1-10)"
  mv "$module" "$dist/$name-$hash.wasm"
  grep -q "\"./$name.wasm\"" "$dist/__wasm_split.js" || die "__wasm_split.js does not load $name.wasm"
  sed -i "s#\"./$name.wasm\"#\"./$name-$hash.wasm\"#" "$dist/__wasm_split.js"
done

# Compressed copies beside the assets: the server sends the Brotli copy to clients that accept br,
# else the gzip copy to those that accept gzip. Brotli comes from Node's zlib (quality 11); without
# Node only gzip copies are made.
rm -f "$dist"/*.br
for asset in "$dist"/*.wasm "$dist"/*.js "$dist"/*.css; do
  gzip -9 -n -k -f "$asset"
done
if command -v node >/dev/null 2>&1; then
  node -e '
    const fs = require("fs"), zlib = require("zlib");
    for (const file of process.argv.slice(1)) {
      const data = fs.readFileSync(file);
      fs.writeFileSync(file + ".br", zlib.brotliCompressSync(data, { params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } }));
    }' "$dist"/*.wasm "$dist"/*.js "$dist"/*.css
else
  echo "build-frontend: no node, so no Brotli copies (gzip only)"
fi

raw=$(cat "$dist"/*.wasm "$dist"/*.js | wc -c)
gz=$(cat "$dist"/*.wasm.gz "$dist"/*.js.gz | wc -c)
br=$(cat "$dist"/*.wasm.br "$dist"/*.js.br 2>/dev/null | wc -c)
echo "build-frontend: done: $dist (wasm + JS $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzip, $((br / 1024)) KiB Brotli)"
