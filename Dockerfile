# syntax=docker/dockerfile:1
# Switchboard's headless server as a small image: the dashboard is built with Node, the binary
# with Rust (stripped), and the runtime stage is Debian slim with a non-root user.
#
#   docker build -t switchboard .
#   docker run -p 8080:8080 -v switchboard:/var/lib/switchboard switchboard
#
# Team mode (several replicas on PostgreSQL and Redis): deploy/compose.yml and docs/team.md.

FROM node:20-bookworm-slim AS dashboard
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui/ ./
RUN npm run build

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates/ crates/
COPY --from=dashboard /src/ui/dist ui/dist
RUN cargo build --release --locked -p switchboard-cli \
    && strip target/release/switchboard

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/switchboard \
        --create-home --shell /usr/sbin/nologin switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
USER switchboard
ENV SWITCHBOARD_DATA_DIR=/var/lib/switchboard \
    SWITCHBOARD_LOG=info
VOLUME /var/lib/switchboard
EXPOSE 8080
# /health answers without credentials once the router serves.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["switchboard"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--remote", "--log-json"]
