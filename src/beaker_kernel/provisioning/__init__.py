"""Kernel provisioners that run subkernels in containers.

:class:`DockerProvisioner` (entry point ``beaker-docker-provisioner`` in the
``jupyter_client.kernel_provisioners`` group) starts a kernel in a container of a language
image (``images/python``, ``images/r``, ``images/julia``). A kernelspec selects it with::

    "metadata": {"kernel_provisioner": {
        "provisioner_name": "beaker-docker-provisioner",
        "config": {"image": "beaker-python:latest"}}}

A service that uses it calls :func:`remove_orphaned_containers` once at start-up: kernel
containers of an earlier process of the same service (killed before it could stop them)
are removed then.

The Docker SDK is optional: ``pip install 'beaker-kernel[docker]'``.
"""

from __future__ import annotations

from .docker_provisioner import DockerProvisioner
from .errors import ContainerStartError, DockerProvisionerError, DockerUnavailableError
from .orphans import remove_orphaned_containers, remove_orphaned_containers_blocking

__all__ = [
    "ContainerStartError",
    "DockerProvisioner",
    "DockerProvisionerError",
    "DockerUnavailableError",
    "remove_orphaned_containers",
    "remove_orphaned_containers_blocking",
]
