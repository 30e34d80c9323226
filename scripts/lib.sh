# Shared helpers for scripts/run, scripts/test and .ci/run. Source it; it defines functions only.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The wasm32 target, the wasm-bindgen CLI at exactly the version Cargo.lock pins, and wasm-split-cli.
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
  ensure_wasm_split
}

# wasm-split-cli (crate wasm_split_cli_support) at the version frontend/wasm-split-cli.version pins: it
# splits the web UI's lazy pages into their own wasm modules (scripts/build-frontend.sh).
ensure_wasm_split() {
  local want
  want="$(tr -d '[:space:]' < "$repo_root/frontend/wasm-split-cli.version")"
  if ! command -v wasm-split-cli >/dev/null 2>&1 ||
    ! cargo install --list 2>/dev/null | grep -qx "wasm_split_cli_support v$want:"; then
    say "installing wasm-split-cli $want (about a minute, once)"
    cargo install wasm_split_cli_support --version "$want" --features build-binary --locked
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

# Makes this machine able to run scripts/test: Debian packages (Chromium, PostgreSQL, Redis, Node.js,
# nginx, …), cargo-nextest, the wasm toolchain and the browser tests' npm packages; then starts PostgreSQL and
# Redis when they do not answer. As root it installs with apt-get; otherwise it names the packages to
# install and stops. Idempotent: on a prepared machine it installs nothing.
ensure_test_machine() {
  local pg_url="$1"
  local need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
  command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  command -v node >/dev/null 2>&1 || need+=(nodejs npm)
  command -v make >/dev/null 2>&1 || need+=(make)
  command -v gcc >/dev/null 2>&1 || need+=(gcc)
  python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
  # The browser tests' second pass runs behind nginx with nginx/subpath.conf.
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  # The vanished-host tests drop the packets of open connections with an nftables rule (as root).
  command -v nft >/dev/null 2>&1 || need+=(nftables)
  if [[ ${#need[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
      echo "scripts/test: missing packages. Install them (Debian), then run scripts/test again:" >&2
      echo "  sudo apt-get install ${need[*]}" >&2
      exit 1
    fi
    say "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi

  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "scripts/test: PostgreSQL does not answer on 127.0.0.1:5432; start it (e.g. sudo pg_ctlcluster <version> main start)" >&2
      exit 1
    fi
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if ! psql "$pg_url" -qc 'SELECT 1' >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "scripts/test: cannot connect to $pg_url; set CHAP_TEST_DATABASE_URL to a server and database you can use" >&2
      exit 1
    fi
    say "preparing PostgreSQL for the tests (password for postgres, database test)"
    su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\""
    su postgres -c "psql -Atc \"SELECT 1 FROM pg_database WHERE datname='test'\"" | grep -q 1 ||
      su postgres -c "createdb test"
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis (127.0.0.1:6379, nothing kept on disk)"
    mkdir -p /var/tmp/chap-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/tmp/chap-redis --logfile /var/tmp/chap-redis/redis.log
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi

  command -v cargo-nextest >/dev/null 2>&1 || { say "installing cargo-nextest"; cargo install cargo-nextest --locked; }
  ensure_frontend_toolchain
  (cd "$repo_root/e2e/browser" && { [[ -d node_modules/playwright-core && node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund; })
}
