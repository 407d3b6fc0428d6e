# The demo's OpenID Provider and API (demo/idp.ts, demo/api.ts) for deploy/docker-compose.yml.
# Development dependencies included (oidc-provider): never for production. Build context: the repo root.
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY demo ./demo
COPY deploy/demo-idp.ts deploy/demo-api.ts ./deploy/
USER node
CMD ["node", "deploy/demo-idp.ts"]
