"""Every store has every member of the contract (sandbox/store/protocol.py), with the same
parameters: a store that drifts from it fails here."""
from __future__ import annotations

import inspect

import pytest

from sandbox.store.protocol import Store, SyncStore
from tests.store.conftest import STORES


# -- the contract's members, on each store's class --
def members(contract: type) -> list[str]:
    names = [n for klass in contract.__mro__ if klass.__dict__.get("_is_protocol") for n in vars(klass)
             if not n.startswith("_")]
    names += [n for klass in contract.__mro__ if klass.__dict__.get("_is_protocol")
              for n in klass.__dict__.get("__annotations__", {})]
    return sorted(set(names))


def shape(fn) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def drift(store, contract: type) -> dict[str, str]:
    """What of the contract a store lacks or has otherwise: an attribute, or a method's
    parameters (names, kinds, defaults, in order; more are fine if optional) and whether it is
    a coroutine."""
    found = {}
    for name in members(contract):
        want = getattr(contract, name, None)
        if not hasattr(store, name):
            found[name] = "missing"
        elif callable(want):
            have = getattr(type(store), name)
            extra = list(inspect.signature(have).parameters.values())[len(shape(want)):]
            if shape(have)[:len(shape(want))] != shape(want) or any(
                    p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in extra):
                found[name] = f"{inspect.signature(have)} is not {inspect.signature(want)}"
            elif inspect.iscoroutinefunction(have) != inspect.iscoroutinefunction(want):
                found[name] = "async" if inspect.iscoroutinefunction(want) else "not async"
    return found


def test_each_store_has_every_member_of_the_contract(any_store, request):
    assert drift(any_store.store, STORES[request.node.callspec.params["make_store"]][0]) == {}


def test_a_store_that_drifts_is_named():
    class Drifted:
        kind = "drifted"

        async def open(self, sid, owner=None, create=True, use=False, fresh=True): ...
        def find(self, sid): ...
        async def run(self, sid, fn, *args, more, **kwargs): ...

    found = drift(Drifted(), Store)
    assert set(found) == set(members(Store)) - {"kind"}, "options and every other method are missing"
    assert "open" in found and "run" in found and found["find"] == "async"
    assert {"open_sync", "run_sync"} <= set(drift(Drifted(), SyncStore))
