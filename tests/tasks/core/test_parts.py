"""The pieces of the protocol: the sealed test part, the split record, the registry."""

from __future__ import annotations

import json

import pytest

from rnnkit.tasks.core import registry
from rnnkit.tasks.core.parts import RECORD, Sealed, Split, describe, fingerprint, save_or_check


def test_a_sealed_part_is_loaded_on_first_open_and_every_open_is_counted():
    loads = []
    sealed = Sealed(lambda: loads.append(1) or [1, 2, 3])
    assert sealed.reads == 0 and loads == []  # nothing read until opened
    assert sealed.open() == [1, 2, 3] and sealed.open() == [1, 2, 3]
    assert sealed.reads == 2 and loads == [1]  # loaded once, read twice
    assert Sealed.of("x").open() == "x" and repr(sealed) == "Sealed(reads=2)"


def test_fingerprints_follow_the_members_and_their_order():
    assert fingerprint([1, 2, 3]) == fingerprint([1, 2, 3]) != fingerprint([1, 3, 2])
    assert describe(["a", "b"], source="x") == {"size": 2, "fingerprint": fingerprint(["a", "b"]), "source": "x"}


def test_the_split_is_saved_once_and_checked_after(tmp_path):
    split = Split({"train": describe([0, 1]), "test": {"points": [2, 3]}}, Sealed.of(None))
    save_or_check(tmp_path, split)
    assert json.loads((tmp_path / RECORD).read_text())["test"] == {"points": [2, 3]}
    save_or_check(tmp_path, split)  # the same split: fine
    moved = Split({"train": describe([0, 1]), "test": {"points": [2, 4]}}, Sealed.of(None))
    with pytest.raises(ValueError, match=r"no longer splits as it did .*parts \['test'\] differ"):
        save_or_check(tmp_path, moved)


def test_the_registry_names_its_tasks_and_refuses_others():
    assert "forecast" in registry.names() and registry.summary("forecast").startswith("multi-step forecasting")
    with pytest.raises(ValueError, match=r"task: expected one of \['adding', .*got 'telepathy'"):
        registry.get("telepathy")
