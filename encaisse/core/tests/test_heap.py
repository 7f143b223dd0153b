"""The heap set aside while a big document is built: back as it was afterwards, new garbage still collected."""

import gc
import weakref

import pytest

from encaisse.core.heap import long_lived_set_aside


class Node:
    """A weak-referenceable object that can sit in a reference cycle."""


def cycle() -> weakref.ref:
    node = Node()
    node.itself = node
    return weakref.ref(node)


class Refused(Exception):
    """What a refused debit raises halfway through a file."""


def build_then_refuse(seen: list[int]) -> None:
    with long_lived_set_aside():
        seen.append(gc.get_freeze_count())
        raise Refused


def test_the_objects_alive_before_are_set_aside_then_given_back_even_on_an_error():
    assert gc.get_freeze_count() == 0
    seen: list[int] = []
    with pytest.raises(Refused):
        build_then_refuse(seen)
    assert seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_garbage_made_within_the_block_is_collected_and_so_is_older_garbage_afterwards():
    before = cycle()  # unreachable already, but only the collector can free a cycle
    with long_lived_set_aside():
        within = cycle()
        gc.collect()
        assert within() is None
        assert before() is not None  # set aside with the rest
    gc.collect()
    assert before() is None


def test_a_heap_frozen_by_someone_else_stays_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with long_lived_set_aside():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
