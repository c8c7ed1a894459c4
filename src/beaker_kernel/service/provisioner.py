"""The provisioner of the ``beaker_kernel`` kernelspec.

A local process, like jupyter_client's ``LocalProvisioner``, plus two things when it runs
inside the Beaker service:

* the Beaker kernel gets the service's address, a token and its own kernel id, so that
  it starts its subkernels through the service, and the secrets the service keeps from
  every other kernel (LLM keys);
* when the Beaker kernel goes away (shutdown, kill, crash), its subkernels are deleted;
* it tells the Beaker kernel which subkernel the service started for it (prestart.py).

Outside the service (``jupyter console``, a plain ``jupyter server``) it behaves exactly
like ``LocalProvisioner``.
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from .prestart import ENV as PRESTART_ENV
from .state import get_state


class BeakerKernelProvisioner(LocalProvisioner):
    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        state = get_state()
        if state is not None:
            env = dict(kwargs.get("env") or os.environ)
            env.update(state.beaker_only_env)
            env["BEAKER_SERVICE_URL"] = state.url
            env["BEAKER_SERVICE_TOKEN"] = state.token
            env["BEAKER_KERNEL_ID"] = str(self.kernel_id)
            env.pop(PRESTART_ENV, None)
            prestart = state.prestarts.get(str(self.kernel_id))
            if prestart is not None:
                env[PRESTART_ENV] = prestart.kernel_name
            kwargs["env"] = env
        result: dict[str, Any] = await super().pre_launch(**kwargs)
        return result

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        state = get_state()
        if state is not None:
            await state.delete_children(str(self.kernel_id))
