"""Every variant's TechEmpower endpoints meet TechEmpower's published verification rules.

The rules are those of TechEmpower/FrameworkBenchmarks, toolset/test_types/ (json, db, query,
update, fortune, plaintext) and toolset/test_types/verifications.py, re-implemented here:

- headers: Server, Date (current, not cached) and Content-Type present, the content type
  TFB's pattern for the test type (html must name its charset), and Content-Length or
  Transfer-Encoding;
- bodies: the hello-world object and text, random-number rows (id and randomNumber, ints,
  1..10000), a list for /queries and /updates whose length follows TFB's clamp of the
  `queries` parameter (missing, empty, not a number or below 1: 1; above 500: 500);
- /updates persists: the rows are re-read from the database, and at 500 updates more than
  95% of them must have changed (TFB: 90% or fewer fails, 95% or fewer warns);
- /fortunes: the page, normalised as TFB normalises it, equals the page built from the
  database's fortunes plus the one added at request time, sorted by message, escaped;
- query counts: over a burst, pg_stat_statements shows, per request, the statements and
  rows on the table TFB expects (TFB counts statements naming the table; it fails on fewer
  and warns on more: here both are failures, so a cheat and waste both show).

Each variant is started for real (its registry command line) against the contract cluster.
"""

from __future__ import annotations

import email.utils
import re
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import httpx
import psycopg
import pytest

from loadlab.core.registry import get_variant, variant_names
from loadlab.deployments.appserver import AppServer
from loadlab.deployments.postgres import PostgresCluster
from loadlab.measurement import pgstats
from loadlab.orchestration import verify
from services.seed import SeedResult
from tests.contract.conftest import POOL_SIZE, WORKERS

pytestmark = pytest.mark.slow

# TFB's Accept headers per test type (abstract_test_type.py).
ACCEPT = {
    "json": "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,"
    "application/xml;q=0.8,*/*;q=0.7",
    "html": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "plaintext": "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,"
    "application/xml;q=0.8,*/*;q=0.7",
}
# TFB's Content-Type patterns (verifications.py): html must give its charset.
CONTENT_TYPE = {
    "json": re.compile(r"application/json(; ?charset=(UTF|utf)-8)?"),
    "html": re.compile(r"text/html; ?charset=(UTF|utf)-8"),
    "plaintext": re.compile(r"text/plain(; ?charset=(UTF|utf)-8)?"),
}
ENDPOINTS = {
    "/json": "json",
    "/plaintext": "plaintext",
    "/db": "json",
    "/queries?queries=2": "json",
    "/updates?queries=2": "json",
    "/fortunes": "html",
}
IMF_FIXDATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
WORLD_ROWS = 10_000
MAX_QUERIES = 500
ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")

# `queries` as TFB sends it (cases of query.py and update.py, plus the ones it implies)
# -> the number of rows it expects.
QUERY_CASES = [
    (None, 1),
    ("", 1),
    ("foo", 1),
    ("0", 1),
    ("-1", 1),
    ("1", 1),
    ("2", 2),
    ("20", 20),
    ("500", 500),
    ("501", 500),
]


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def log_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loadlab-techempower-logs-") as path:
        yield Path(path)


@dataclass(frozen=True)
class Served:
    name: str
    client: httpx.Client


@pytest.fixture(scope="module", params=variant_names())
def served(
    request: pytest.FixtureRequest, cluster: PostgresCluster, seeded: SeedResult, log_dir: Path
) -> Iterator[Served]:
    """One variant at a time (module scope: pytest runs a variant's tests together)."""
    with (
        AppServer(
            variant=get_variant(request.param),
            database_url=cluster.dsn(),
            log_dir=log_dir,
            workers=WORKERS,
            pool_size=POOL_SIZE,
        ) as server,
        httpx.Client(base_url=server.url, timeout=30.0) as client,
    ):
        yield Served(request.param, client)


def _get(served: Served, path: str, kind: str = "json") -> httpx.Response:
    return served.client.get(path, headers={"Accept": ACCEPT[kind]})


# --------------------------------------------------------------------------- the world table


