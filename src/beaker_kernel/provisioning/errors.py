"""Errors of the container provisioners.

::

    DockerProvisionerError (RuntimeError)
    ├── DockerUnavailableError   the Docker SDK is not installed or the engine does not answer
    └── ContainerStartError      the kernel container could not be created or exited at once

jupyter_client reports an exception raised while a kernel starts to whoever asked for the
kernel (``POST /api/kernels`` answers 500 with the message), so messages say what to do.
"""

from __future__ import annotations


class DockerProvisionerError(RuntimeError):
    """Base of the errors raised by :class:`~.DockerProvisioner`."""


class DockerUnavailableError(DockerProvisionerError):
    """The Docker SDK is missing or the Docker engine cannot be reached."""


class ContainerStartError(DockerProvisionerError):
    """A kernel container could not be started.

    ``image`` is the image it was started from; ``logs`` the end of its output, if it ran.
    """

    def __init__(self, message: str, *, image: str, logs: str = "") -> None:
        super().__init__(message)
        self.image = image
        self.logs = logs
