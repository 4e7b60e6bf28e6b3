# wemixvisor on Node.js 20, supervising a node binary (gwemix) in $DAEMON_HOME.
# docs/OPERATIONS.md "Running in a container"; test/deploy/dockerfile.test.ts
# checks this file.
#
#   docker build -t wemixvisor .
#   docker build -t wemixvisor --build-arg GWEMIX_URL=https://…/gwemix.tar.gz \
#     --build-arg GWEMIX_SHA256=<sha256 of that file> .      # the node binary in the image
#
# PID 1 is wemixvisor; the node is its child. `docker stop` sends SIGTERM:
# wemixvisor stops the node (SIGKILL after DAEMON_SHUTDOWN_GRACE, 30s by
# default) and exits 0 — give `docker run --stop-timeout 120` (Docker's own
# default, 10s, would SIGKILL both first).

# 1. Build: the lockfile's dependencies, the bundle in dist/, then only the
#    production dependencies are kept.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.types.json ./
COPY scripts/build.mjs scripts/
COPY src/ src/
RUN npm run build && npm prune --omit=dev --ignore-scripts

# 2. The node binary, when GWEMIX_URL is given: a binary or a .tar.gz holding
#    one named gwemix, checked against GWEMIX_SHA256. Without it, mount the
#    binary instead and `init` from there.
FROM node:20-bookworm-slim AS gwemix
ARG GWEMIX_URL=""
ARG GWEMIX_SHA256=""
RUN set -eu; mkdir -p /out; \
    if [ -n "$GWEMIX_URL" ]; then \
      [ -n "$GWEMIX_SHA256" ] || { echo "GWEMIX_URL needs GWEMIX_SHA256" >&2; exit 1; }; \
      node -e 'fetch(process.argv[1]).then(async (r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); require("fs").writeFileSync("/tmp/gwemix.download", Buffer.from(await r.arrayBuffer())) }).catch((e) => { console.error(`${process.argv[1]}: ${e.message}`); process.exit(1) })' "$GWEMIX_URL"; \
      echo "${GWEMIX_SHA256#sha256:}  /tmp/gwemix.download" | sha256sum -c -; \
      if tar -tzf /tmp/gwemix.download >/dev/null 2>&1; then \
        mkdir /tmp/x && tar -xzf /tmp/gwemix.download -C /tmp/x; \
        bin="$(find /tmp/x -type f -name gwemix | head -n 1)"; \
        [ -n "$bin" ] || { echo "no file named gwemix in $GWEMIX_URL" >&2; exit 1; }; \
        install -m 0755 "$bin" /out/gwemix; \
      else \
        install -m 0755 /tmp/gwemix.download /out/gwemix; \
      fi; \
    fi

# 3. Run: the installed package and the binary, as an unprivileged user.
FROM node:20-bookworm-slim
COPY --from=build /src/package.json /usr/local/lib/node_modules/wemixvisor/
COPY --from=build /src/dist/ /usr/local/lib/node_modules/wemixvisor/dist/
COPY --from=build /src/node_modules/ /usr/local/lib/node_modules/wemixvisor/node_modules/
COPY --from=gwemix /out/ /opt/gwemix/
RUN ln -s ../lib/node_modules/wemixvisor/dist/bin.js /usr/local/bin/wemixvisor \
 && groupadd --system --gid 10001 wemix \
 && useradd --system --uid 10001 --gid wemix --home-dir /srv/wemix --shell /usr/sbin/nologin wemix \
 && mkdir -p /srv/wemix && chown wemix:wemix /srv/wemix \
 && wemixvisor version
ENV DAEMON_HOME=/srv/wemix \
    DAEMON_NAME=gwemix
VOLUME ["/srv/wemix"]
USER wemix
WORKDIR /srv/wemix
STOPSIGNAL SIGTERM
# /health is 200 while the node runs and its head moves; 503 otherwise. The
# API listens on WEMIXVISOR_API_ADDR (loopback by default, inside the container).
HEALTHCHECK --interval=30s --timeout=10s --start-period=5m --retries=3 \
  CMD ["node", "-e", "const a = process.env.WEMIXVISOR_API_ADDR || '127.0.0.1:8590', i = a.lastIndexOf(':'), h = a.slice(0, i); fetch('http://' + (h === '0.0.0.0' || h === '[::]' ? '127.0.0.1' : h) + a.slice(i) + '/health', { signal: AbortSignal.timeout(8000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["wemixvisor"]
CMD ["run"]
