"""Each target's districts for a channel that routes by them: its own and those it follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.channels.base import TargetRef
from publisher.store.bulk import among
from publisher.store.models import Target, TargetDistrict

__all__ = ["with_districts"]


def with_districts(session: Session, targets: Sequence[TargetRef]) -> list[TargetRef]:
    """``targets``, each with its districts (sorted); two queries a batch."""
    target_ids = sorted({target.target_id for target in targets})
    found: dict[int, set[str]] = {}
    own = [select(Target.id, Target.district_code).where(chosen)
           for chosen in among(session, Target.id, target_ids)]
    followed = [select(TargetDistrict.target_id, TargetDistrict.district_code).where(chosen)
                for chosen in among(session, TargetDistrict.target_id, target_ids)]
    for query in own + followed:
        for target_id, code in session.execute(query):
            if code is not None:
                found.setdefault(target_id, set()).add(code)
    return [replace(target, districts=tuple(sorted(found.get(target.target_id, ()))))
            for target in targets]
