"""What a compose project is started with: the values docker-compose.yml interpolates (CPU
sets, published ports, sizes, the password), and the names both sides agree on."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field

from labcontract.dataset import users_for_scale
from loadlab.core.config import CpuSets, RunConfig
from loadlab.core.paths import REPO_ROOT
from loadlab.core.registry import variant_names
from loadlab.deployments.ports import free_port

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "infra" / "docker" / "Dockerfile"
TARGETS = ("postgres", "app", "seed", "locust")  # Dockerfile targets = image names loadlab/<target>
SERVICE_PORT = 8000  # every variant listens on 0.0.0.0:8000 inside its container
SERVICE_HOST = "0.0.0.0"
OUT_DIR = "/app/out"  # where the Locust master writes its CSVs and measurement.json
DB_USER = DB_NAME = "loadlab"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
MASTER_SERVICE, WORKER_SERVICE = "locust-master", "locust-worker"


def default_cpusets(cpus: int) -> dict[str, str]:
    """App, database and load generator CPUs for a machine with `cpus` CPUs: the load generator
    never shares the app's CPUs (but on a single CPU); the database shares them on two."""
    if cpus <= 1:
        return {"app": "0", "db": "0", "load": "0"}
    if cpus == 2:
        return {"app": "0", "db": "0", "load": "1"}
    if cpus == 3:
        return {"app": "0", "db": "1", "load": "2"}
    share = cpus // 4
    return {
        "app": _cpu_range(0, share),
        "db": _cpu_range(share, 2 * share),
        "load": _cpu_range(2 * share, cpus),
    }


def _cpu_range(low: int, high: int) -> str:
    return str(low) if high - low == 1 else f"{low}-{high - 1}"


def cpu_count(spec: str) -> int:
    return len(CpuSets.parse(spec))


def port_variable(variant: str) -> str:
    """The compose file's host-port variable of a variant, e.g. LOADLAB_FLASK_SYNC_PORT."""
    return "LOADLAB_" + re.sub(r"[^A-Z0-9]", "_", variant.upper()) + "_PORT"


@dataclass
class StackSettings:
    """The values the compose file interpolates; `environment()` gives them to compose."""

    project: str
    image_tag: str = field(default_factory=lambda: os.environ.get("LOADLAB_IMAGE_TAG", "latest"))
    # Never a constant in the repository: LOADLAB_PG_PASSWORD when set, else a fresh one per
    # stack (each run's project and volume are new, and removed with it)
    pg_password: str = field(
        default_factory=lambda: os.environ.get("LOADLAB_PG_PASSWORD") or secrets.token_hex(16)
    )
    scale: float = 1.0
    data_seed: int = 20240601
    app_workers: int = 1
    pool_size: int = 10
    cpusets: dict[str, str] = field(default_factory=lambda: default_cpusets(os.cpu_count() or 1))
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("postgres", *variant_names(), "locust-web"):
            if not self.ports.get(name):
                self.ports[name] = free_port()

    def environment(self) -> dict[str, str]:
        env = {
            "LOADLAB_IMAGE_TAG": self.image_tag,
            "LOADLAB_PG_PASSWORD": self.pg_password,
            "LOADLAB_PG_PORT": str(self.ports["postgres"]),
            "LOADLAB_SCALE": f"{self.scale:g}",
            "LOADLAB_DATA_SEED": str(self.data_seed),
            "LOADLAB_USERS_SEEDED": str(users_for_scale(self.scale)),
            "LOADLAB_APP_WORKERS": str(self.app_workers),
            "LOADLAB_POOL_SIZE": str(self.pool_size),
            "LOADLAB_APP_CPUSET": self.cpusets["app"],
            "LOADLAB_DB_CPUSET": self.cpusets["db"],
            "LOADLAB_LOAD_CPUSET": self.cpusets["load"],
            "LOADLAB_LOCUST_WEB_PORT": str(self.ports["locust-web"]),
        }
        for variant in variant_names():
            env[port_variable(variant)] = str(self.ports[variant])
        return env

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}:{self.pg_password}@127.0.0.1:{self.ports['postgres']}/{DB_NAME}"


def project_name(run_id: str) -> str:
    """Compose project names: lower-case letters, digits, dashes and underscores."""
    return re.sub(r"[^a-z0-9_-]", "-", f"loadlab-{run_id}".lower())


def settings_for(config: RunConfig, run_id: str) -> StackSettings:
    cpusets = (
        config.cpusets.model_dump() if config.cpusets else default_cpusets(os.cpu_count() or 1)
    )
    return StackSettings(
        project=os.environ.get("LOADLAB_COMPOSE_PROJECT") or project_name(run_id),
        scale=config.scale,
        data_seed=config.data_seed,
        app_workers=config.app_workers or cpu_count(cpusets["app"]),
        pool_size=config.pool_size or StackSettings.pool_size,  # None: the stock 10
        cpusets=cpusets,
    )