def _world(dsn: str) -> dict[int, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT id, randomnumber FROM world").fetchall())


@pytest.fixture(scope="module")
def world_before(dsn: str, seeded: SeedResult) -> dict[int, int]:
    """The world table as this module found it."""
    return _world(dsn)


@pytest.fixture()
def restore_world(dsn: str, world_before: dict[int, int]) -> Iterator[None]:
    """Other tests (and the benchmark) rely on the world rows: whatever /updates changed is
    put back, as loadlab/orchestration/verify.py check_updates does."""
    yield
    changed = [(world_before[i], i) for i, v in _world(dsn).items() if world_before.get(i) != v]
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.executemany("UPDATE world SET randomnumber = %s WHERE id = %s", changed)


# --------------------------------------------------------------------------- headers


def _check_headers(response: httpx.Response, kind: str) -> list[str]:
    """TFB's verify_headers, without its second request (see test_date_is_not_cached)."""
    problems = []
    headers = response.headers
    for name in ("Server", "Date", "Content-Type"):
        if name not in headers:
            problems.append(f"required response header missing: {name}")
    if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
        problems.append("neither Content-Length nor Transfer-Encoding")
    if "Date" in headers and not IMF_FIXDATE.fullmatch(headers["Date"]):
        problems.append(f"Date {headers['Date']!r} is not an IMF-fixdate")
    content_type = headers.get("Content-Type")
    if content_type is not None and not CONTENT_TYPE[kind].fullmatch(content_type):
        problems.append(
            f"Content-Type {content_type!r} does not match {CONTENT_TYPE[kind].pattern}"
        )
    return problems


@pytest.mark.parametrize(("path", "kind"), ENDPOINTS.items(), ids=list(ENDPOINTS))
def test_required_headers(served: Served, path: str, kind: str, restore_world: None) -> None:
    response = _get(served, path, kind)
    assert response.status_code == 200, f"{served.name} {path}: {response.status_code}"
    problems = _check_headers(response, kind)
    assert not problems, f"{served.name} {path}: {problems}; headers {dict(response.headers)}"


def test_date_is_not_cached(served: Served, restore_world: None) -> None:
    """TFB asks again 3 s later and fails a Date that did not change. A Date is to the
    second: 1.1 s apart, two answers must differ; both must be about now."""
    first = {path: _get(served, path, kind).headers.get("Date") for path, kind in ENDPOINTS.items()}
    time.sleep(1.1)
    second = {
        path: _get(served, path, kind).headers.get("Date") for path, kind in ENDPOINTS.items()
    }
    now = datetime.now(UTC)
    for path in ENDPOINTS:
        assert first[path] and second[path], f"{served.name} {path}: no Date"
        assert first[path] != second[path], f"{served.name} {path}: Date cached: {first[path]}"
        sent = email.utils.parsedate_to_datetime(second[path])
        assert abs((now - sent).total_seconds()) < 5, f"{served.name} {path}: Date {sent}"


# --------------------------------------------------------------------------- bodies


def test_json_body(served: Served) -> None:
    response = _get(served, "/json")
    assert response.json() == {"message": "Hello, World!"}, served.name


def test_plaintext_body(served: Served) -> None:
    response = _get(served, "/plaintext", "plaintext")
    # TFB finds "hello, world!" case-insensitively and warns about any byte more
    assert response.content == b"Hello, World!", served.name


def _check_row(row: object, world: dict[int, int]) -> list[str]:
    """TFB's verify_randomnumber_object, strictly: exactly id and randomNumber, ints (not
    strings, not booleans), id in 1..10000, and the row as the database holds it."""
    if not isinstance(row, dict):
        return [f"not a JSON object: {row!r:.60}"]
    if set(row) != {"id", "randomNumber"}:
        return [f"keys {sorted(row)}, expected id and randomNumber"]
    problems = []
    for key, value in row.items():
        if type(value) is not int:
            problems.append(f"{key} is {value!r}, not an integer")
        elif not 1 <= value <= WORLD_ROWS:
            problems.append(f"{key} {value} is outside 1..{WORLD_ROWS}")
    if not problems and world.get(row["id"]) != row["randomNumber"]:
        problems.append(f"{row} is not the database's row ({world.get(row['id'])})")
    return problems


def test_db_row(served: Served, dsn: str) -> None:
    world = _world(dsn)
    for _ in range(10):
        response = _get(served, "/db")
        row = response.json()
        assert isinstance(row, dict), f"{served.name}: /db answered {row!r:.60}, not an object"
        problems = _check_row(row, world)
        assert not problems, f"{served.name} /db: {problems}"


def _path(endpoint: str, raw: str | None) -> str:
    return endpoint if raw is None else f"{endpoint}?queries={raw}"


@pytest.mark.parametrize(("raw", "count"), QUERY_CASES, ids=[repr(r) for r, _ in QUERY_CASES])
def test_queries_cases(served: Served, dsn: str, raw: str | None, count: int) -> None:
    path = _path("/queries", raw)
    response = _get(served, path)
    assert response.status_code == 200, f"{served.name} {path}: {response.status_code}"
    rows = response.json()
    assert isinstance(rows, list), f"{served.name} {path}: top-level JSON is not an array"
    assert len(rows) == count, f"{served.name} {path}: {len(rows)} rows, expected {count}"
    world = _world(dsn)
    problems = [p for row in rows for p in _check_row(row, world)]
    assert not problems, f"{served.name} {path}: {problems[:5]}"


@pytest.mark.parametrize(("raw", "count"), QUERY_CASES, ids=[repr(r) for r, _ in QUERY_CASES])
def test_updates_cases_persist(
    served: Served, dsn: str, raw: str | None, count: int, restore_world: None
) -> None:
    path = _path("/updates", raw)
    response = _get(served, path)
    assert response.status_code == 200, f"{served.name} {path}: {response.status_code}"
    rows = response.json()
    assert isinstance(rows, list), f"{served.name} {path}: top-level JSON is not an array"
    assert len(rows) == count, f"{served.name} {path}: {len(rows)} rows, expected {count}"
    # re-read from the database: what /updates answered is what the table now holds
    world = _world(dsn)
    problems = [p for row in rows for p in _check_row(row, world)]
    assert not problems, f"{served.name} {path}: {problems[:5]}"


def test_updates_change_the_table(served: Served, dsn: str, restore_world: None) -> None:
    """TFB's verify_updates at the maximum: the table before and after /updates?queries=501."""
    before = _world(dsn)
    rows = _get(served, "/updates?queries=501").json()
    after = _world(dsn)
    changed = {i for i, value in after.items() if before[i] != value}
    answered = {row["id"] for row in rows}
    assert len(rows) == MAX_QUERIES and len(answered) == MAX_QUERIES, served.name
    assert changed <= answered, f"{served.name}: rows changed that were not answered"
    # a new random number equals the old one with probability 1/10000
    assert len(changed) > 0.95 * MAX_QUERIES, f"{served.name}: only {len(changed)} rows updated"


# --------------------------------------------------------------------------- fortunes


class FortunesNormaliser(HTMLParser):
    """A fortunes page as TFB's FortuneHTMLParser sees it: tags without attributes, a line
    break after <html>, <table>, </head> and </tr>; <meta>, <link>, <thead>, <tbody> and
    <script> (with its content) dropped; whitespace-only text dropped; character references
    and the quotes and '>' in text written one way (&quot; &apos; &gt; &lt;; &mdash; as —)."""

    DROPPED = {"meta", "link", "thead", "tbody"}
    CHARACTERS = {'"': "&quot;", "'": "&apos;", ">": "&gt;", "<": "&lt;"}
    PLAIN = set("+/()")  # TFB writes these as themselves when sent as references

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.parts: list[str] = []
        self.in_script = False

    def _add(self, text: str) -> None:
        if not self.in_script:
            self.parts.append(text)

    def handle_decl(self, decl: str) -> None:
        self._add(f"<!{decl.lower()}>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.in_script = True
        elif tag not in self.DROPPED:
            self._add(f"<{tag}>" + ("\n" if tag in ("html", "table") else ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False
        elif tag not in self.DROPPED:
            self._add(f"</{tag}>" + ("\n" if tag in ("head", "tr") else ""))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self._add(data.replace("'", "&apos;").replace('"', "&quot;").replace(">", "&gt;"))

    def handle_entityref(self, name: str) -> None:
        self._add("—" if name == "mdash" else f"&{name};")

    def handle_charref(self, name: str) -> None:
        # TFB keeps only these; any other reference fails its comparison, and so here
        try:
            char = chr(int(name[1:], 16) if name[:1] in "xX" else int(name))
        except ValueError:
            char = ""
        if char in self.PLAIN:
            self._add(char)
        else:
            self._add(self.CHARACTERS.get(char, f"&#{name};"))

    @classmethod
    def normalise(cls, page: str) -> str:
        parser = cls()
        parser.feed(page)
        parser.close()
        return "".join(parser.parts)


def _escape(message: str) -> str:
    for char, reference in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        message = message.replace(char, reference)
    return message.replace('"', "&quot;").replace("'", "&apos;")


def expected_fortunes_page(rows: list[tuple[int, str]]) -> str:
    """The normalised page TFB expects for these fortune rows."""
    fortunes = sorted([*rows, ADDITIONAL_FORTUNE], key=lambda fortune: fortune[1])
    return (
        "<!doctype html><html>\n<head><title>Fortunes</title></head>\n<body><table>\n"
        "<tr><th>id</th><th>message</th></tr>\n"
        + "".join(f"<tr><td>{i}</td><td>{_escape(m)}</td></tr>\n" for i, m in fortunes)
        + "</table></body></html>"
    )


def test_fortunes_normaliser_follows_tfb() -> None:
    """The normaliser treats the spellings TFB accepts alike (no server needed)."""
    ours = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    theirs = (
        '<!doctype html><html><head><meta charset="utf-8"><title>Fortunes</title>'
        "<script>x()</script></head><body><table><tbody>"
    )
    assert FortunesNormaliser.normalise(ours) == FortunesNormaliser.normalise(theirs)
    spellings = ["&#34;&#39;&lt;&gt;", "&quot;&#x27;&#60;&#62;", "\"'&lt;>"]
    assert {FortunesNormaliser.normalise(f"<td>{s}</td>") for s in spellings} == {
        "<td>&quot;&apos;&lt;&gt;</td>"
    }
    assert FortunesNormaliser.normalise("<td>&mdash;&#8212;</td>") == "<td>—&#8212;</td>"


def test_fortunes_page(served: Served, dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, message FROM fortune").fetchall()
    assert sorted(i for i, _ in rows) == list(range(1, 13)), "not TFB's twelve fortunes"
    response = _get(served, "/fortunes", "html")
    assert response.status_code == 200, served.name
    got = FortunesNormaliser.normalise(response.content.decode("utf-8"))
    expected = expected_fortunes_page(rows)
    assert got.splitlines() == expected.splitlines(), served.name


# --------------------------------------------------------------------------- query counts


@dataclass(frozen=True)
class Counted:
    """pg_stat_statements over a burst, per request, on one table (TFB's word match)."""

    statements: float
    rows_read: float
    rows_updated: float


def _count(served: Served, cluster: PostgresCluster, path: str, table: str, n: int) -> Counted:
    before = pgstats.snapshot(cluster.admin_dsn())
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: _get(served, path).status_code, range(n)))
    changes = pgstats.request_statements(
        pgstats.delta(before, pgstats.snapshot(cluster.admin_dsn())),
        verify.database_user(cluster.dsn()),
    )
    assert statuses == [200] * n, f"{served.name} {path}: {sorted(set(statuses))}"
    mine = [c for c in changes if re.search(rf"\b{table}\b", c["query"], re.IGNORECASE)]
    return Counted(
        statements=sum(c["calls"] for c in mine) / n,
        rows_read=sum(c["rows"] for c in mine if re.search("select", c["query"], re.I)) / n,
        rows_updated=sum(c["rows"] for c in mine if re.search("update", c["query"], re.I)) / n,
    )


# path, table, statements, rows read, rows updated per request (TFB's expected counts; for
# /updates one UPDATE per row, or one bulk UPDATE: TFB accepts both)
COUNTS = [
    ("/db", "world", {1}, 1, 0),
    ("/queries?queries=20", "world", {20}, 20, 0),
    ("/updates?queries=20", "world", {40, 21}, 20, 20),
    ("/fortunes", "fortune", {1}, 12, 0),
]


@pytest.mark.parametrize(
    ("path", "table", "statements", "rows_read", "rows_updated"),
    COUNTS,
    ids=[c[0] for c in COUNTS],
)
def test_query_counts(
    served: Served,
    cluster: PostgresCluster,
    path: str,
    table: str,
    statements: set[int],
    rows_read: int,
    rows_updated: int,
    restore_world: None,
) -> None:
    counted = _count(served, cluster, path, table, n=64)
    assert counted.statements in statements, f"{served.name} {path}: {counted}"
    assert counted.rows_read == rows_read, f"{served.name} {path}: {counted}"
    assert counted.rows_updated == rows_updated, f"{served.name} {path}: {counted}"
