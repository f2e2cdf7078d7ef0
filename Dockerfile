# syntax=docker/dockerfile:1
# Build stage: compile TypeScript, then keep production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY model ./model
COPY store ./store
COPY events ./events
COPY runtime ./runtime
COPY metrics ./metrics
COPY agent ./agent
COPY control ./control
COPY cli ./cli
COPY bench ./bench
COPY scripts ./scripts
COPY test ./test
COPY console ./console
RUN npm run build && npm prune --omit=dev

# Runtime: Node 24 LTS and HAProxy 2.6 from Debian bookworm, running as the unprivileged haproxy user.
FROM node:24-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/weir /etc/weir/store \
 && chown -R haproxy:haproxy /var/lib/weir /etc/weir
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY haproxy-templates ./haproxy-templates
COPY examples ./examples
ENV NODE_ENV=production \
    WEIR_STATE_DIR=/var/lib/weir \
    WEIR_STORE=file:///etc/weir/store \
    WEIR_HTTP_ADDR=0.0.0.0:9101
USER haproxy
EXPOSE 9101
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["agent"]
