"""Smooth weighted round robin (as in nginx), pure: the one copy every pool pick uses.

A pool's turn state maps rep ids to a running score. Each pick, every candidate gains its weight, the highest
score wins and pays back the total of the candidates' weights. Equal weights give plain round robin in the
candidates' order; weights 2:1 give a, b, a, ... spread out rather than a, a, b. Who is a candidate (available,
under the daily cap, weight above 0) is the resolver's business (core.resolver), not this module's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Turn = dict[int, int]


def pick(candidates: Sequence[tuple[int, int]], turn: Mapping[int, int]) -> tuple[int, Turn]:
    """The next rep id of `candidates` ((rep id, weight > 0) in membership order) and the new turn state.

    `turn` is not changed. Scores of reps that are not candidates this time are carried over untouched, so a
    skipped rep is owed nothing when they come back. Ties go to the earlier candidate.
    """
    if not candidates:
        raise ValueError("round robin needs at least one candidate")
    total = sum(weight for _rep, weight in candidates)
    state: Turn = dict(turn)
    best: int | None = None
    best_score = 0
    for rep_id, weight in candidates:
        state[rep_id] = int(state.get(rep_id, 0)) + weight
        if best is None or state[rep_id] > best_score:
            best, best_score = rep_id, state[rep_id]
    assert best is not None
    state[best] -= total
    return best, state
