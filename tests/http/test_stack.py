"""The private names of Connexion the sandbox relies on (sandbox/http/stack.py lists them) are still there."""
from __future__ import annotations

import importlib
import inspect

import pytest

from sandbox.http.stack import CONNEXION_PRIVATE


@pytest.mark.parametrize("owner, name, how", CONNEXION_PRIVATE, ids=[f"{o.rsplit('.', 1)[1]}.{n}" for o, n, _ in
                                                                      CONNEXION_PRIVATE])
def test_a_private_name_of_connexion_the_sandbox_overrides_is_still_there(owner, name, how):
    module, _, cls = owner.rpartition(".")
    found = getattr(importlib.import_module(module), cls)
    if how == "attribute":
        assert hasattr(found, name), f"Connexion's {owner} no longer has {name}: see sandbox/http/stack.py"
    else:
        assert f"self.{name}" in inspect.getsource(found.__init__), \
            f"Connexion's {owner}.__init__ no longer uses self.{name}: see sandbox/http/stack.py"


def test_the_scope_keys_the_sandbox_reads_are_connexions():
    from connexion.middleware import context, routing

    assert routing.ROUTING_CONTEXT == "connexion_routing"
    assert '"connexion_context"' in inspect.getsource(context.ContextOperation)


def test_the_list_is_checked_for_real():
    with pytest.raises(AssertionError):
        test_a_private_name_of_connexion_the_sandbox_overrides_is_still_there(
            "connexion.spec.Specification", "_no_such_name", "attribute")


@pytest.mark.parametrize("path, first", [("/openapi.json", "/"), ("/_sandbox/openapi.json", "/_sandbox")])
def test_the_served_contract_names_this_sandbox_first_then_the_platform(client, path, first):
    servers = client.get(path).json()["servers"]
    assert servers[0] == {"url": first, "description": "this sandbox"}  # never the blank entry Swagger UI showed
    if first == "/":
        assert {"url": "https://api.send.ai"} in servers
