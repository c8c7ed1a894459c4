"""Which environment variables a subkernel may see.

Subkernels run user code. They must not inherit the service's token, the token a Beaker
kernel uses to call its service, or LLM provider keys (design: secure by default).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

#: Exact names never passed to a subkernel.
SECRET_NAMES = frozenset(
    {
        "JUPYTER_TOKEN",
        "JPY_API_TOKEN",
        "BEAKER_SERVICE_TOKEN",
        "BEAKER_SERVICE_URL",
        "BEAKER_KERNEL_ID",
        "LLM_SERVICE_TOKEN",
        "LLM_PROVIDER_IMPORT_PATH",
        "LLM_SERVICE_MODEL",
    }
)

#: Name patterns never passed to a subkernel (provider keys and the like).
SECRET_PATTERN = re.compile(
    r"(_API_KEY|_SECRET|_SECRET_KEY|_ACCESS_KEY|_TOKEN|_PASSWORD)$|^LLM_|^TOOL_ENABLED_",
    re.IGNORECASE,
)


def is_secret(name: str) -> bool:
    """Whether the variable ``name`` must be withheld from subkernels."""
    return name in SECRET_NAMES or SECRET_PATTERN.search(name) is not None


def subkernel_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: this process's environment) without secrets."""
    source = os.environ if base is None else base
    return {name: value for name, value in source.items() if not is_secret(name)}
