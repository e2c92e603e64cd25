"""One Locust swarm, described once: the master's and the workers' command lines and the
environment both share. Each backend renders the same spec its own way: the local swarm as
argv, compose as service overrides, the Ansible nodes as a systemd environment file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LOCUSTFILE = "loadtests/locustfile.py"  # relative to the lab's source tree on every backend
MASTER_PORT = 5557  # Locust's own default
WEB_PORT = 8089  # Locust's own default
EXPECT_WORKERS_MAX_WAIT_S = 60
BACKSTOP_S = 30  # the locustfile's timed stop ends a cell; Locust's -t only backs it up


class WebUi(BaseModel):
    """The master's own web UI, for watching a run live; the run still starts by itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=WEB_PORT, ge=1, le=65535)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SwarmSpec(BaseModel):
    """What a cell's Locust master and workers are started with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_url: str
    users: int = Field(ge=1)
    total_s: float = Field(gt=0, description="warm-up and measured window (LOADLAB_DURATION_S)")
    workers: int = Field(ge=1, description="the master waits for this many")
    csv_prefix: str = Field(description="where the master writes Locust's CSVs")
    environment: dict[str, str] = Field(description="LOADLAB_* (docs/contracts.md), for both")
    locustfile: str = LOCUSTFILE
    master_bind_host: str | None = None  # None: Locust's default (every interface)
    master_port: int = MASTER_PORT
    master_host: str = "127.0.0.1"  # where the workers find the master
    web: WebUi | None = None
    master_logfile: str | None = None
    worker_logfile: str | None = None

    @property
    def spawn_rate(self) -> int:
        return max(self.users, 1)  # every user within the first second

    @property
    def run_time_s(self) -> int:
        return int(self.total_s + BACKSTOP_S)

    def master_args(self) -> list[str]:
        """The master's options, after `locust -f LOCUSTFILE`."""
        args = ["--master"]
        if self.web is None:
            args.append("--headless")
        else:
            # the UI shows the run as it goes; --autoquit ends the process when it is over
            args += ["--autostart", "--autoquit", "0"]
            args += ["--web-host", self.web.host, "--web-port", str(self.web.port)]
        if self.master_bind_host is not None:
            args += ["--master-bind-host", self.master_bind_host]
        args += ["--master-bind-port", str(self.master_port)]
        args += ["--expect-workers", str(self.workers)]
        args += ["--expect-workers-max-wait", str(EXPECT_WORKERS_MAX_WAIT_S)]
        args += ["-u", str(self.users), "-r", str(self.spawn_rate), "-t", f"{self.run_time_s}s"]
        args += ["--host", self.target_url, "--csv", self.csv_prefix, "--csv-full-history"]
        args += ["--only-summary", "--loglevel", "INFO"]
        if self.master_logfile:
            args += ["--logfile", self.master_logfile]
        return args

    def worker_args(self) -> list[str]:
        """A worker's options, after `locust -f LOCUSTFILE`."""
        args = ["--worker", "--master-host", self.master_host]
        args += ["--master-port", str(self.master_port), "--loglevel", "WARNING"]
        if self.worker_logfile:
            args += ["--logfile", self.worker_logfile]
        return args

    def master_command(self, locust: str = "locust", locustfile: str | None = None) -> list[str]:
        return [locust, "-f", locustfile or self.locustfile, *self.master_args()]

    def worker_command(self, locust: str = "locust", locustfile: str | None = None) -> list[str]:
        return [locust, "-f", locustfile or self.locustfile, *self.worker_args()]
