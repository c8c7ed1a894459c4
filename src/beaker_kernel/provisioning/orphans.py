"""Removing kernel containers that no running service manages any more.

A service killed with SIGKILL (or a crashed Docker host) cannot remove its kernel
containers. Every container :class:`~.DockerProvisioner` starts carries the label
``org.beaker-kernel.instance=<instance>``; when the service starts, none of its instance's
containers can be managed by anyone, so all of them go.

Run it by hand with ``python -m beaker_kernel.provisioning remove-orphans [--instance NAME]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from .docker_client import LABEL_INSTANCE, docker_client
from .errors import DockerUnavailableError

log = logging.getLogger(__name__)


def _instance(parent: Any) -> str:
    # Read DockerProvisioner.instance the way a kernel would, so config files apply.
    from .docker_provisioner import DockerProvisioner

    return str(DockerProvisioner(parent=parent).instance)


def remove_orphaned_containers_blocking(
    parent: Any = None, *, instance: str | None = None
) -> list[str]:
    """Remove every kernel container of this service instance; return their names.

    ``instance`` defaults to ``DockerProvisioner.instance`` as configured for ``parent`` (the
    ``ServerApp``, say). Call it before the service starts any kernel. Without the Docker SDK
    or engine there is nothing to remove: it logs that and returns ``[]``.
    """
    name = instance or _instance(parent)
    try:
        client = docker_client()
    except DockerUnavailableError as e:
        log.info("No orphaned kernel containers removed: %s", e)
        return []
    try:
        found = client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={name}"})
        removed = []
        for container in found:
            container.remove(force=True)
            removed.append(container.name)
    finally:
        client.close()
    if removed:
        log.warning(
            "Removed %d kernel container(s) left by an earlier run of %r: %s",
            len(removed),
            name,
            ", ".join(removed),
        )
    return removed


async def remove_orphaned_containers(
    parent: Any = None, *, instance: str | None = None
) -> list[str]:
    """Async twin of :func:`remove_orphaned_containers_blocking` (Docker calls in a thread)."""
    return await asyncio.to_thread(remove_orphaned_containers_blocking, parent, instance=instance)


def main(argv: list[str] | None = None) -> None:
    """``python -m beaker_kernel.provisioning remove-orphans``: what a service does at start-up."""
    parser = argparse.ArgumentParser(
        prog="python -m beaker_kernel.provisioning remove-orphans",
        description="Remove the kernel containers of a service instance.",
    )
    parser.add_argument(
        "--instance", help="service instance (default: BEAKER_DOCKER_INSTANCE or 'beaker')"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[beaker] %(message)s")
    removed = remove_orphaned_containers_blocking(instance=args.instance)
    print(f"removed {len(removed)} orphaned kernel container(s)")


if __name__ == "__main__":
    main()
