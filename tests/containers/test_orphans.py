"""Kernel containers outlive a killed service only until it starts again."""

from __future__ import annotations

import pytest

from .conftest import (
    _require_docker,
    container_of,
    labelled_containers,
    new_deployment,
    remove_deployment,
)
from .test_matrix import setup_context

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(300)]


def test_service_start_removes_containers_of_a_killed_service() -> None:
    _require_docker()
    deployment = new_deployment()
    try:
        deployment.up()
        beaker_id = deployment.start_beaker()
        ws = deployment.connect(beaker_id)
        try:
            setup_context(ws, "default", "rlang")
        finally:
            ws.close()
        sub_id = deployment.subkernel_of(beaker_id)["id"]
        orphan = container_of(sub_id)["Name"].lstrip("/")

        # SIGKILL: the service gets no chance to stop its kernels
        deployment.compose("kill", "-s", "KILL", "beaker")
        assert labelled_containers(deployment.instance) == [orphan]

        deployment.up()
        assert labelled_containers(deployment.instance) == []
        assert "Removed 1 kernel container(s)" in deployment.logs()
        assert deployment.kernels() == []
    finally:
        remove_deployment(deployment)
