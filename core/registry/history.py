"""Promotion history as a stack of champions, derived from the audit log (pure functions).

Read oldest to newest, a promotion (`promote`, `auto_promote`, `initial_champion`) pushes its
`to_version` and a rollback pops the version it rolled away from, so the top of the stack is the
champion and the entry below it is where a rollback goes. Two rollbacks walk back two
champions; a version rolled away from is never restored by a rollback; going forward again is a
promotion, with its gates.
"""

from __future__ import annotations

PUSHES = ("promote", "auto_promote", "initial_champion")
ROLLBACK = "rollback"


def champion_stack(records: list[dict]) -> list[str]:
    """The champions in force, bottom (oldest) first; the last entry is the current champion.

    Args:
        records: audit records of one model, newest first (as `read_audit` returns them).

    A rollback pops its `from_version` when it is on top (an alias moved by hand, outside the
    log, is not), and its `to_version` is then on top; records of other actions are ignored.
    """
    stack: list[str] = []
    for record in reversed(records):
        action, to = record.get("action"), record.get("to_version")
        if to is None:
            continue
        if action in PUSHES:
            stack.append(str(to))
        elif action == ROLLBACK:
            if stack and stack[-1] == str(record.get("from_version")):
                stack.pop()
            if not stack or stack[-1] != str(to):
                stack.append(str(to))
    return stack


def rollback_target(records: list[dict], current: str | None) -> str | None:
    """The version a rollback from `current` restores: the champion before it, or None.

    Args:
        records: audit records of one model, newest first.
        current: the version holding `champion` now (None: nothing to roll back).

    When the log's newest champion is not `current` (the alias was moved outside the log), the
    newest logged champion is the one before it.
    """
    if current is None:
        return None
    stack = champion_stack(records)
    if stack and stack[-1] == str(current):
        stack.pop()
    return stack[-1] if stack else None
