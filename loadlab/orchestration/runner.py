"""A run: verify the variants, execute the matrix in its recorded random order, search for
capacity, and leave `results/<run-id>/` complete even when interrupted."""

from __future__ import annotations

import contextlib
import json
import math
import random
import shlex
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from loadlab import __version__
from loadlab.core import integrity
from loadlab.core.capabilities import BACKENDS
from loadlab.core.config import CapacitySearch, RunConfig
from loadlab.core.errors import LabError
from loadlab.core.matrix import new_order_seed, plan
from loadlab.core.paths import results_root
from loadlab.core.profiles import knobs_for, over_budget
from loadlab.core.progress import Progress, Silent
from loadlab.core.registry import base_variant
from loadlab.core.results import (
    CellResult,
    CellSpec,
    LoadLevel,
    Manifest,
    new_run_id,
    write_json_atomic,
)
from loadlab.measurement import environment, precision
from loadlab.measurement.analysis import analyze_cell, ratios, step_verdict, summarize
from loadlab.measurement.calibrate import knob_source, matrix_variants
from loadlab.orchestration import verify

MIN_CAPACITY_RATE = 5.0
NO_VERIFICATION = (
    "the {} backend does not run the pre-measurement verification (its database is not "
    "reachable from this machine); run `loadlab run` locally to verify the variants"
)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def open_lab(config: RunConfig, run_dir: Path, progress: Progress) -> AbstractContextManager[Any]:
    if config.backend == "local":
        from loadlab.deployments.local import local_lab

        return local_lab(config, run_dir, progress)
    if config.backend == "compose":
        from loadlab.deployments.compose.lab import compose_lab

        return compose_lab(config, run_dir, progress)  # type: ignore[no-any-return]
    if config.backend == "ansible":
        from loadlab.deployments.ansible.lab import ansible_lab

        return ansible_lab(config, run_dir, progress)
    raise LabError(f"unknown backend {config.backend!r}", hint="local, compose or ansible")


def find_capacity(
    holds: Callable[[float], bool], search: CapacitySearch
) -> tuple[float | None, float | None]:
    """Geometric steps from `start_rate` until one rate is held and the next one up is not,
    then `refine_steps` bisections (geometric means) between the two. Returns (the highest
    rate held, the lowest rate broken); either is None when the steps ran out first."""
    rate = search.start_rate
    held: float | None = None
    broke: float | None = None
    for _ in range(search.max_steps):
        if holds(rate):
            held = rate
            if broke is not None:
                break
            rate *= search.growth
        else:
            broke = rate
            if held is not None:
                break
            rate /= search.growth
        if rate > search.max_rate or rate < MIN_CAPACITY_RATE:
            break
    for _ in range(search.refine_steps):
        if held is None or broke is None:
            break
        middle = math.sqrt(held * broke)
        if holds(middle):
            held = middle
        else:
            broke = middle
    return held, broke


