"""Which environment variables a subkernel may see.

Subkernels run user code. They get an **allow-list** of variables: what a language runtime
needs to start and behave as the user expects (``PATH``, ``HOME``, the locale, the time
zone, temporary directories, the Python, R, Julia, Conda and Jupyter locations), and
nothing else. A secret that happens to have an unremarkable name (``DATABASE_URL``,
``PGPASSFILE``) therefore stays out, as do the service's token, the token a Beaker kernel
uses to call its service and the LLM provider keys (design: secure by default).

An operator who wants a subkernel to see more names lists them in ``BEAKER_SUBKERNEL_ENV``
(separated by commas or spaces; ``NAME_*`` passes every name with that prefix). Listing a
name is a deliberate choice and wins over the secret-looking name patterns below, but
never over :data:`SECRET_NAMES` (the service's own tokens).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

#: Exact names never passed to a subkernel, whatever ``BEAKER_SUBKERNEL_ENV`` says.
SECRET_NAMES = frozenset(
    {
        "JUPYTER_TOKEN",
        "JUPYTER_TOKEN_FILE",
        "JPY_API_TOKEN",
        "BEAKER_TOKEN",
        "BEAKER_SERVICE_TOKEN",
        "BEAKER_SERVICE_URL",
        "BEAKER_KERNEL_ID",
        "LLM_SERVICE_TOKEN",
        "LLM_PROVIDER_IMPORT_PATH",
        "LLM_SERVICE_MODEL",
    }
)

#: Name patterns of secrets (provider keys and the like). The service removes these from
#: its own environment at start; no name in the allow-list matches them.
SECRET_PATTERN = re.compile(
    r"(_API_KEY|_SECRET|_SECRET_KEY|_ACCESS_KEY|_TOKEN|_PASSWORD)$|^LLM_|^TOOL_ENABLED_",
    re.IGNORECASE,
)

#: Names a subkernel gets from its parent's environment.
SUBKERNEL_NAMES = frozenset(
    {
        # the process and the user
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "HOSTNAME",
        # locale and time
        "LANG",
        "LANGUAGE",
        "TZ",
        # temporary files
        "TMPDIR",
        "TEMP",
        "TMP",
        # shared libraries (conda and system R installations need it)
        "LD_LIBRARY_PATH",
        # certificates for outbound HTTPS (behind TLS-intercepting proxies)
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        # Python
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONSAFEPATH",
        "PYTHONNOUSERSITE",
        "PYTHONHASHSEED",
        "VIRTUAL_ENV",
        "MPLBACKEND",
        "MPLCONFIGDIR",
        "IPYTHONDIR",
        # Conda
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "CONDA_EXE",
        "CONDA_PYTHON_EXE",
        "CONDA_SHLVL",
        # Jupyter
        "JUPYTER_PATH",
        "JUPYTER_DATA_DIR",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_CONFIG_PATH",
        "JUPYTER_PLATFORM_DIRS",
        "JPY_SESSION_NAME",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        # numeric libraries' thread counts
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
    }
)

#: Name prefixes a subkernel gets: the locale categories, R's and Julia's settings.
SUBKERNEL_PREFIXES = ("LC_", "R_", "JULIA_")

#: The variable in which an operator lists further names for subkernels.
EXTRA_NAMES_VARIABLE = "BEAKER_SUBKERNEL_ENV"


def is_secret(name: str) -> bool:
    """Whether the variable ``name`` looks like a secret (a token, a key, an LLM setting)."""
    return name in SECRET_NAMES or SECRET_PATTERN.search(name) is not None


def _extra_names(value: str) -> tuple[frozenset[str], tuple[str, ...]]:
    """The names and ``PREFIX_*`` prefixes listed in ``value``."""
    names: set[str] = set()
    prefixes: list[str] = []
    for item in re.split(r"[\s,]+", value.strip()):
        if not item:
            continue
        if item.endswith("*"):
            if len(item) > 1:
                prefixes.append(item[:-1])
        else:
            names.add(item)
    return frozenset(names), tuple(prefixes)


def passed_to_subkernels(name: str, extra: str = "") -> bool:
    """Whether a subkernel gets the variable ``name``.

    ``extra`` is the value of ``BEAKER_SUBKERNEL_ENV`` (names the operator adds).
    """
    return _allowed(name, *_extra_names(extra))


def _allowed(name: str, extra_names: frozenset[str], extra_prefixes: tuple[str, ...]) -> bool:
    if name in SECRET_NAMES:
        return False
    if name in extra_names or (extra_prefixes and name.startswith(extra_prefixes)):
        return True
    if is_secret(name):
        return False
    return name in SUBKERNEL_NAMES or name.startswith(SUBKERNEL_PREFIXES)


def subkernel_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a subkernel: the allowed entries of ``base``.

    ``base`` defaults to this process's environment. The names an operator adds are read
    from ``BEAKER_SUBKERNEL_ENV`` in ``base`` or, failing that, in this process's
    environment.
    """
    source = os.environ if base is None else base
    extra = source.get(EXTRA_NAMES_VARIABLE) or os.environ.get(EXTRA_NAMES_VARIABLE, "")
    names, prefixes = _extra_names(extra)
    return {name: value for name, value in source.items() if _allowed(name, names, prefixes)}
