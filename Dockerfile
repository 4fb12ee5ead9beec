# syntax=docker/dockerfile:1
# Herald: build with the Rust toolchain, run on a slim Debian with only the binary.
#   docker build -t herald .
#   docker run -e DATABASE_URL=postgres://... -e HERALD_ADMIN_TOKEN=... -p 8080:8080 herald
# The default command migrates, then runs the worker and the admin API; any other command is
# passed to `herald` after the migration (e.g. `docker run herald --help`).

FROM rust:1-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin herald \
 && cp target/release/herald /usr/local/bin/herald

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin herald
COPY --from=builder /usr/local/bin/herald /usr/local/bin/herald
USER herald
ENV HERALD_LISTEN=0.0.0.0:8080 \
    HERALD_LOG_FORMAT=json
EXPOSE 8080
# `exec` makes herald PID 1, so SIGTERM from `docker stop` reaches it for a graceful drain.
ENTRYPOINT ["/bin/sh", "-c", "herald migrate && exec herald \"$@\"", "herald"]
CMD ["run"]
