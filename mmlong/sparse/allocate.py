"""Per-head pattern choice under a recall target: the cheapest mix whose mean recall reaches it.

Each head of a layer has options (a candidate pattern, or dense) with a measured recall and a
cost relative to dense (= 1; the search measures it, see :func:`mmlong.sparse.search.search_heads`). :func:`allocate` picks one option per head so that the mean recall over the heads is at
least ``target`` at the lowest total cost: every head starts on its cheapest option, and the
upgrade with the most recall gained per cost added (over the heads' lower convex hulls) is
taken until the target is met. Heads where sparse does not pay end on dense.

Worked example (target 0.95, two heads): head 0 options (cost, recall) {(0.1, 0.99), (1, 1)},
head 1 {(0.1, 0.80), (0.3, 0.90), (1, 1)}. Start (0.1, 0.99) + (0.1, 0.80): mean 0.895. The
best upgrade is head 1 to (0.3, 0.90) (0.5 recall per cost, against 0.01 for head 0's dense): mean
0.945; then head 1 to dense: mean 0.995 >= 0.95. Choice: [0, 2] at cost 1.1.
"""

from __future__ import annotations


def _hull(options: list[tuple[float, float]]) -> list[int]:
    """Indices of the lower-cost / higher-recall convex frontier, cheapest first."""
    order = sorted(range(len(options)), key=lambda i: (options[i][0], -options[i][1]))
    front: list[int] = []
    for i in order:
        if front and options[i][1] <= options[front[-1]][1]:
            continue  # costs more, recalls no more
        while len(front) >= 2:
            (c1, r1), (c2, r2), (c3, r3) = options[front[-2]], options[front[-1]], options[i]
            if (r2 - r1) * (c3 - c1) <= (r3 - r1) * (c2 - c1):  # middle point under the chord
                front.pop()
            else:
                break
        front.append(i)
    return front


def allocate(options: list[list[tuple[float, float]]], target: float) -> list[int]:
    """One option index per head: mean recall >= ``target`` at the least total cost (greedy on hulls).

    Args:
        options: per head, ``(cost, recall)`` of each option; every head should include an
            option of recall 1 (dense) so the target can always be met.
        target: mean recall over the heads to reach.

    Returns:
        The chosen option index per head (the most recalling hull point of each head when
        even that misses the target).
    """
    hulls = [_hull(o) for o in options]
    pos = [0] * len(options)
    n = len(options)

    def mean_recall() -> float:
        return sum(options[h][hulls[h][pos[h]]][1] for h in range(n)) / max(n, 1)

    while mean_recall() < target:
        best, best_gain = None, -1.0
        for h in range(n):
            if pos[h] + 1 >= len(hulls[h]):
                continue
            (c0, r0), (c1, r1) = options[h][hulls[h][pos[h]]], options[h][hulls[h][pos[h] + 1]]
            gain = (r1 - r0) / max(c1 - c0, 1e-9)
            if gain > best_gain:
                best, best_gain = h, gain
        if best is None:
            break
        pos[best] += 1
    return [hulls[h][pos[h]] for h in range(n)]
