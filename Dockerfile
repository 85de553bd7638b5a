# syntax=docker/dockerfile:1
# One image for both processes, `node dist/api/server.js` (API + MLLP) and `node dist/worker/main.js`,
# and the one-shot jobs `node dist/scripts/migrate.js` and `node dist/scripts/athena-schedule.js`.
# Node 22 LTS (Node 20 is past end of life, and runtime dependencies such as cookie and
# content-disposition require 22). The same version as tools/node22.json, which test/compat runs the
# suite's representative subset on; test/unit/node-version-policy.test.ts keeps the two in step.
ARG NODE_IMAGE=node:22.23.5-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# Compile TypeScript to dist/ and prebuild the workflow bundle (workers load it instead of bundling at start).
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    LABLOOP_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Runtime files read relative to the project root: SQL migrations, practice registry, review-app views and assets.
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/config ./config
COPY --from=build /app/api/review ./api/review
USER node
EXPOSE 3000 2575
CMD ["node", "dist/api/server.js"]
