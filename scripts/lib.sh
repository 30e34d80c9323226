# Shared helpers for scripts/run, scripts/test and .ci/run. Source it; it defines functions only.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The wasm32 target and the wasm-bindgen CLI at exactly the version Cargo.lock pins.
ensure_frontend_toolchain() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "installing the Rust wasm32 target"
    rustup target add wasm32-unknown-unknown
  fi
  local want have
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$repo_root/Cargo.lock")"
  have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
  if [[ "$have" != "$want" ]]; then
    say "installing wasm-bindgen-cli $want (about 2 minutes, once)"
    # Not --locked: the CLI's own lockfile pins a yanked transitive version.
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# Builds frontend/dist when it is missing or older than the frontend sources.
ensure_frontend_built() {
  local stamp="$repo_root/frontend/dist/index.html"
  if [[ -f "$stamp" ]] && [[ -z "$(find "$repo_root/frontend/src" "$repo_root/frontend/static" \
      "$repo_root/frontend/index.html" "$repo_root/frontend/Cargo.toml" "$repo_root/openapi/src" \
      -newer "$stamp" -print -quit)" ]]; then
    return 0
  fi
  ensure_frontend_toolchain
  say "building the web UI (frontend/dist)"
  "$repo_root/scripts/build-frontend.sh"
}

# aiosmtpd (PyPI) in a venv, the real SMTP server the notification tests send e-mail to (with
# STARTTLS); exported as CHAP_TEST_SMTP_PYTHON for the tests.
aiosmtpd_version="1.4.6"
ensure_smtp_server() {
  local venv="${CHAP_TEST_SMTP_VENV:-/var/tmp/chap-smtp-venv}"
  if [[ "$("$venv/bin/python" -m aiosmtpd --version 2>/dev/null || true)" != *"$aiosmtpd_version"* ]]; then
    say "installing aiosmtpd $aiosmtpd_version into $venv (the tests' SMTP server)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$aiosmtpd_version"
  fi
  export CHAP_TEST_SMTP_PYTHON="$venv/bin/python"
}

# Prefect 3 (PyPI) in a venv: the real Prefect server the `import-prefect` test reads, seeded like
# the old (Python) chap-scheduler by e2e/prefect/seed.py; exported as CHAP_TEST_PREFECT_VENV.
prefect_version="3.9.1"
ensure_prefect() {
  local venv="${CHAP_TEST_PREFECT_VENV:-/var/tmp/chap-prefect-venv}"
  if [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("prefect"))' 2>/dev/null || true)" != "$prefect_version" ]]; then
    say "installing prefect $prefect_version into $venv (the import-prefect test's Prefect server; a few minutes, once)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "prefect==$prefect_version"
  fi
  export CHAP_TEST_PREFECT_VENV="$venv"
}

# Prometheus's promtool, which checks that /metrics is valid Prometheus text (the tests run it when
# CHAP_TEST_PROMTOOL is set). Taken out of Debian's prometheus package without installing it, so no
# Prometheus server is set up or started; exported as CHAP_TEST_PROMTOOL.
ensure_promtool() {
  local dir="${CHAP_TOOLS_DIR:-/var/tmp/chap-tools}"
  if [[ ! -x "$dir/promtool" ]]; then
    if ! command -v apt-get >/dev/null 2>&1; then
      say "promtool: apt-get is missing; /metrics is checked with the Rust parser only"
      return 0
    fi
    say "extracting promtool from Debian's prometheus package into $dir"
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus >/dev/null; }; } &&
      dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool)
    mkdir -p "$dir"
    mv "$tmp/usr/bin/promtool" "$dir/promtool"
    rm -rf "$tmp"
  fi
  export CHAP_TEST_PROMTOOL="$dir/promtool"
}
