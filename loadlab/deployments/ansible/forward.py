"""The Locust master's web UI on this machine's loopback: an SSH tunnel to the master node,
with the SSH settings Ansible uses for that host (its inventory, then the run's extra-vars
files), so `--web` works wherever the playbooks reach, a cloud included, without opening a
port on the node."""

from __future__ import annotations

import json
import shlex
import shutil
import socket
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.deployments.ansible.playbook import ansible_inventory
from loadlab.deployments.processes import ManagedProcess, wait_until

SSH_SETTINGS = (
    "ansible_host", "ansible_user", "ansible_port", "ansible_ssh_private_key_file",
    "ansible_ssh_common_args", "ansible_ssh_extra_args",
)  # fmt: skip


def host_settings(inventory: str, host: str, vars_files: list[str]) -> dict[str, Any]:
    """`host`'s SSH settings as ansible-playbook sees them: extra vars over the inventory."""
    settings = ansible_inventory(
        inventory, "--host", host, hint="run without --web, or fix the inventory"
    )
    for path in vars_files:
        settings.update(json.loads(Path(path).read_text()))
    return {k: settings[k] for k in SSH_SETTINGS if settings.get(k) not in (None, "")}


def tunnel_command(
    settings: dict[str, Any], host: str, local_port: int, remote_port: int
) -> list[str]:
    ssh = shutil.which("ssh")
    if ssh is None:
        raise LabError("ssh not found: --web reaches the master's UI through an SSH tunnel",
                       hint="install openssh-client, or run without --web")  # fmt: skip
    templated = [k for k, v in settings.items() if "{{" in str(v)]
    if templated:
        raise LabError(
            f"--web needs the master's SSH settings as plain values; {templated[0]} is a template",
            hint="run without --web, or give the value itself in the inventory",
        )
    # ssh takes an option's first value: these stay, whatever the inventory's arguments say
    argv = [ssh, "-N", "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes"]
    argv += ["-o", "ServerAliveInterval=15", "-o", "ControlMaster=no", "-o", "ControlPath=none"]
    argv += ["-o", "LogLevel=VERBOSE"]  # its log says why a tunnel closed
    argv += ["-L", f"127.0.0.1:{local_port}:127.0.0.1:{remote_port}"]
    if "ansible_port" in settings:
        argv += ["-p", str(settings["ansible_port"])]
    if "ansible_ssh_private_key_file" in settings:
        argv += ["-i", str(settings["ansible_ssh_private_key_file"])]
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        argv += shlex.split(str(settings.get(key, "")))
    address = str(settings.get("ansible_host", host))
    user = settings.get("ansible_user")
    return [*argv, f"{user}@{address}" if user else address]


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class WebTunnel:
    """While it is open, 127.0.0.1:local_port here is 127.0.0.1:remote_port on the master."""

    def __init__(self, command: list[str], local_port: int, log_path: Path) -> None:
        self.command = command
        self.local_port = local_port
        self.log_path = log_path
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    def open(self) -> WebTunnel:
        process = ManagedProcess(
            "ssh tunnel to the Locust master", self.command, log_path=self.log_path
        )
        self.process = process.start()
        wait_until(lambda: _listening(self.local_port) or not process.alive(), 20)
        if not process.alive():
            self.close()
            raise LabError(
                f"the SSH tunnel to the Locust master's web UI did not open:\n{process.log_tail()}",
                hint="run without --web, or check that `ssh` reaches the master as Ansible does",
            )
        return self

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
