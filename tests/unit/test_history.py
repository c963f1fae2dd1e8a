"""The promotion history as a stack: rollbacks walk back, never toggle, and refuse at the bottom."""

from __future__ import annotations

from core.registry.history import champion_stack, rollback_target


def _log(*moves: tuple[str, str | None, str]) -> list[dict]:
    """Audit records newest first (as `read_audit` returns them) from (action, from, to)."""
    records = [{"action": a, "from_version": f, "to_version": t} for a, f, t in moves]
    return records[::-1]


def test_promotions_push_and_a_rollback_pops_the_version_it_left():
    records = _log(
        ("initial_champion", None, "1"),
        ("promote", "1", "2"),
        ("auto_promote", "2", "3"),
        ("rollback", "3", "2"),
    )
    assert champion_stack(records) == ["1", "2"]
    assert rollback_target(records, "2") == "1"


def test_three_promotions_then_rollbacks_walk_back_to_the_first_and_then_refuse():
    moves = [("initial_champion", None, "1"), ("promote", "1", "2"), ("promote", "2", "3")]
    moves.append(("promote", "3", "4"))
    visited = []
    current = "4"
    while (target := rollback_target(_log(*moves), current)) is not None:
        moves.append(("rollback", current, target))
        visited.append(target)
        current = target
    assert visited == ["3", "2", "1"]
    assert champion_stack(_log(*moves)) == ["1"]


def test_a_second_rollback_never_returns_to_the_version_just_rolled_away_from():
    records = _log(("promote", None, "1"), ("promote", "1", "2"), ("rollback", "2", "1"))
    assert rollback_target(records, "1") is None  # the reported bug: it went back to v2


def test_going_forward_again_is_a_promotion_on_top_of_the_stack():
    records = _log(
        ("promote", None, "1"),
        ("promote", "1", "2"),
        ("rollback", "2", "1"),
        ("promote", "1", "2"),  # forward again: a promotion, with its gates
    )
    assert champion_stack(records) == ["1", "2"]
    assert rollback_target(records, "2") == "1"


def test_a_champion_moved_outside_the_log_rolls_back_to_the_newest_logged_one():
    records = _log(("promote", None, "1"), ("promote", "1", "2"))
    assert rollback_target(records, "5") == "2"
    by_hand = _log(("promote", None, "1"), ("promote", "1", "2"), ("rollback", "5", "2"))
    assert champion_stack(by_hand) == ["1", "2"]


def test_no_champion_or_an_empty_log_has_nothing_to_roll_back_to():
    assert rollback_target([], "1") is None
    assert rollback_target(_log(("promote", None, "1")), None) is None
    assert rollback_target(_log(("promote", None, "1")), "1") is None
    assert champion_stack([{"action": "unknown", "to_version": "3"}]) == []
