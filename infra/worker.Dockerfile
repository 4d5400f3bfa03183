# The GPU shard worker (functions/execute-shards.ts) for ECS on NVIDIA instances.
# Build context: the repository root (.dockerignore keeps it to what the worker needs).
#
# Runtime base: Ubuntu 24.04, because WebGPU (Dawn, `webgpu` npm package) needs glibc >= 2.38
# and GLIBCXX_3.4.32 (Debian 12 has 2.36) and the Vulkan loader (libvulkan1); the NVIDIA
# container runtime mounts the driver and its Vulkan ICD when NVIDIA_DRIVER_CAPABILITIES
# includes `graphics` (see docs/gpu-and-ai.md).

# --- build: install, bundle the worker with esbuild, keep production packages -------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: secp256k1 loads its linux-x64 prebuild at run time and `gl` (optional,
# headless GL) is not used. Optional packages stay for now: esbuild's binary is one of them.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY shared ./shared
COPY functions ./functions
COPY infra/bundle-worker.mjs ./infra/bundle-worker.mjs
RUN node infra/bundle-worker.mjs dist/execute-shards.mjs \
 && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# --- runtime -----------------------------------------------------------------------------
FROM ubuntu:24.04
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libvulkan1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
USER ubuntu
# SIGTERM reaches node directly (exec form): the worker finishes its shard and exits.
CMD ["node", "dist/execute-shards.mjs"]
