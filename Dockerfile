# syntax=docker/dockerfile:1

# Two images from one file:
#   runtime (default, the last stage): the bridge alone, built without the `demo` feature. It holds
#            neither the DocSpace/Dropbox stand-ins nor the `bridge-fakes` binary.
#   demo     (`--target demo`, the compose `demo` profile): the bridge with `demo`, plus `bridge-fakes`.
# Both run as uid/gid 10001 and write only to /var/lib/bridge/data (the volume) and /tmp, so they
# run with a read-only root filesystem.

# --- sources: manifests and stub targets --------------------------------------------------------
FROM rust:1.95-bookworm AS sources
WORKDIR /src
# Dependencies first, so source edits do not rebuild them: each build stage compiles them once
# against stub targets. Cargo refuses a manifest whose declared bench has no file, so every
# `[[bench]]` of Cargo.toml gets a stub, by the name on the line after it.
COPY Cargo.toml Cargo.lock ./
# Build settings (the allocator's C defines), so the dependency build below already uses them.
COPY .cargo .cargo
COPY fakes/Cargo.toml fakes/Cargo.toml
RUN mkdir -p src fakes/src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > fakes/src/main.rs && touch fakes/src/lib.rs \
 && awk '/^\[\[bench\]\]/ { getline; if (match($0, /"[^"]+"/)) \
      print "fn main() {}" > ("benches/" substr($0, RSTART + 1, RLENGTH - 2) ".rs") }' Cargo.toml

# --- build: the production binary, no stand-ins -------------------------------------------------
FROM sources AS build
RUN cargo build --release --locked --no-default-features --bin docspace-dropbox-bridge \
 && rm -rf src fakes/src benches
COPY . .
# Touch the real sources so cargo does not reuse the stub builds.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --no-default-features --bin docspace-dropbox-bridge

# --- build-demo: the bridge with `demo` and the stand-ins' binary -------------------------------
FROM sources AS build-demo
RUN cargo build --release --locked --workspace --bins \
 && rm -rf src fakes/src benches
COPY . .
RUN touch src/main.rs src/lib.rs fakes/src/lib.rs fakes/src/main.rs \
 && cargo build --release --locked --workspace --bins

# --- runtime-base: what both images share ------------------------------------------------------
FROM debian:bookworm-slim AS runtime-base
# The data directory exists in the image, owned by the runtime user, so that a fresh named
# volume mounted on it starts with that owner (an empty root-owned volume cannot hold SQLite).
# Packages unpinned on purpose: the slim base tracks Debian stable security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 bridge \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/bridge --no-create-home \
      --shell /usr/sbin/nologin bridge \
 && install -d -o root -g root -m 0755 /var/lib/bridge \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/bridge/data
WORKDIR /var/lib/bridge
ENV BRIDGE_LISTEN=0.0.0.0:8080 \
    BRIDGE_DATABASE_URL=sqlite:///var/lib/bridge/data/bridge.db \
    LOG_FORMAT=json
USER 10001:10001
VOLUME ["/var/lib/bridge/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["docspace-dropbox-bridge"]
CMD ["serve"]

# --- demo: `docker build --target demo` -------------------------------------------------------
FROM runtime-base AS demo
COPY --from=build-demo /src/target/release/docspace-dropbox-bridge /src/target/release/bridge-fakes \
     /usr/local/bin/

# --- runtime: the production image (default target) ---------------------------------------------
FROM runtime-base AS runtime
COPY --from=build /src/target/release/docspace-dropbox-bridge /usr/local/bin/docspace-dropbox-bridge
