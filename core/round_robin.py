"""Smooth weighted round robin (as in nginx), pure: the one copy every pool pick uses.

A pool's turn state maps rep ids to a running score. Each pick, every candidate gains its weight, the highest
score wins and pays back the total of the candidates' weights. Equal weights give plain round robin in the
candidates' order; weights 2:1 give a, b, a, ... spread out rather than a, a, b. Who is a candidate (available,
under the daily cap, weight above 0) is the resolver's business (core.resolver), not this module's.
`least_recent` is the plain turn a least-open pool breaks its ties with (who of the tied was served longest ago).
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


def least_recent(candidates: Sequence[int], turn: Mapping[int, int]) -> tuple[int, Turn]:
    """Plain turns for a least-open pool's tie: of `candidates` (rep ids in membership order) the one served
    longest ago, and the new turn state.

    Here the state maps rep ids to how recently each was served (a rank: 0 the longest ago); a rep not in it was
    never served and goes first, the earlier candidate first among those. The new state puts the chosen rep last
    and renumbers 0, 1, 2, ... in the same order, so the numbers stay as small as the pool (a pool switched back
    to round robin starts from near-equal scores, owing nobody a long run). `turn` is not changed.
    """
    if not candidates:
        raise ValueError("a turn needs at least one candidate")
    order = {rep_id: position for position, rep_id in enumerate(candidates)}
    chosen = min(candidates, key=lambda rep_id: (int(turn[rep_id]) if rep_id in turn else -1, order[rep_id]))
    others = sorted((rep_id for rep_id in turn if rep_id != chosen), key=lambda rep_id: (int(turn[rep_id]), rep_id))
    return chosen, {rep_id: rank for rank, rep_id in enumerate([*others, chosen])}
