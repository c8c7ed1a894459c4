"""The Docker SDK, imported only when a container kernel is used, and its labels."""

from __future__ import annotations

import os
from typing import Any

from .errors import DockerUnavailableError

#: Label every kernel container carries: the kernel id jupyter_client gave it.
LABEL_KERNEL_ID = "org.beaker-kernel.kernel-id"
#: Label naming the service instance that owns the container (see ``DockerProvisioner.instance``).
LABEL_INSTANCE = "org.beaker-kernel.instance"


def default_instance() -> str:
    """The service instance when none is configured: ``BEAKER_DOCKER_INSTANCE`` or ``beaker``."""
    return os.environ.get("BEAKER_DOCKER_INSTANCE") or "beaker"


def docker_client() -> Any:
    """A Docker client configured from the environment (``DOCKER_HOST`` & co.). Blocking.

    Raises :class:`DockerUnavailableError` when the SDK is missing or the engine does not answer.
    """
    try:
        import docker
    except ImportError as e:
        raise DockerUnavailableError(
            "Container kernels need the Docker SDK for Python: pip install 'beaker-kernel[docker]'"
        ) from e
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        where = os.environ.get("DOCKER_HOST") or "the default socket"
        raise DockerUnavailableError(f"Cannot reach the Docker engine ({where}): {e}") from e
    return client
