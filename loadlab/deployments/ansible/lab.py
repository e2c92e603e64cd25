"""The ansible backend as a `Lab`: the runner drives it as it drives the others (same
manifest, order, fault watch and soak windows), and each step is a playbook on the nodes:

  lab.yml    facts of every node, the data seeded at the run's scale (once, on entry)
  serve.yml  the variant's unit rendered with the cell's knobs, started, answering /healthz
  cell.yml   the cell's SwarmSpec as the load generators' environment file, the swarm, the
             units' and the database's state before and after, every node's outputs fetched
  stop.yml   everything the run started, stopped (on exit, also after an error or Ctrl-C)

Converge the nodes with site.yml first. Each playbook's output goes to
results/<run-id>/ansible/<playbook>.log.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.core.progress import Progress
from loadlab.core.registry import get_variant
from loadlab.core.results import CellSpec, VariantRecord
from loadlab.deployments.ansible import collect
from loadlab.deployments.ansible.forward import WebTunnel, host_settings, tunnel_command
from loadlab.deployments.ansible.playbook import Playbooks
from loadlab.deployments.ansible.topology import TESTBED_CAVEAT, app_node, topology
from loadlab.deployments.ports import preferred_port
from loadlab.deployments.swarm import cell_environment
from loadlab.deployments.swarm_spec import WEB_PORT, SwarmSpec, WebUi

SWARM_SLACK_S = 120  # the swarm's own backstop, the workers' start and the fetch


class Served:
    """A variant running on the app node."""

    def __init__(self, url: str, record: VariantRecord) -> None:
        self.url = url
        self._record = record
        self.died = False  # set by the last cell's fault watch

    def record(self) -> VariantRecord:
        return self._record

    def alive(self) -> bool:
        return not self.died


def _words(args: Sequence[str]) -> str:
    """Arguments for an unbraced $VARIABLE of ExecStart=, which systemd splits at whitespace."""
    spaced = [a for a in args if re.search(r"\s", a) or not a]
    if spaced:
        raise LabError(
            f"a Locust argument cannot go into a systemd unit: {spaced[0]!r} holds whitespace",
            hint="use paths and URLs without spaces for the ansible backend",
        )
    return " ".join(args)


def check_inventory(inventory: str | None) -> Path:
    """The inventory as an absolute path (the playbooks run from playbooks/, so a path
    relative to where the run started must not change meaning), or a LabError."""
    hint = (
        "copy playbooks/inventories/hosts.yml and put in your hosts, or boot the test bed "
        "(infra/testbed/testbed.sh up 3) for playbooks/inventories/testbed/hosts.yml"
    )
    if not inventory:
        raise LabError("the ansible backend needs an inventory (-i INVENTORY)", hint=hint)
    path = Path(inventory).expanduser().resolve()
    if not path.exists():
        raise LabError(f"the inventory {inventory} does not exist", hint=hint)
    return path


class AnsibleLab:
    def __init__(self, config: Any, run_dir: Path, progress: Progress) -> None:
        self.inventory = check_inventory(config.inventory)
        self.config = config
        self.progress = progress
        self.state_dir = run_dir / "ansible"
        self.run_id = run_dir.name
        extra = [arg for path in config.ansible_vars for arg in ("-e", f"@{Path(path).resolve()}")]
        self.playbooks = Playbooks(str(self.inventory), self.state_dir, extra)
        self.facts: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.postgres: dict[str, Any] = {}
        self.topology: dict[str, Any] = {}
        self.caveats: list[str] = []
        self.machine: dict[str, Any] = {}
        self.python = ""
        self.packages: dict[str, Any] = {}
        self.tunnel: WebTunnel | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> AnsibleLab:
        try:
            self._bring_up()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _sizes(self) -> dict[str, Any]:
        return {
            "lab_app_workers": self.config.app_workers or "",
            "lab_pool_size": self.config.pool_size or "",
        }

    def _bring_up(self) -> None:
        out = self.state_dir / "facts.json"
        self.progress.phase("ansible: reading the nodes and checking the data (lab.yml)")
        self.playbooks.run(
            "lab.yml",
            {
                "lab_facts_out": str(out),
                "lab_scale": self.config.scale,
                "lab_data_seed": self.config.data_seed,
                **self._sizes(),
            },
            what="bringing the lab up",
        )
        self.facts = json.loads(out.read_text())
        self.data = dict(self.facts["data"])
        self.postgres = dict(self.facts["postgres"])
        self.topology = topology(self.facts)
        node = app_node(self.facts)
        self.machine = dict(node.get("machine", {}))
        self.python = str(node.get("python", ""))
        self.packages = dict(node.get("packages", {}))
        if self.facts.get("testbed"):
            self.caveats.append(TESTBED_CAVEAT)
        if self.config.web:
            self._open_web_tunnel()

    def _open_web_tunnel(self) -> None:
        master = self.facts["master"]["host"]
        settings = host_settings(str(self.inventory), master, self.config.ansible_vars)
        local = preferred_port(WEB_PORT)
        command = tunnel_command(settings, master, local, WEB_PORT)
        self.tunnel = WebTunnel(command, local, self.state_dir / "web-tunnel.log").open()
        self.topology["locust_web"] = self.tunnel.url
        self.progress.note(
            f"Locust web UI: {self.tunnel.url} (each cell's swarm, while it runs; an SSH "
            f"tunnel to {master})"
        )

    def _stop(self) -> None:
        if self.tunnel is not None:
            self.tunnel.close()
            self.tunnel = None
        with contextlib.suppress(LabError):
            self.playbooks.run("stop.yml", {}, what="stopping the lab's units")

    # ------------------------------------------------------------------ the Lab protocol
    @property
    def dsn(self) -> str:
        db = self.facts["nodes"][self.facts["groups"]["db"][0]]
        settings = self.facts["settings"]
        return (
            f"postgresql://{settings['loadlab_db_user']}@{db['address']}:"
            f"{settings['loadlab_db_port']}/{settings['loadlab_db_name']}"
        )

    @property
    def admin_dsn(self) -> str:
        return self.dsn

    @contextlib.contextmanager
    def serve(
        self, variant: str, knobs: dict[str, Any] | None = None, profile: str = "stock"
    ) -> Iterator[Served]:
        spec = get_variant(variant)
        app = self.facts["app"]
        knobs = dict(knobs or {})
        self.progress.phase(f"ansible: starting {variant} (serve.yml)")
        self.playbooks.run(
            "serve.yml",
            {"lab_variant": variant, "lab_knobs": knobs, **self._sizes()},
            what=f"starting {variant}",
        )
        # as the app role renders the unit: "cpus" is the app's workers, the lab's pool size
        # every variant's pool, the cell's knobs over both
        given = {"pool_size": int(app["pool_size"])} if "pool_size" in spec.knobs else {}
        record = spec.record(
            host=app["bind_host"],
            port=int(app["port"]),
            knobs=spec.settings({**given, **knobs}, cpus=int(app["workers"])),
            profile=profile,
        )
        yield Served(app["url"], record)

    def swarm_spec(self, spec: CellSpec, node_dir: str) -> SwarmSpec:
        master = self.facts["master"]
        environment = cell_environment(
            spec,
            self.config,
            users_seeded=int(self.data["users"]),
            measurement_out=Path(node_dir) / "measurement.json",
        )
        return SwarmSpec(
            target_url=self.facts["app"]["url"],
            users=spec.load.users,
            total_s=spec.warmup_s + spec.duration_s,
            workers=len(self.facts["worker_units"]),
            csv_prefix=f"{node_dir}/locust",
            environment=environment,
            master_bind_host="0.0.0.0",
            master_port=int(master["port"]),
            master_host=str(master["address"]),
            master_logfile=f"{node_dir}/locust-master.log",
            # on the master's loopback only: this machine reaches it through the tunnel
            web=WebUi(host="127.0.0.1", port=WEB_PORT) if self.config.web else None,
        )

    def _keep_web_tunnel(self) -> None:
        """An SSH connection can drop during a long run: the next cell opens it again."""
        if self.tunnel is not None and not self.tunnel.alive:
            self.progress.note("the SSH tunnel to the Locust web UI had closed; opening it again")
            self.tunnel.close()
            self.tunnel.open()

    def run_cell(self, spec: CellSpec, served: Served, cell_dir: Path, progress: Progress) -> None:
        self._keep_web_tunnel()
        node_dir = f"{self.facts['cells_dir']}/{spec.cell_id}"
        swarm = self.swarm_spec(spec, node_dir)
        env = {
            **swarm.environment,
            "LOADLAB_CELL_DIR": node_dir,
            "LOADLAB_LOCUST_MASTER_ARGS": _words(swarm.master_command()[1:]),
            "LOADLAB_LOCUST_WORKER_ARGS": _words(swarm.worker_command()[1:]),
        }
        master_args = swarm.master_args()
        self.playbooks.run(
            "cell.yml",
            {
                "lab": self.facts,
                "lab_cell": {
                    "cell_id": spec.cell_id,
                    # unique across runs: a unit of an earlier run may still be loaded
                    "sampler_unit": f"loadlab-telemetry-{self.run_id}-{spec.order}",
                    "variant": served.record().name,
                    "env": env,
                    # what the sampler finds the master by (a worker's line has --master-host)
                    "master_match": " ".join(master_args[:2]),
                    "timeout_s": int(swarm.run_time_s + SWARM_SLACK_S),
                },
                "lab_cell_dir": str(cell_dir),
            },
            what=f"cell {spec.cell_id}",
            tick=lambda elapsed: progress.cell_tick(min(elapsed, swarm.total_s), swarm.total_s),
        )
        groups = self.facts["groups"]
        found = collect.collect(
            cell_dir,
            app_host=groups["app"][0],
            db_host=groups["db"][0],
            master_host=groups["locust_master"][0],
            elapsed_s=swarm.total_s,
        )
        served.died = any(f.kind == "app process died" for f in found)
        if not (cell_dir / "measurement.json").exists():
            raise LabError(
                f"cell {spec.cell_id}: the Locust master ended without writing measurement.json",
                hint=f"see {cell_dir / 'locust-master.log'} and {self.state_dir / 'cell.log'}",
            )


def ansible_lab(config: Any, run_dir: Path, progress: Progress) -> AnsibleLab:
    return AnsibleLab(config, run_dir, progress)
