# tributary: build with dev dependencies, run with production dependencies only, as non-root.
# Node 24 LTS, not yet 26: re2 1.24.0 does not compile on Node 26 (README, "Dependencies and why").
# Mirrors what CI proves: `npm ci` (which builds via the prepare script), then `node dist/src/main.js`.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 and re2 build their native addons when no prebuilt binary matches (re2: about 2 minutes).
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY scripts ./scripts
COPY proto ./proto
COPY deploy/tributary.yml ./deploy/
RUN npm ci && npm prune --omit=dev
# Fails the build if npm compiled an addon that would abort the server (scripts/check-native-addons.ts).
RUN node dist/scripts/check-native-addons.js
# In a container: listen on all interfaces, keep state on the volume.
RUN sed -e 's/127.0.0.1:9201/0.0.0.0:9201/' -e 's#^data_dir: ./data#data_dir: /var/lib/tributary#' deploy/tributary.yml > tributary.container.yml

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY --from=build /app/tributary.container.yml /etc/tributary/tributary.yml
RUN mkdir -p /var/lib/tributary && chown node:node /var/lib/tributary
VOLUME /var/lib/tributary
# The image's `node` user by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 1000:1000
EXPOSE 9201
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["serve", "--config", "/etc/tributary/tributary.yml"]