class Run:
    def __init__(self, config: RunConfig, root: Path, progress: Progress) -> None:
        if config.backend == "ansible":
            from loadlab.deployments.ansible.lab import check_inventory

            check_inventory(config.inventory)  # before a folder exists for a run that cannot start
        self.config = config
        self.progress = progress
        self.run_id = new_run_id()
        self.dir = root / self.run_id
        self.dir.mkdir(parents=True)
        sha, dirty = environment.git_state()
        order_seed = config.order_seed if config.order_seed is not None else new_order_seed()
        self.config = config.model_copy(update={"order_seed": order_seed})
        write_json_atomic(self.dir / "config.json", json.loads(self.config.model_dump_json()))
        self.manifest = Manifest(
            run_id=self.run_id,
            loadlab_version=__version__,
            git_sha=sha,
            git_dirty=dirty,
            backend=config.backend,
            preset=config.preset,
            started=_now(),
            command=f"loadlab run --config results/{self.run_id}/config.json",
            config=json.loads(self.config.model_dump_json()),
            machine=environment.machine(),
            python=environment.python(),
            packages=environment.packages(),
            cpusets=self.config.cpusets.model_dump() if self.config.cpusets else {},
            checksums={},  # cells are sealed as they finish; an unsealed one never finished
        )
        self.manifest.invocation = " ".join(shlex.quote(a) for a in sys.argv)  # type: ignore[attr-defined]
        self.save_manifest()

    @property
    def rtts(self) -> list[float | None]:
        """The emulated database round trips, a matrix axis; [None] without an emulated link."""
        network = self.config.network
        return list(network.db_rtt_ms) if network else [None]

    def save_manifest(self) -> None:
        write_json_atomic(self.dir / "manifest.json", self.manifest)

    def cell_dir(self, spec: CellSpec) -> Path:
        return self.dir / "cells" / spec.cell_id

    def knobs(self, variant: str, workload: str) -> tuple[dict[str, Any], str]:
        """The knobs a cell of this variant and workload runs with, and their profile; a
        choice over the connection budget is recorded as a caveat, once."""
        knobs, profile = knobs_for(self.config, variant, workload)
        cpus = int(getattr(self, "app_cpus", 0) or 1)
        problem = over_budget(variant, knobs, cpus, self.config.budget.db_connections)
        if problem and problem not in self.manifest.caveats:
            self.manifest.caveats.append(problem)
        return knobs, profile

    def attach(self, lab: Any) -> None:
        """Record what the backend brought up: data, Postgres, topology, its caveats."""
        self.manifest.data = lab.data
        self.manifest.postgres = lab.postgres
        self.manifest.topology = lab.topology
        self.manifest.caveats.extend(lab.caveats)
        # on separate machines the system under test is the app node, not this one
        if getattr(lab, "machine", None):
            self.manifest.machine = lab.machine
            self.manifest.python = lab.python
            self.manifest.packages = lab.packages
        self.app_cpus = int(lab.topology.get("app_workers") or 1)
        if lab.data.get("modified_since_seed"):
            self.manifest.caveats.append(
                "the reused data set differs from the freshly seeded one (checksum "
                f"{lab.data['checksum_at_start'][:12]} vs {lab.data['checksum'][:12]}): "
                "earlier /updates or orders changed rows; `loadlab db seed --force` restores it"
            )
        self.save_manifest()

    # ------------------------------------------------------------------ phases
    def verify(self, lab: Any) -> list[str]:
        evidence = []
        for variant in self.config.variants:
            self.progress.phase(f"verifying {variant}")
            with lab.serve(variant, *self.knobs(variant, self.config.workloads[0])) as served:
                self.manifest.variants[variant] = served.record()
                evidence.append(
                    verify.collect(
                        variant, served.url, lab.dsn, lab.admin_dsn, int(lab.data["users"])
                    )
                )
        results = verify.judge(evidence)
        write_json_atomic(
            self.dir / "verification.json", [json.loads(r.model_dump_json()) for r in results]
        )
        for result in results:
            if not result.passed:
                self.manifest.caveats.append(
                    f"{result.variant} failed verification and was not benchmarked: "
                    + "; ".join(result.failures[:3])
                )
        return [r.variant for r in results if r.passed]

    def run_cells(self, lab: Any, cells: list[CellSpec]) -> list[CellResult]:
        """Run cells in order, keeping a variant's server up across consecutive cells, and
        starting it again when it died during the last one (stopping what it left behind)."""
        results: list[CellResult] = []
        with contextlib.ExitStack() as stack:
            current: tuple[str, Any] | None = None
            for index, spec in enumerate(cells, 1):
                dead = current is not None and not getattr(current[1], "alive", lambda: True)()
                if dead and results:
                    self.manifest.caveats.append(
                        f"{results[-1].spec.variant}'s server died during "
                        f"{results[-1].spec.cell_id} and was started again for the next cell"
                    )
                key = f"{spec.variant} {sorted(spec.knobs.items())}"
                if current is None or current[0] != key or dead:
                    stack.close()
                    served = lab.serve(base_variant(spec.variant), spec.knobs, spec.profile)
                    current = (key, stack.enter_context(served))
                    self.manifest.variants[spec.variant] = current[1].record()
                results.append(self.run_cell(lab, spec, current[1], index, len(cells)))
        return results

    def run_cell(self, lab: Any, spec: CellSpec, served: Any, index: int, total: int) -> CellResult:
        cell_dir = self.cell_dir(spec)
        write_json_atomic(cell_dir / "cell.json", spec)
        self.progress.cell_started(spec, index, total)
        lab.run_cell(spec, served, cell_dir, self.progress)
        result = analyze_cell(
            cell_dir, self.config.validity, int(self.manifest.machine["cpu_count"])
        )
        self.progress.cell_finished(result)
        if result is None:
            raise LabError(f"cell {spec.cell_id} produced no measurement", hint=f"see {cell_dir}")
        # the cell's files are final now (analysis wrote latency.hdr): seal them
        sealed = integrity.cell_checksums(cell_dir)
        self.manifest.checksums = {**(self.manifest.checksums or {}), spec.cell_id: sealed}
        self.save_manifest()
        return result

    def capacity_search(self, lab: Any, variants: list[str], start_order: int) -> None:
        """Per variant and workload, in a recorded random order: see `search_capacity`."""
        rng = random.Random(self.config.order_seed)
        pairs = [(v, w) for w in self.config.capacity.workloads for v in variants]
        rng.shuffle(pairs)
        order = start_order
        for variant, workload in pairs:
            order = self.search_capacity(lab, variant, workload, order)

    def search_capacity(self, lab: Any, variant: str, workload: str, order: int) -> int:
        """Step the arrival rate up from `start_rate` until a step breaks the SLO (when the
        very first step breaks it, step down until one holds), then bisect between the last
        rate held and the first broken `refine_steps` times, so that two variants less than a
        growth factor apart are not reported as equal. Returns the last cell order used."""
        search = self.config.capacity
        steps_at_most = search.max_steps + search.refine_steps
        taken = 0
        knobs, profile = self.knobs(variant, workload)
        with lab.serve(variant, knobs, profile) as served:

            def holds(rate: float) -> bool:
                nonlocal order, taken
                order, taken = order + 1, taken + 1
                load = LoadLevel(model="open", users=search.users, rate=round(rate, 1))
                spec = CellSpec(
                    cell_id=f"{order:03d}-{variant}-{workload}-{load.label}-capacity",
                    order=order,
                    variant=variant,
                    workload=workload,
                    load=load,
                    repeat=1,
                    duration_s=search.duration_s,
                    warmup_s=search.warmup_s,
                    phase="capacity",
                    db_rtt_ms=self.rtts[0],
                    knobs=knobs,
                    profile=profile,
                )
                self.progress.phase(f"capacity search {variant} {workload}: step {taken}")
                result = self.run_cell(lab, spec, served, taken, steps_at_most)
                return step_verdict(result, search.slo_p99_ms, search.max_error_rate) is None

            find_capacity(holds, search)
        return order

    # ------------------------------------------------------------------ the matrix
    @property
    def blocks_planned(self) -> int:
        """The repeats; with --precision, the most blocks it may add (loadlab.measurement.precision)."""
        return self.config.repeats if self.config.precision is None else precision.MAX_BLOCKS

    def run_matrix(self, lab: Any, cells: list[CellSpec]) -> list[CellSpec]:
        """Run the planned cells and return those run: all of them, or with --precision the
        blocks one at a time until `precision.stop_reason` says stop (at least
        `precision.min_blocks`); the manifest's `precision` section says why it stopped."""
        target = self.config.precision
        if target is None:
            self.run_cells(lab, cells)
            return cells
        least = precision.min_blocks(self.config.repeats)
        budget = self.config.budget_s
        blocks: dict[int, list[CellSpec]] = {}
        for spec in cells:
            blocks.setdefault(spec.repeat, []).append(spec)
        ran: list[CellSpec] = []
        results: list[CellResult] = []
        seconds: list[float] = []
        for block in blocks.values():
            self.progress.phase(f"block {len(seconds) + 1} (until ±{target:.1%} or the budget)")
            started = time.monotonic()
            results += self.run_cells(lab, block)
            seconds.append(time.monotonic() - started)
            ran += block
            found = ratios(results, self.config.interval, self.config.calibrate)
            assessed = precision.assess(found, target)
            reason = precision.stop_reason(
                assessed, seconds, budget_s=budget, least=least, most=len(blocks)
            )
            self.manifest.precision = precision.report(
                target,
                assessed,
                seconds,
                budget_s=budget,
                least=least,
                most=len(blocks),
                reason=reason,
            )
            self.manifest.order["sequence"] = [c.cell_id for c in ran]
            self.save_manifest()
            if reason:
                break
        return ran

    def execute(self) -> Path:
        interrupted = False
        try:
            with open_lab(self.config, self.dir, self.progress) as lab:
                self.attach(lab)
                variants = list(self.config.variants)
                if self.config.verify and BACKENDS[self.config.backend].verify:
                    variants = self.verify(lab)
                elif self.config.verify:
                    self.manifest.caveats.append(NO_VERIFICATION.format(self.config.backend))
                self.save_manifest()
                cells = plan(
                    matrix_variants(variants, self.config.calibrate),  # with the A/A arm
                    self.config.workloads,
                    self.config.loads,
                    self.blocks_planned,
                    seed=int(self.config.order_seed or 0),
                    duration_s=self.config.duration_s,
                    warmup_s=self.config.warmup_s,
                    rtts=self.rtts,
                )
                for cell in cells:
                    # the A/A arm runs with its variant's knobs (other arms with their own)
                    who = knob_source(cell.variant, self.config.calibrate)
                    cell.knobs, cell.profile = self.knobs(who, cell.workload)
                self.manifest.order = {
                    "seed": self.config.order_seed,
                    "design": "randomised complete blocks: each repeat shuffles every cell once"
                    + (", blocks added until --precision is met" if self.config.precision else ""),
                    "sequence": [c.cell_id for c in cells],
                }
                self.save_manifest()
                cells = self.run_matrix(lab, cells)
                if self.config.capacity.enabled and variants:
                    self.capacity_search(lab, variants, len(cells))
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            self.manifest.finished = _now()
            self.manifest.interrupted = interrupted
            self.save_manifest()
            summarize(self.dir)
        return self.dir


def execute(
    config: RunConfig, results_root_dir: Path | None = None, progress: Progress | None = None
) -> Path:
    """Run the matrix described by `config`; returns the run's results folder."""
    return Run(config, results_root_dir or results_root(), progress or Silent()).execute()
