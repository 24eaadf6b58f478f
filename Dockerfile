# syntax=docker/dockerfile:1
# knative-yolo: the detector's container image.
#   GPU (default): docker build -t REGISTRY/knative-yolo:VERSION .
#   CPU:           docker build --build-arg VARIANT=cpu -t REGISTRY/knative-yolo:VERSION-cpu .
# No model is baked in: weights come from the read-only models volume (MODEL_PATH).

ARG VARIANT=gpu
ARG NODE_IMAGE=node:22.23.3-bookworm-slim
# CUDA 12 with cuDNN 9: what onnxruntime-node 1.30's CUDA execution provider is built against.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS build
ARG VARIANT
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# .npmrc skips onnxruntime-node's CUDA download here; the GPU variant fetches it explicitly below.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY func ./func
RUN npm run build && npm prune --omit=dev --no-audit --no-fund
# onnxruntime-node's installer takes true/1/ON/skip (script/install-utils.js, parseInstallFlag); any other value,
# cuda12 included, falls through to "not specified". With true it installs what its metadata lists for the build
# platform, which is the CUDA provider on linux/x64 and nothing on linux/arm64: so the build checks the result and
# fails, naming the platform, rather than ship a GPU image that can only run on the CPU.
RUN if [ "$VARIANT" = "gpu" ]; then \
      cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=true node script/install.js && \
      platform="$(node -p 'process.platform + "/" + process.arch')" && \
      lib="bin/napi-v6/$platform/libonnxruntime_providers_cuda.so" && \
      if [ ! -f "$lib" ]; then \
        echo "GPU image: $lib is missing; onnxruntime-node installs no CUDA provider for $platform" >&2; exit 1; \
      fi; \
    fi

# What Linux never loads: other platforms' onnxruntime binaries, better-sqlite3's sources and object files, and the
# browser builds of the OpenTelemetry packages (Node resolves their build/src). test/deploy-files.test.ts checks
# every path here against the packages' layout, and test/production-pod.test.ts runs both servers on the result.
RUN arch="$(node -p process.arch)" && other="$([ "$arch" = x64 ] && echo arm64 || echo x64)" && \
    rm -rf node_modules/onnxruntime-node/bin/napi-v6/darwin node_modules/onnxruntime-node/bin/napi-v6/win32 \
      "node_modules/onnxruntime-node/bin/napi-v6/linux/$other" \
      node_modules/better-sqlite3/deps node_modules/better-sqlite3/src \
      node_modules/better-sqlite3/build/Release/obj node_modules/better-sqlite3/build/Release/obj.target \
      node_modules/@opentelemetry/*/build/esm node_modules/@opentelemetry/*/build/esnext

FROM ${NODE_IMAGE} AS runtime-cpu
ENV EXECUTION_PROVIDERS=cpu

FROM ${CUDA_IMAGE} AS runtime-gpu
COPY --from=build /usr/local/bin/node /usr/local/bin/node
# Prefer CUDA; on a node without a usable GPU, fall back to the CPU with a warning and a metric label.
ENV EXECUTION_PROVIDERS=cuda,cpu

FROM runtime-${VARIANT}
# glibc's allocator (docs/performance.md, "Memory"). It gives each thread (libvips', onnxruntime's) an arena of
# its own: two arenas are enough. And it raises its mmap threshold to the largest block it has freed, so after one
# 12 MP photo its 36 MB decodes would come from the arenas and stay in RSS. Fixing the threshold at 4 MiB turns that
# off (mallopt(3); the trim threshold goes at twice it, as glibc pairs them) and keeps a request's usual blocks
# (bus.jpg's 2.6 MB decode, the model's 2.8 MB output) in the arenas, reused from one request to the next, while
# anything larger goes back on free. The 4.9 MB input tensors the service reuses itself (tensor-pool.ts). No
# glibc.malloc.hugetlb: with the arenas in 2 MiB pages RSS after 1,000 requests reached 261 MB.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=4194304 \
    MALLOC_TRIM_THRESHOLD_=8388608 \
    PORT=8080 \
    MODEL_PATH=/models/model.onnx \
    INPUT_DIR=/data/input \
    OUTPUT_DIR=/data/output
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# An unprivileged numeric user, so runAsNonRoot can verify it without a passwd entry. The root filesystem can be
# read-only: the service writes only to OUTPUT_DIR, and libraries to /tmp (an emptyDir in the manifests).
USER 10001:10001
EXPOSE 8080
# node is PID 1 and handles SIGTERM itself (drains in-flight requests, then exits 0): no npm in between.
CMD ["node", "dist/server/start.js"]
