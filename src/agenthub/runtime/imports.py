"""Finding user code by name: ``pkg.module`` or ``pkg.module:attr`` (``attr`` may be a dotted
path), as ``--app``, ``AGENTHUB_APPS`` and ``agenthub.toml`` name it.

Like uvicorn, modules are looked up from where the process runs as well, and a failure is
one line that says where the name came from.

Example::

    module, tool = resolve_import("myapp.tools:book_hotel", where="agents.trip.tools[0]")
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any

from agenthub.errors import ConfigurationError

__all__ = ["resolve_import"]


def resolve_import(spec: str, *, where: str) -> tuple[ModuleType, Any | None]:
    """The module ``spec`` names and the object after its ``:`` (``None`` without one).

    Raises:
        ConfigurationError: ``where`` first, then what failed: an empty name, a module that
            cannot be imported (its error in one line), or a missing attribute.
    """
    module_name, _, attr = spec.strip().partition(":")
    if not module_name:
        raise ConfigurationError(f"{where}: give pkg.module or pkg.module:attr")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's import error, in one line
        raise ConfigurationError(
            f"{where}: cannot import {module_name}: {type(err).__name__}: {err}"
        ) from None
    if not attr:
        return module, None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigurationError(f"{where}: {module_name} has no {attr!r}")
        target = getattr(target, part)
    return module, target
