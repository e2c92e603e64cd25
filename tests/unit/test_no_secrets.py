"""No password, key or token lives in the repository: every file git tracks (and every new
file git would add) is scanned for private keys, cloud credentials and passwords written as
literal values. Secrets come from the environment, Ansible Vault or files the lab generates
under git-ignored folders (.loadlab/, playbooks/.secrets/, .env).

Documented placeholders are allowed: template and environment references ({{ x }}, ${X},
$(command), lookup(...)), empty values, and the spellings in PLACEHOLDERS (USER:PASSWORD@HOST
in a how-to among them). A fake credential a test needs carries `secret-scan: allow` on its
line.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_BYTES = 2_000_000  # large data files (CSV traces, histograms) hold no settings

# Anywhere, in any file.
KEY_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key\W{0,3}[:=]\W{0,3}[A-Za-z0-9/+]{40}\b"
    ),
    "Azure storage account key": re.compile(r"AccountKey=[A-Za-z0-9+/]{86}=="),
    "Azure SAS signature": re.compile(r"[?&]sig=[A-Za-z0-9%]{40,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@{}$]+:(?P<value>[^@\s/{}$<]+)@"),
}

# `name: value` / `name = value` / `NAME=value` where the name says it is a secret: the word
# is one of the name's parts (db_password, API_TOKEN), not inside another word (the package
# pytokens, secretstorage in a manifest's package list).
ASSIGNMENT = re.compile(
    r"""(?ix)
    (?<![{\w.-])
    (?P<name>(?:[a-z0-9]+[_.-])*(?:password|passwd|secret|api[_-]?key|access[_-]?key|token|private[_-]?key)(?:[_.-][a-z0-9]+)*)
    ["']?\s*(?::|=)\s*
    (?P<value>"[^"]*"|'[^']*'|[^\s#,]+)
    """
)
# Names that hold a path or a policy about secrets, not a secret.
NOT_A_SECRET = re.compile(r"(?i)(_file|_path|_dir|_encryption|_enabled|_length|_policy)$")
YAML_BLOCK = {">", ">-", ">+", "|", "|-", "|+"}
ALLOW_MARKER = "secret-scan: allow"

# File kinds holding settings: where an assignment is a configured value.
SETTINGS_SUFFIXES = {".yml", ".yaml", ".env", ".toml", ".ini", ".cfg", ".conf", ".j2", ".json"}
SETTINGS_NAMES = {"Dockerfile", ".env", "docker-compose.yml"}
# The lab's own code configures too (a module constant like DB_PASSWORD = "..."); tests may
# write throwaway literals for servers they start, so they are scanned for keys only.
CODE_DIRS = ("loadlab/", "services/", "loadtests/", "infra/", "playbooks/")

PLACEHOLDERS = re.compile(
    r"""(?ix)^(
        | \{\{.*\}\}? | \{\{.* | .*\}\} | \$\{[^}]*\}? | \$[A-Z_][A-Z0-9_]* | %\(\w+\)s | \$\(.*
        | lookup\(.* | <.* | \[?redacted\]? | \** | x{3,} | \.\.\.
        | null | none | ~ | true | false | yes | no
        | changeme | change[-_]me | replace[-_]me | placeholder | example | your[-_a-z]*
        | password | passwd | pass | pwd | pw | secret | lint-only
    )$"""
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def repository_files() -> list[str]:
    """Tracked files plus the untracked ones git would add (not ignored)."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"git ls-files failed in {REPO}: {exc}")
    return sorted({name for name in done.stdout.decode().split("\0") if name})


def _unquote(value: str) -> str:
    value = value.strip().rstrip(";,")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.strip()


def _is_placeholder(value: str) -> bool:
    value = _unquote(value)
    return bool(PLACEHOLDERS.match(value)) or value.startswith(("{{", "${", "lookup(", "!vault"))


def _is_settings_file(path: str) -> bool:
    name = Path(path).name
    return Path(path).suffix in SETTINGS_SUFFIXES or name in SETTINGS_NAMES or name == ".env"


def _is_code(path: str) -> bool:
    return path.endswith((".py", ".sh")) and path.startswith(CODE_DIRS)


def scan(path: str, text: str) -> list[Finding]:
    findings: list[Finding] = []
    assignments = _is_settings_file(path) or _is_code(path)
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if ALLOW_MARKER in line:
            continue
        for what, pattern in KEY_PATTERNS.items():
            for match in pattern.finditer(line):
                value = match.groupdict().get("value")
                if value is None or not _is_placeholder(value):
                    findings.append(Finding(path, number, what))
        if not assignments:
            continue
        for match in ASSIGNMENT.finditer(line):
            value = match.group("value")
            if NOT_A_SECRET.search(match.group("name")):
                continue
            if _is_code(path) and not value.startswith(("'", '"')):
                continue  # code assigning a variable, a call or a parameter, not a literal
            if value in YAML_BLOCK and number < len(lines):
                value = lines[number].strip()  # the block's first line is the value
            if not _is_placeholder(value):
                findings.append(Finding(path, number, f"{match.group('name')} has a literal value"))
    return findings


def test_no_secret_is_tracked() -> None:
    files = repository_files()
    assert "docker-compose.yml" in files, "the scan must see the repository's files"
    findings: list[Finding] = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        findings += scan(name, text)
    assert not findings, "secrets in the repository:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("k.pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n"),  # secret-scan: allow
        ("k", "-----BEGIN OPENSSH PRIVATE KEY-----"),  # secret-scan: allow
        ("a.yml", "aws_access_key_id: AKIAIOSFODNN7EXAMPL3\n"),  # secret-scan: allow
        (
            "a.yml",
            "aws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYZZ\n",
        ),  # secret-scan: allow
        ("a.txt", "DefaultEndpointsProtocol=https;AccountKey=" + "A" * 86 + "==;"),
        ("db.yml", "loadlab_db_password: hunter2\n"),
        ("db.yml", 'postgres_password: "hunter2"\n'),
        ("compose.yml", "      POSTGRES_PASSWORD: hunter2\n"),
        ("compose.yml", "DATABASE_URL: postgresql://u:hunter2@db/x\n"),  # secret-scan: allow
        (".env", "LOADLAB_PG_PASSWORD=hunter2\n"),
        ("loadlab/x.py", 'DB_PASSWORD = "hunter2"\n'),
        ("x.toml", 'api_key = "abc123"\n'),
    ],
)
def test_the_scan_finds_planted_secrets(path: str, text: str) -> None:
    assert scan(path, text), f"missed a secret in {path}: {text!r}"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("db.yml", "loadlab_db_password: \"{{ lookup('ansible.builtin.env', 'X') }}\"\n"),
        ("db.yml", "postgres_db_password: ''\n"),
        ("db.yml", '  PGPASSWORD: "{{ postgres_db_password }}"\n'),
        ("compose.yml", "      POSTGRES_PASSWORD: ${LOADLAB_PG_PASSWORD:?set it}\n"),
        ("compose.yml", "DATABASE_URL: postgresql://loadlab:${LOADLAB_PG_PASSWORD}@postgres/x\n"),
        (".env", "LOADLAB_PG_PASSWORD=<generate one: openssl rand -hex 16>\n"),
        ("loadlab/x.py", "password = secrets.token_urlsafe(24)\n"),
        ("loadlab/x.py", "secret = quote(self.password)\n"),
        ("tests/x.py", 'env = {"LOADLAB_DB_PASSWORD": "lint-only"}\n'),
        ("a.yml", "ssh_password_enabled: false\n"),
        ("manifest.json", '    "pytokens": "0.3.0",\n    "secretstorage": "3.3.3",\n'),
    ],
)
def test_the_scan_allows_placeholders(path: str, text: str) -> None:
    assert scan(path, text) == []
