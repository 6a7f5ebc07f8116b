"""Which forget items a run trains on, and in what order: coreset selection and MELU's
entity-by-entity batches. Options for any method; the before/after figures are always measured
on the whole forget set, so a coreset run shows how far forgetting spreads beyond what it saw.

- Coreset (arXiv 2504.10185): unlearning on a small share of the forget set (5% in the paper)
  nearly matches the full set. `random`: a seeded random share; `keyword`: the items whose
  keywords are most shared across the set (the set's core vocabulary).
- MELU (arXiv 2509.05316): unlearn entity by entity; each forget batch holds one entity's items,
  its retain batch that entity's neighbours (retain items of the same entity) topped up with
  general retain items. RECONSTRUCTION of the sampling scheme from its description.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence

from unlearn.data.examples import Example
from unlearn.errors import UserError

CORESET_MODES = ("random", "keyword")
_PROPER = re.compile(r"\b[A-Z][\w'-]+")


def item_keywords(e: Example) -> set[str]:
    """An item's keywords, or else the capitalised words of its answer (names, places)."""
    words = e.keywords or _PROPER.findall(e.answer)
    return {w.lower() for w in words}


def coreset(examples: Sequence[Example], share: float, mode: str = "random", seed: int = 0) -> list[Example]:
    """ceil(share·n) items (at least one), in their original order."""
    if not 0 < share <= 1:
        raise UserError(f"the coreset share must be in (0, 1], got {share}")
    if mode not in CORESET_MODES:
        raise UserError(f"unknown coreset mode {mode!r}; valid: {', '.join(CORESET_MODES)}")
    n = len(examples)
    k = max(1, math.ceil(share * n))
    if k >= n:
        return list(examples)
    rng = random.Random(seed)
    if mode == "random":
        chosen = set(rng.sample(range(n), k))
    else:
        freq = Counter(w for e in examples for w in item_keywords(e))
        jitter = [rng.random() for _ in range(n)]  # seeded tie-break
        score = [(sum(freq[w] for w in item_keywords(e)), jitter[i]) for i, e in enumerate(examples)]
        chosen = set(sorted(range(n), key=lambda i: score[i], reverse=True)[:k])
    return [e for i, e in enumerate(examples) if i in chosen]


def entity_pairs(
    forget: Sequence[Example], retain: Sequence[Example], batch_size: int, seed: int
) -> Iterator[tuple[list[Example], list[Example] | None]]:
    """Endless (forget batch, retain batch) pairs, entity by entity in a seeded order."""
    groups: dict[str, list[Example]] = {}
    for e in forget:
        if not e.entity:
            raise UserError(
                "entity-by-entity sampling (MELU) needs an entity for every forget item: fill the `entity` "
                "column of the forget set, or turn the option off"
            )
        groups.setdefault(e.entity, []).append(e)
    neighbours: dict[str, list[Example]] = {}
    for e in retain:
        if e.entity in groups:
            neighbours.setdefault(e.entity, []).append(e)
    general = [e for e in retain if e.entity not in groups]
    rng = random.Random(seed)
    order = sorted(groups)
    while True:
        rng.shuffle(order)
        for ent in order:
            items = groups[ent][:]
            rng.shuffle(items)
            for i in range(0, len(items), batch_size):
                f = items[i : i + batch_size]
                r = neighbours.get(ent, [])[:batch_size]
                if len(r) < batch_size and general:
                    r = r + rng.sample(general, min(batch_size - len(r), len(general)))
                yield f, (r or None)
