"""The leader lock: one lease row, taken and renewed by atomic conditional UPDATEs."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa

from core.jobs.tables import LOCK, LOCK_NAME


class LeaseMixin:
    """Lease methods of `JobsDB` (uses its `engine`, `ensure` and `_readable`)."""

    # ----------------------------------------------------------------------------- the lock
    def acquire(self, owner: str, ttl: float) -> bool:
        """Take the leader lease when it is free, expired or already ours; True on success."""
        self.ensure()
        now = time.time()
        with self.engine.begin() as conn:
            taken = conn.execute(
                LOCK.update()
                .where(
                    LOCK.c.name == LOCK_NAME,
                    sa.or_(LOCK.c.owner == owner, LOCK.c.expires_at < now),
                )
                .values(owner=owner, acquired_at=now, expires_at=now + ttl)
            ).rowcount
        if taken:
            return True
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    LOCK.insert().values(
                        name=LOCK_NAME, owner=owner, acquired_at=now, expires_at=now + ttl
                    )
                )
            return True
        except sa.exc.IntegrityError:  # the row exists and someone else holds it
            return False

    def renew(self, owner: str, ttl: float) -> bool:
        """Extend our lease; False when it is no longer ours (another scheduler took it)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    LOCK.update()
                    .where(LOCK.c.name == LOCK_NAME, LOCK.c.owner == owner)
                    .values(expires_at=time.time() + ttl)
                ).rowcount
            )

    def release(self, owner: str) -> None:
        """Give the lease up (a standby takes over at its next try)."""
        with self.engine.begin() as conn:
            conn.execute(
                LOCK.update()
                .where(LOCK.c.name == LOCK_NAME, LOCK.c.owner == owner)
                .values(expires_at=0.0)
            )

    def holder(self) -> dict | None:
        """The lease: owner, expires_at (ISO), live (unexpired); None when never taken."""
        if not self._readable():
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(LOCK).where(LOCK.c.name == LOCK_NAME)).first()
        if row is None:
            return None
        return {
            "owner": row.owner,
            "acquired_at": datetime.fromtimestamp(row.acquired_at, UTC).isoformat(
                timespec="seconds"
            ),
            "expires_at": datetime.fromtimestamp(row.expires_at, UTC).isoformat(timespec="seconds"),
            "live": row.expires_at > time.time(),
        }
