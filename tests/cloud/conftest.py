"""An emulated AWS for the cloud tests: moto's server on loopback, started once per session as
a real subprocess and reset before each test, with a Debian 12 image registered under
Debian's own owner id so provision-aws.yml's image lookup runs unchanged.

What is emulated, and how (moto 5.2.5, server mode):
- EC2 itself (VPC, subnet, gateway, routes, security group, key pair, instances, volumes,
  tags, filters) is moto's; instance types are validated against moto's list
  (MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION).
- Placement groups are not: moto answers CreatePlacementGroup with "not implemented", so the
  tests switch them off (loadlab_aws_placement_group=false / --no-placement-group).
- Wrong credentials: moto's own IAM check, switched on for one test (/moto-api/reset-auth).
- A quota refusal: moto has no quotas. `RefusingProxy` sits between the client and moto and
  answers RunInstances, after the first N, with the error AWS sends when the vCPU quota is
  used up (VcpuLimitExceeded); everything else passes through to moto unchanged.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.ansible.conftest import REPO, VENV_BIN, collections  # noqa: F401  (a fixture)

REGION = "eu-west-1"  # inventories/aws_ec2.yml's region and group_vars' default
# Debian's own account publishes the official images; the name is a real Debian 12 AMI's.
DEBIAN_AMI = {
    "ami_id": "ami-0d3e6a6b0e0c2a1f0",
    "name": "debian-12-amd64-20240717-1811",
    "description": "Debian 12 (20240717-1811)",
    "owner_id": "136693071363",
    "public": True,
    "virtualization_type": "hvm",
    "architecture": "x86_64",
    "state": "available",
    "platform": None,
    "image_type": "machine",
    "hypervisor": "xen",
    "root_device_name": "/dev/xvda",
    "root_device_type": "ebs",
    "sriov": "simple",
    "creation_date": "2024-07-17T18:14:00.000Z",
}
# AWS's words when the vCPU quota is used up (RunInstances, HTTP 400)
VCPU_LIMIT_EXCEEDED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>VcpuLimitExceeded'
    "</Code><Message>You have requested more vCPU capacity than your current vCPU limit of 16 "
    "allows for the instance bucket that the specified instance type belongs to. Please visit "
    "http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."
    "</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID>"
    "</Response>"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def aws_env(endpoint: str, home: Path, **extra: str) -> dict[str, str]:
    """An environment whose boto3 (ours, the modules', the inventory plugin's) talks to
    `endpoint` with moto's test credentials, and never to a real account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOADLAB_CLOUD_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        LOADLAB_HOME=str(home / "loadlab-home"),
        ANSIBLE_CONFIG=str(REPO / "playbooks" / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        COLUMNS="200",
    )
    env.update(extra)
    return env


@dataclass
class Moto:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def post(self, path: str, data: bytes = b"") -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method="POST",
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def reset(self) -> None:
        self.post("/moto-api/reset")

    def require_auth(self, on: bool) -> None:
        """moto's IAM check of the access keys: on for 0 requests from now, off again: never."""
        self.post("/moto-api/reset-auth", b"0" if on else b"inf")

    def client(self, service: str = "ec2", region: str = REGION) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    home = tmp_path_factory.mktemp("moto")
    amis = home / "amis.json"
    amis.write_text(json.dumps([DEBIAN_AMI]))
    port = free_port()
    log = home / "moto.log"
    server = VENV_BIN / "moto_server"
    command = ([str(server)] if server.exists() else [sys.executable, "-m", "moto.server"]) + [
        "-H",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "MOTO_AMIS_PATH": str(amis),
        "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/moto-api/", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto did not start: {log.read_text()[-2000:]}", pytrace=False)
                time.sleep(0.2)
        yield Moto(url, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws(moto: Moto) -> Iterator[Moto]:
    """moto, empty but for its default VPC and our Debian image."""
    moto.reset()
    moto.require_auth(False)
    yield moto
    moto.require_auth(False)


@pytest.fixture(scope="session")
def ssh_public_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway key pair (the private half is never used: moto's machines do not boot)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("ssh") / "id_ed25519.pub"
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.write_bytes(public + b" loadlab-moto-test\n")
    return path


class RefusingProxy(ThreadingHTTPServer):
    """Loopback proxy to moto that refuses RunInstances with VcpuLimitExceeded after `allow`
    calls went through: a vCPU quota reached part-way through provisioning."""

    daemon_threads = True

    def __init__(self, upstream: str, allow: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = urlsplit(upstream)
        self.allow = allow
        self.run_instances = 0
        self.refused = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def refuse(self, body: bytes) -> bool:
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        if action != "RunInstances":
            return False
        with self.lock:
            self.run_instances += 1
            if self.run_instances <= self.allow:
                return False
            self.refused += 1
            return True


class _ProxyHandler(BaseHTTPRequestHandler):
    server: RefusingProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.refuse(body):
            payload = VCPU_LIMIT_EXCEEDED.encode()
            self.send_response(400)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(
            self.server.upstream.hostname, self.server.upstream.port, timeout=120
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()

    do_GET = do_POST = _forward


@pytest.fixture
def refusing_proxy(aws: Moto) -> Iterator[RefusingProxy]:
    proxy = RefusingProxy(aws.url, allow=2)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
