"""Agent settings and the LLM model they describe.

The settings belong to the kernel (one per kernel process, shared by its contexts) and
can be changed at run time with ``set_agent_model_request``. Reading them imports
nothing heavy; :meth:`AgentSettings.create_model` imports the provider's archytas model
class, which is the moment the LLM stack is loaded.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

from traitlets import Dict, Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import AgentError, ModelNotConfiguredError
from ..settings import env_float, env_int


class AgentSettings(LoggingConfigurable):
    """How the agent reaches its model, and the limits of its default tools."""

    provider_import_path = Unicode(
        help="The archytas model class of the LLM provider, as 'module:Class' or "
        "'module.Class' (e.g. 'archytas.models.openai:OpenAIModel'). "
        "Environment: LLM_PROVIDER_IMPORT_PATH.",
    ).tag(config=True)

    @default("provider_import_path")
    def _default_provider_import_path(self) -> str:
        return os.environ.get("LLM_PROVIDER_IMPORT_PATH", "")

    model_name = Unicode(
        help="The provider's model name ('' for the model class's default). "
        "Environment: LLM_SERVICE_MODEL.",
    ).tag(config=True)

    @default("model_name")
    def _default_model_name(self) -> str:
        return os.environ.get("LLM_SERVICE_MODEL", "")

    api_key = Unicode(
        help="The provider's API key or token ('' to let the provider read its own "
        "environment variable, e.g. OPENAI_API_KEY). Environment: LLM_SERVICE_TOKEN.",
    ).tag(config=True)

    @default("api_key")
    def _default_api_key(self) -> str:
        return os.environ.get("LLM_SERVICE_TOKEN", "")

    model_options = Dict(
        help="Extra fields of the archytas model configuration, e.g. "
        '{"base_url": "http://gateway:4000/v1"} for an OpenAI-compatible server. '
        "Environment: BEAKER_AGENT_MODEL_OPTIONS (a JSON object).",
    ).tag(config=True)

    @default("model_options")
    def _default_model_options(self) -> dict[str, Any]:
        raw = os.environ.get("BEAKER_AGENT_MODEL_OPTIONS", "")
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise AgentError(f"BEAKER_AGENT_MODEL_OPTIONS is not valid JSON: {e}") from e
        if not isinstance(value, dict):
            raise AgentError("BEAKER_AGENT_MODEL_OPTIONS must be a JSON object")
        return value

    ask_user_timeout = Float(
        help="Seconds the ask_user tool waits for the user's answer. "
        "Environment: BEAKER_AGENT_ASK_USER_TIMEOUT.",
    ).tag(config=True)

    @default("ask_user_timeout")
    def _default_ask_user_timeout(self) -> float:
        return env_float("BEAKER_AGENT_ASK_USER_TIMEOUT", 300.0)

    output_limit = Int(
        help="Characters of a tool's output the model sees; longer output keeps its "
        "beginning and end. Environment: BEAKER_AGENT_OUTPUT_LIMIT.",
    ).tag(config=True)

    @default("output_limit")
    def _default_output_limit(self) -> int:
        return env_int("BEAKER_AGENT_OUTPUT_LIMIT", 4000)

    state_timeout = Float(
        help="Seconds to wait for the subkernel's variables before each model call "
        "(a busy subkernel is reported as such instead). "
        "Environment: BEAKER_AGENT_STATE_TIMEOUT.",
    ).tag(config=True)

    @default("state_timeout")
    def _default_state_timeout(self) -> float:
        return env_float("BEAKER_AGENT_STATE_TIMEOUT", 10.0)

    max_react_steps = Int(
        help="Model calls allowed for one request before the agent gives up. "
        "Environment: BEAKER_AGENT_MAX_REACT_STEPS.",
    ).tag(config=True)

    @default("max_react_steps")
    def _default_max_react_steps(self) -> int:
        return env_int("BEAKER_AGENT_MAX_REACT_STEPS", 30)

    allowed_models = Dict(
        help="Models front ends may switch to with set_agent_model: {provider_id: "
        '{"import_path": "module.Class", "models": ["model name", ...]}}. The configured '
        "model is always allowed, as provider id 'default'; endpoints and keys are never "
        "taken from a client. Environment: BEAKER_AGENT_ALLOWED_MODELS (a JSON object).",
    ).tag(config=True)

    @default("allowed_models")
    def _default_allowed_models(self) -> dict[str, Any]:
        raw = os.environ.get("BEAKER_AGENT_ALLOWED_MODELS", "")
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise AgentError(f"BEAKER_AGENT_ALLOWED_MODELS is not valid JSON: {e}") from e
        if not isinstance(value, dict):
            raise AgentError("BEAKER_AGENT_ALLOWED_MODELS must be a JSON object")
        return value

    #: The provider id and model name a client chose (set_agent_model), or None.
    _choice: tuple[str, str] | None = None

    def configured(self) -> bool:
        return bool(self.provider_import_path)

    def providers(self) -> dict[str, dict[str, Any]]:
        """Provider id → ``{import_path, models, options?}`` clients may choose from."""
        result: dict[str, dict[str, Any]] = {}
        if self.provider_import_path:
            result["default"] = {
                "import_path": self.provider_import_path,
                "models": [self.model_name] if self.model_name else [],
                "options": dict(self.model_options),
                "api_key": self.api_key,
            }
        for provider_id, entry in self.allowed_models.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("import_path"), str):
                self.log.warning("allowed_models[%r] needs an import_path; ignored", provider_id)
                continue
            models = entry.get("models", [])
            result[str(provider_id)] = {
                "import_path": entry["import_path"],
                "models": [str(m) for m in models] if isinstance(models, list) else [],
                "options": dict(entry.get("options") or {}),
                "api_key": "",
            }
        return result

    def choose(self, provider_id: str | None, model_config: Any) -> tuple[str, str]:
        """Check a client's choice against :meth:`providers`; nothing is imported here.

        Returns ``(provider id, model name)``. Raises :class:`MessageError` naming what
        is allowed.
        """
        from ..errors import MessageError

        providers = self.providers()
        if model_config is None:
            model_config = {}
        if not isinstance(model_config, dict):
            raise MessageError("set_agent_model: model_config must be an object")
        extra = sorted(set(model_config) - {"model_name", "default_model_name"})
        if extra:
            raise MessageError(
                f"set_agent_model may choose a model_name only; {', '.join(extra)} cannot be "
                "set by a client (endpoints and credentials are the operator's settings)."
            )
        current = self._choice[0] if self._choice else "default"
        chosen = provider_id or current
        if chosen not in providers:
            raise MessageError(
                f"Unknown or disallowed provider {chosen!r}. Allowed: "
                f"{', '.join(sorted(providers)) or 'none (no LLM is configured)'}."
            )
        entry = providers[chosen]
        name = str(model_config.get("model_name") or model_config.get("default_model_name") or "")
        if not name:
            name = entry["models"][0] if entry["models"] else ""
        elif entry["models"] and name not in entry["models"]:
            raise MessageError(
                f"Model {name!r} is not allowed for provider {chosen!r}. Allowed: "
                f"{', '.join(entry['models'])}."
            )
        return chosen, name

    def select(self, provider_id: str, model_name: str) -> None:
        self._choice = (provider_id, model_name)

    def reset_choice(self) -> None:
        self._choice = None

    def describe(self) -> dict[str, str]:
        """Provider and model, for replies; never the key."""
        provider_id, model_name = self._choice or ("default", self.model_name)
        entry = self.providers().get(provider_id, {})
        return {
            "provider_id": provider_id,
            "provider": str(entry.get("import_path", "")),
            "model": model_name,
        }

    def create_model(self) -> Any:
        """A new instance of the chosen (or else the configured) archytas model class.

        Raises :class:`ModelNotConfiguredError` when no provider is set and
        :class:`AgentError` when the class cannot be loaded or refuses the settings.
        """
        providers = self.providers()
        provider_id, model_name = self._choice or ("default", self.model_name)
        entry = providers.get(provider_id)
        if entry is None:
            raise ModelNotConfiguredError()
        path = entry["import_path"]
        model_class = import_object(path, "LLM_PROVIDER_IMPORT_PATH")
        from archytas.models.base import BaseArchytasModel

        if not (isinstance(model_class, type) and issubclass(model_class, BaseArchytasModel)):
            raise AgentError(
                f"{path} is not an archytas model class "
                "(a subclass of archytas.models.base.BaseArchytasModel)"
            )
        config: dict[str, Any] = dict(entry["options"])
        config["model_name"] = model_name or getattr(model_class, "DEFAULT_MODEL", None) or ""
        if entry["api_key"]:
            config["api_key"] = entry["api_key"]
        try:
            model = model_class(config)
        except Exception as e:
            from .errors import explain

            raise explain(e) from e
        if model.summarization_threshold is None:
            # archytas compares the history's size with this threshold after each
            # request; a model of unknown context size would fail that comparison.
            model.config.summarization_threshold = 100_000
        return model


def split_import_path(path: str) -> tuple[str, str]:
    """``(module, attribute)`` of ``module:attribute`` or ``module.attribute``."""
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    return module_name, attribute


def import_object(path: str, what: str) -> Any:
    """The object named by ``module:attribute`` or ``module.attribute``."""
    module_name, attribute = split_import_path(path)
    if not module_name or not attribute:
        raise AgentError(f"{what} must look like 'package.module:Class', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise AgentError(
            f"{what}: cannot import {module_name!r} ({e}). Is the provider's package "
            "installed (e.g. pip install 'beaker-kernel[agent]')?"
        ) from e
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise AgentError(f"{what}: module {module_name!r} has no {attribute!r}") from None
