# lined container image: mkindex, getline and lined, static, in an empty image.
#
#   docker build -t lined .            # needs BuildKit (RUN --mount): Docker 23+,
#                                      # or DOCKER_BUILDKIT=1 with Docker 20.10
#   docker run --rm -p 8000:8000 -v "$PWD/big.txt:/data/lines.txt:ro" \
#       -v lined-index:/var/lib/lined lined
#
# Paths in the image:
#   /data/lines.txt       the file to serve (LINED_FILE); mount it read-only.
#   /var/lib/lined/       the index (LINED_INDEX=/var/lib/lined/lines.idx), owned
#                         by the unprivileged user; mount a volume there to keep
#                         the index across containers (lined builds it if missing
#                         or stale, or run mkindex first: --entrypoint mkindex).
#   /usr/local/bin/       lined (the entrypoint), mkindex, getline.
# The file must be readable by uid 65532 (world-readable, or run with --user).
# No shell, no CA certificates, no other files: the binaries need none.

# The builder. scripts/container-smoke.sh provides an image under this exact
# name when no registry is reachable; keep the two in step.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/usr/local/bin/ ./cmd/... \
 && mkdir -p /out/var/lib/lined /out/data

FROM scratch
COPY --from=build /out/usr/local/bin/ /usr/local/bin/
# /data is only a mount point; the index directory must be writable by USER,
# and an empty named volume mounted there inherits this ownership.
COPY --from=build /out/data /data
COPY --from=build --chown=65532:65532 /out/var/lib/lined /var/lib/lined
ENV LINED_FILE=/data/lines.txt \
    LINED_INDEX=/var/lib/lined/lines.idx
USER 65532:65532
EXPOSE 8000
VOLUME ["/var/lib/lined"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/lined", "--probe"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/lined"]
