# syntax=docker/dockerfile:1

# --- build -------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them: build once against stub targets.
COPY Cargo.toml Cargo.lock ./
COPY fakes/Cargo.toml fakes/Cargo.toml
RUN mkdir -p src fakes/src benches \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > fakes/src/main.rs && touch fakes/src/lib.rs \
 && for b in ingest groups export; do echo 'fn main() {}' > "benches/$b.rs"; done \
 && cargo build --release --locked --workspace --bins \
 && rm -rf src fakes/src benches
COPY . .
# Touch the real sources so cargo does not reuse the stub builds.
RUN touch src/main.rs src/lib.rs fakes/src/lib.rs fakes/src/main.rs \
 && cargo build --release --locked --workspace --bins

# --- runtime -----------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# Unpinned on purpose: the slim base tracks Debian stable security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/bridge --create-home bridge
COPY --from=build /src/target/release/docspace-dropbox-bridge /usr/local/bin/docspace-dropbox-bridge
COPY --from=build /src/target/release/bridge-fakes /usr/local/bin/bridge-fakes
USER 10001
WORKDIR /var/lib/bridge
ENV BRIDGE_LISTEN=0.0.0.0:8080 \
    BRIDGE_DATABASE_URL=sqlite:///var/lib/bridge/data/bridge.db \
    LOG_FORMAT=json
VOLUME ["/var/lib/bridge/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["docspace-dropbox-bridge"]
CMD ["serve"]
