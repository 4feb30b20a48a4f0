"""Pin the public names: every export exists, the lists are sorted, nothing leaks by accident."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "agenthub",
    "agenthub.errors",
    "agenthub.runtime",
    "agenthub.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=str.casefold) or exported == sorted(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which does not exist"


def test_top_level_names() -> None:
    import agenthub

    assert set(agenthub.__all__) == {
        "AgentHubError",
        "BusinessRuleViolation",
        "ConfigurationError",
        "ConnectionFailedError",
        "EmbeddedServer",
        "InvalidInput",
        "PermanentFailure",
        "Settings",
        "TransientFailure",
        "__version__",
        "build_worker",
        "connect",
        "run_worker",
    }
