# The Beaker service image: `beaker serve` with Beaker kernels as local processes and one container
# kernelspec per language (images/kernelspecs), whose subkernels the Docker provisioner runs in the
# images of images/python, images/r and images/julia (offline target). See docs/deploy.md.
#
#   docker build -t beaker-service .            (compose.yaml does this, and builds the kernel images)
#
# Behind a TLS-intercepting proxy, pass its CA bundle as the optional secret `extra_ca`
# (docker build --secret id=extra_ca,src=/etc/ssl/certs/ca-certificates.crt .); without it the build is unchanged.

# The wheel's build hook bundles the development interface (beaker serve --dev-ui) with npm; the build
# fails rather than ship an image without it (BEAKER_DEV_UI_BUILD=required).
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates nodejs npm \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY src/ src/
COPY contexts/ contexts/
COPY procedures/ procedures/
ENV BEAKER_DEV_UI_BUILD=required
RUN --mount=type=secret,id=extra_ca,required=false \
    --mount=type=cache,target=/root/.npm \
    if [ -s /run/secrets/extra_ca ]; then \
        export PIP_CERT=/run/secrets/extra_ca NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; \
    fi \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir -q build \
 && /opt/build/bin/python -m build --wheel --outdir /wheels . \
 && python3 -m venv /opt/beaker \
 && /opt/beaker/bin/pip install --no-cache-dir --no-compile "$(ls /wheels/*.whl)[docker]" \
 && /opt/beaker/bin/pip uninstall -y -q pip setuptools \
 && rm -rf /opt/beaker/share/jupyter/kernels/python3 \
 && find /opt/beaker -name '__pycache__' -prune -exec rm -rf {} +

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc/* /usr/share/man/*
COPY --from=build /opt/beaker /opt/beaker
COPY images/kernelspecs/ /usr/local/share/jupyter/kernels/
# /opt/beaker/contexts: where contexts of your own are mounted (empty otherwise).
RUN useradd --create-home --uid 1000 --user-group beaker \
 && install -d -o beaker -g beaker -m 0700 /home/beaker/work \
 && install -d -m 0755 /opt/beaker/contexts

# Only Beaker and the container kernelspecs are offered: no kernel runs user code in this container
# (it holds the Docker socket). The workspace volume is the root of the contents API and is mounted at
# the same place in every kernel container.
COPY <<'JSON' /etc/jupyter/jupyter_server_config.json
{
  "ServerApp": {"root_dir": "/home/beaker/work"},
  "KernelSpecManager": {
    "allowed_kernelspecs": ["beaker_kernel", "python3-docker", "ir-docker", "julia-docker"]
  }
}
JSON

# The entry point runs as `beaker`, which reaches the mounted Docker socket through the socket's group,
# added to the container by compose.yaml (group_add: BEAKER_DOCKER_GID) or `docker run --group-add <gid>`.
# Started as root instead (docker run --user 0), it only adds that group and drops to `beaker`; it never
# runs Python as root. Kernel containers an earlier run left behind are removed first.
COPY --chmod=0755 <<'SH' /usr/local/bin/beaker-service-entrypoint
#!/bin/sh
set -eu
socket=/var/run/docker.sock
if [ "$(id -u)" = 0 ]; then
    groups=1000
    if [ -S "$socket" ]; then groups="1000,$(stat -c %g "$socket")"; fi
    exec setpriv --reuid=1000 --regid=1000 --groups="$groups" --inh-caps=-all --no-new-privs -- "$0" "$@"
fi
if [ ! -S "$socket" ]; then
    echo "[beaker] $socket is not mounted: container kernels cannot start" >&2
elif [ ! -r "$socket" ] || [ ! -w "$socket" ]; then
    gid=$(stat -c %g "$socket")
    echo "[beaker] $socket belongs to group $gid, which user $(id -un) of this container is not in:" \
         "set BEAKER_DOCKER_GID=$gid for docker compose (or docker run --group-add $gid)" >&2
    exit 1
else
    python3 -m beaker_kernel.provisioning remove-orphans
fi
exec "$@"
SH

# The health check runs as `beaker` and runs no Python: one HTTP request over bash's /dev/tcp.
COPY --chmod=0755 <<'SH' /usr/local/bin/beaker-healthcheck
#!/bin/bash
# Exit 0 when GET /health on the service's port answers 200.
exec 3<>"/dev/tcp/127.0.0.1/${BEAKER_PORT:-8888}" || exit 1
printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
IFS= read -r -t 4 status <&3 || exit 1
case "$status" in
    "HTTP/1."?" 200 "*) exit 0 ;;
esac
echo "GET /health: $status" >&2
exit 1
SH

# No Python process here ever imports from a folder kernels can write: PYTHONSAFEPATH keeps the working
# directory and script folders off sys.path, the working directory /opt/beaker belongs to root, and the
# Beaker kernelspec starts `python -P` (Jupyter runs kernels of a notebook in the notebook's folder, which
# is in the shared workspace).
ENV PATH=/opt/beaker/bin:$PATH \
    HOME=/home/beaker \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    BEAKER_IP=0.0.0.0 \
    BEAKER_PORT=8888 \
    BEAKER_DOCKER_NETWORK=beaker-kernels \
    BEAKER_WORKSPACE_VOLUME=beaker-workspace \
    BEAKER_CONTEXT_PATH=/opt/beaker/contexts
WORKDIR /opt/beaker
USER beaker
EXPOSE 8888
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s CMD ["/usr/local/bin/beaker-healthcheck"]
ENTRYPOINT ["/usr/local/bin/beaker-service-entrypoint"]
CMD ["beaker", "serve"]
