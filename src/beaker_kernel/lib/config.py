"""Settings contexts read, under upstream Beaker's names (``beaker_kernel.lib.config.config``).

Beaker's own settings are traitlets (see ``docs/configuration.md``); this object gives
contexts written for upstream the attributes they read, from the same environment
variables upstream uses. Values are read when asked for, never at import time.
Upstream's TOML configuration file is not read.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..settings import parse_bool

if TYPE_CHECKING:
    from ..agent.settings import AgentSettings


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = parse_bool(raw)
    except ValueError:
        return default
    return default if value is None else value


class Config:
    """Lazy view of the environment with upstream Beaker's attribute names."""

    def __init__(self) -> None:
        self._agent_settings: AgentSettings | None = None

    def attach_agent_settings(self, settings: AgentSettings | None) -> None:
        """Used by the kernel: :meth:`get_model` builds models from these settings."""
        self._agent_settings = settings

    @property
    def jupyter_server(self) -> str:
        return os.environ.get("JUPYTER_SERVER") or os.environ.get("BEAKER_SERVICE_URL", "")

    @property
    def enable_checkpoints(self) -> bool:
        return _flag("ENABLE_CHECKPOINTS", True)

    @property
    def send_kernel_state(self) -> bool:
        return _flag("SEND_KERNEL_STATE", True)

    @property
    def send_notebook_state(self) -> bool:
        return _flag("SEND_NOTEBOOK_STATE", False)

    @property
    def beaker_run_path(self) -> str:
        return os.environ.get("BEAKER_RUN_PATH") or os.path.expanduser(
            "~/.local/share/beaker/runtime"
        )

    @property
    def checkpoint_storage_path(self) -> str:
        return os.path.join(self.beaker_run_path, "checkpoints")

    @property
    def tools_enabled(self) -> dict[str, bool]:
        prefix = "TOOL_ENABLED_"
        result: dict[str, bool] = {"ask_user": True, "run_code": True}
        for name in os.environ:
            if name.startswith(prefix):
                result[name[len(prefix) :].lower()] = _flag(name, True)
        return result

    @property
    def model_provider_import_path(self) -> str:
        return os.environ.get("LLM_PROVIDER_IMPORT_PATH", "")

    @property
    def model_name(self) -> str:
        return os.environ.get("LLM_SERVICE_MODEL", "")

    @property
    def llm_service_token(self) -> str:
        return os.environ.get("LLM_SERVICE_TOKEN", "")

    def get_model(self, provider_id: str | None = None, model_config: Any = None) -> Any:
        """A model of the kernel's configured provider (``None`` outside a kernel)."""
        settings = self._agent_settings
        if settings is None or not settings.configured():
            return None
        return settings.create_model()


config = Config()


def reset_config() -> None:
    """Upstream re-reads its file here; Beaker's values are always read fresh."""


__all__ = ["Config", "config", "reset_config"]
