"""The run's matrix in a randomised, recorded order.

Each repeat is a block holding every (variant, workload, load) once, shuffled; the blocks
run one after the other. Slow drift of the machine (thermal, background jobs) then spreads
over all variants instead of landing on whichever ran last.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from itertools import product

from loadlab.core.results import CellSpec, LoadLevel


def cell_id(
    order: int,
    variant: str,
    workload: str,
    load: LoadLevel,
    repeat: int,
    db_rtt_ms: float | None = None,
) -> str:
    rtt = "" if db_rtt_ms is None else f"-rtt{db_rtt_ms:g}ms"
    return f"{order:03d}-{variant}-{workload}-{load.label}{rtt}-r{repeat}"


def new_order_seed() -> int:
    return secrets.randbelow(2**31)


def plan(
    variants: list[str],
    workloads: list[str],
    loads: list[LoadLevel],
    repeats: int,
    *,
    seed: int,
    duration_s: float,
    warmup_s: float,
    rtts: Sequence[float | None] = (None,),
) -> list[CellSpec]:
    """`rtts`: emulated database round trips, one more axis shuffled into each block (so
    drift spreads over the RTTs too); the default (None,) is a run without an emulated link."""
    rng = random.Random(seed)
    cells: list[CellSpec] = []
    for repeat in range(1, repeats + 1):
        block = list(product(variants, workloads, loads, rtts))
        rng.shuffle(block)
        for variant, workload, load, rtt in block:
            order = len(cells) + 1
            cells.append(
                CellSpec(
                    cell_id=cell_id(order, variant, workload, load, repeat, rtt),
                    order=order,
                    variant=variant,
                    workload=workload,
                    load=load,
                    repeat=repeat,
                    duration_s=duration_s,
                    warmup_s=warmup_s,
                    db_rtt_ms=rtt,
                )
            )
    return cells
