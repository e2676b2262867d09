"""The pure partition decisions (runbooks.partitions): shares, hand-over phases, members'
shares and the plan's bad input, as tables."""

from __future__ import annotations

import pytest

from runbooks.core.model import Weights
from runbooks.partitions import (
    Assignment,
    handover,
    initial,
    member_share,
    new_share,
    partitions_needed,
    share_problems,
    target_owners,
)
from stackspec.model import Color

BLUE, GREEN = Color.BLUE, Color.GREEN
SIX = {"order-events": 6}


def ids(*numbers: int, topic: str = "order-events") -> tuple[str, ...]:
    return tuple(f"{topic}:{n}" for n in numbers)


@pytest.mark.parametrize(
    ("weight", "partitions", "share"),
    [
        (0, 6, 0),
        (10, 6, 1),
        (50, 6, 3),
        (100, 6, 6),
        (5, 12, 1),
        (25, 12, 3),
        (50, 3, 2),
        (1, 1, 1),
        (99, 6, 6),
    ],
)
def test_new_share_is_the_ceiling_of_the_weight(weight: int, partitions: int, share: int) -> None:
    assert new_share(weight, partitions) == share


@pytest.mark.parametrize(
    ("base", "weights", "blue", "green"),
    [
        (BLUE, Weights(90, 10), ids(1, 2, 3, 4, 5), ids(0)),
        (BLUE, Weights(50, 50), ids(3, 4, 5), ids(0, 1, 2)),
        (BLUE, Weights(0, 100), (), ids(0, 1, 2, 3, 4, 5)),
        (BLUE, Weights(100, 0), ids(0, 1, 2, 3, 4, 5), ()),
        (GREEN, Weights(10, 90), ids(0), ids(1, 2, 3, 4, 5)),
    ],
)
def test_the_new_color_takes_the_lowest_partitions(
    base: Color, weights: Weights, blue: tuple[str, ...], green: tuple[str, ...]
) -> None:
    owners = target_owners(base, weights, SIX)
    assert (owners[BLUE], owners[GREEN]) == (blue, green)


def test_every_topic_is_shared_on_its_own() -> None:
    owners = target_owners(BLUE, Weights(50, 50), {"a": 2, "b": 4})
    assert owners[GREEN] == ("a:0", "b:0", "b:1")
    assert owners[BLUE] == ("a:1", "b:2", "b:3")


def test_moving_partitions_are_owned_by_nobody_in_the_first_phase() -> None:
    start = initial(BLUE, SIX)
    release, take = handover(start, Weights(50, 50), SIX)
    assert (release.epoch, take.epoch) == (1, 2)
    assert release.owned_by(BLUE) == ids(3, 4, 5) and release.owned_by(GREEN) == ()
    assert release.weights == start.weights  # not yet what was asked
    assert take.owned_by(GREEN) == ids(0, 1, 2) and take.owned_by(BLUE) == ids(3, 4, 5)
    assert take.weights == Weights(50, 50)


def test_no_partition_ever_has_two_owners_along_a_release_and_its_rollback() -> None:
    record = initial(BLUE, SIX)
    for weights in (Weights(90, 10), Weights(50, 50), Weights(0, 100), Weights(100, 0)):
        for phase in handover(record, weights, SIX):
            assert not set(phase.owned_by(BLUE)) & set(phase.owned_by(GREEN))
            moved = {p for p in ids(*range(6)) if phase.owner_of(p) != record.owner_of(p)}
            # A partition changes hands only through "nobody".
            assert all(None in (phase.owner_of(p), record.owner_of(p)) for p in moved)
            record = phase
    assert record.owned_by(BLUE) == ids(*range(6))


def test_the_same_weights_again_are_no_phase() -> None:
    record = handover(initial(BLUE, SIX), Weights(50, 50), SIX)[-1]
    assert handover(record, Weights(50, 50), SIX) == ()


def test_after_a_kill_between_the_phases_only_the_take_is_left() -> None:
    release, _ = handover(initial(BLUE, SIX), Weights(50, 50), SIX)
    (take,) = handover(release, Weights(100, 0), SIX)  # the rollback
    assert take.owned_by(BLUE) == ids(*range(6)) and take.epoch == release.epoch + 1


def test_a_full_weight_makes_that_color_the_base_of_the_next_release() -> None:
    promoted = handover(initial(BLUE, SIX), Weights(0, 100), SIX)[-1]
    assert promoted.base is GREEN
    next_release = handover(promoted, Weights(10, 90), SIX)[-1]
    assert next_release.owned_by(BLUE) == ids(0)


def test_the_record_survives_json() -> None:
    record = handover(initial(BLUE, SIX), Weights(90, 10), SIX)[-1]
    assert Assignment.of_json(record.as_json()) == record


@pytest.mark.parametrize(
    ("members", "me", "share"),
    [
        ({"a"}, "a", ids(0, 1, 2)),
        ({"a", "b"}, "a", ids(0, 2)),
        (
            {"a", "b"},
            "b",
            ids(
                1,
            ),
        ),
        ({"b"}, "a", ids(0, 2)),  # `a` counts itself before the others see it
        ({"a", "b", "c", "d"}, "d", ()),
    ],
)
def test_members_of_a_color_take_every_nth(
    members: set[str], me: str, share: tuple[str, ...]
) -> None:
    assert member_share(ids(0, 1, 2), members, me) == share


@pytest.mark.parametrize(
    ("partitions", "weights", "fits"),
    [
        (6, [10, 50, 100], True),
        (3, [10, 50, 100], True),
        (1, [10, 50, 100], False),  # 1, 1, 1
        (2, [10, 50, 100], False),  # 1, 1, 2
        (12, [5, 25, 50, 100], True),
        (3, [5, 25, 50, 100], False),
        (1, [0, 100], True),  # blue-green: nothing, then everything
    ],
)
def test_a_topic_needs_a_distinct_share_per_step(
    partitions: int, weights: list[int], fits: bool
) -> None:
    problems = share_problems({"order-events": partitions}, weights)
    assert (not problems) is fits
    if not fits:
        (problem,) = problems
        assert f"'order-events' has {partitions} partition(s)" in problem
        assert f"at least {partitions_needed(weights)} partitions" in problem


def test_partitions_needed() -> None:
    assert partitions_needed([10, 50, 100]) == 3
    assert partitions_needed([5, 25, 50, 100]) == 5  # 1, 2, 3, 5
