# lined container image: mkindex, getline and lined, static, in an empty image.
#
#   docker build -t lined .            # any builder: BuildKit or the classic one
#   docker run --rm -p 8000:8000 -v "$PWD/big.txt:/data/lines.txt:ro" \
#       -v lined-index:/var/lib/lined lined
#
# Paths in the image:
#   /data/lines.txt       the file to serve (LINED_FILE; several: LINED_FILE=a,b);
#                         mount it read-only.
#   /var/lib/lined/       the indexes, owned by the unprivileged user: the cache
#                         directory (XDG_CACHE_HOME), where the tools keep the
#                         index of a file whose own directory they cannot write
#                         (lined/NAME-HASH.idx). Mount a volume there to keep
#                         them across containers (lined builds an index if it is
#                         missing or stale, or run mkindex first: --entrypoint
#                         mkindex, no arguments, indexes LINED_FILE's files).
#                         A FILE.idx beside the file is used if it is valid.
#   /usr/local/bin/       lined (the entrypoint), mkindex, getline.
# The file must be readable by uid 65532 (world-readable, or run with --user).
# No shell, no CA certificates, no other files: the binaries need none.

# The builder. scripts/container-smoke.sh provides an image under this exact
# name when no registry is reachable; keep the two in step.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# The modules, and the packages the binaries import from them, compiled
# into the image's Go build cache: layers that a change to the source does
# not invalidate, so that a rebuild compiles lined's own packages only. (No
# RUN --mount cache: the classic builder has none.) A package missing from
# this list is still compiled, in the last step.
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download \
 && go build -trimpath \
      github.com/prometheus/client_golang/prometheus \
      github.com/prometheus/client_golang/prometheus/collectors \
      github.com/prometheus/client_golang/prometheus/promhttp \
      github.com/urfave/cli/v2 \
      golang.org/x/sys/unix \
      golang.org/x/term
COPY . .
RUN go build -trimpath -ldflags "-s -w" -o /out/usr/local/bin/ ./cmd/... \
 && mkdir -p /out/var/lib/lined /out/data

FROM scratch
COPY --from=build /out/usr/local/bin/ /usr/local/bin/
# /data is only a mount point; the index directory must be writable by USER,
# and an empty named volume mounted there inherits this ownership.
COPY --from=build /out/data /data
COPY --from=build --chown=65532:65532 /out/var/lib/lined /var/lib/lined
ENV LINED_FILE=/data/lines.txt \
    XDG_CACHE_HOME=/var/lib/lined
USER 65532:65532
EXPOSE 8000
VOLUME ["/var/lib/lined"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/lined", "--probe"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/lined"]
