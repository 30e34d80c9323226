# syntax=docker/dockerfile:1
#
# chap-scheduler container image: one binary (serve | worker | migrate | user | openapi | info) plus the
# built web UI. Build with BuildKit (the default of current Docker; compose.yml builds it):
#
#   docker build -t chap-scheduler .
#   docker run --rm -p 127.0.0.1:8080:8080 -v chap-data:/data chap-scheduler          # embedded mode
#
# Build arguments: RUST_VERSION, DEBIAN_RELEASE (builder and runtime must share it: the binary links the
# builder's glibc), NODE_VERSION (only runs binaryen's wasm-opt), WASM_OPT=0 to skip wasm-opt.
#
# Stages: wasm-bindgen-version → toolchain → backend ┐
#         node ──────────────────────────→ spa ──────┴→ runtime
# Cache mounts keep the cargo registry and one target directory per stage between builds, so a source change
# recompiles only the workspace crates (the registry mount is locked: backend and spa take turns on it).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG NODE_VERSION=24

# --- The wasm-bindgen version pinned by Cargo.lock, alone in a file: the CLI install below is rebuilt only
#     when this version changes, not on every Cargo.lock change.
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS wasm-bindgen-version
COPY Cargo.lock /tmp/Cargo.lock
RUN awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' /tmp/Cargo.lock \
      > /wasm-bindgen.version \
 && grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' /wasm-bindgen.version

# --- Rust with the wasm32 target, wasm-bindgen-cli at the Cargo.lock version (installed without
#     --locked: that fails on a missing transitive version) and wasm-split-cli (it splits the web UI's
#     lazy pages into their own modules) at the version frontend/wasm-split-cli.version pins.
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS toolchain
RUN rustup target add wasm32-unknown-unknown
COPY --from=wasm-bindgen-version /wasm-bindgen.version /tmp/wasm-bindgen.version
RUN --mount=type=cache,id=chap-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    cargo install wasm-bindgen-cli --version "$(cat /tmp/wasm-bindgen.version)" \
 && wasm-bindgen --version
COPY frontend/wasm-split-cli.version /tmp/wasm-split-cli.version
RUN --mount=type=cache,id=chap-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    cargo install wasm_split_cli_support --version "$(cat /tmp/wasm-split-cli.version)" \
      --features build-binary --locked \
 && command -v wasm-split-cli
WORKDIR /src

# --- Node.js only to run npm binaryen@132's wasm-opt (Debian's binaryen 108 produces wasm that breaks).
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS node
RUN npm install --global --no-audit --no-fund binaryen@132.0.0 && wasm-opt --version

# --- The server binary.
FROM toolchain AS backend
# make builds jemalloc, the server's allocator (tikv-jemalloc-sys).
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,id=chap-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=chap-target-backend,target=/src/target,sharing=locked \
    cargo build --release --locked -p chap-scheduler \
 && install -D -m 0755 target/release/chap-scheduler /out/chap-scheduler

# --- The web UI (frontend/dist) by the same script developers use.
FROM toolchain AS spa
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/binaryen /usr/local/lib/node_modules/binaryen
RUN ln -s /usr/local/lib/node_modules/binaryen/bin/wasm-opt /usr/local/bin/wasm-opt && wasm-opt --version
ARG WASM_OPT=1
COPY . .
RUN --mount=type=cache,id=chap-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=chap-target-spa,target=/src/target,sharing=locked \
    WASM_OPT="${WASM_OPT}" scripts/build-frontend.sh \
 && mkdir -p /out && cp -R frontend/dist /out/dist

# --- Runtime: glibc, CA certificates (outgoing https to DHIS2 and chap-core), bash for the health probe.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 chap \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin chap \
 && install -d -m 0700 -o 10001 -g 10001 /data
COPY --from=backend /out/chap-scheduler /usr/local/bin/chap-scheduler
COPY --from=spa /out/dist /usr/share/chap-scheduler/dist
COPY --chmod=0755 scripts/container-healthcheck /usr/local/bin/chap-healthcheck

# /data holds the SQLite database and generated key files in embedded mode (no DATABASE_URL): mount a volume
# there (`-v chap-data:/data`; a new named volume takes the directory's owner, uid 10001). It is not
# declared as VOLUME so that compose's api and worker containers, which keep everything in PostgreSQL and
# take their keys from the environment, do not each get an anonymous volume.
ENV CHAP_SCHEDULER_BIND=0.0.0.0:8080 \
    CHAP_SCHEDULER_STATIC_DIR=/usr/share/chap-scheduler/dist \
    CHAP_SCHEDULER_DATA_DIR=/data
WORKDIR /data
USER 10001:10001
EXPOSE 8080

# Liveness of `serve`; compose.yml checks /ready for the api and disables this for `worker` (no HTTP port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["chap-healthcheck", "/health"]

ENTRYPOINT ["chap-scheduler"]
CMD ["serve"]
