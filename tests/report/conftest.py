"""A recorded small run (tests/report/fixtures/run-small), reports built from it, and a way to
read the numbers a report shows back out of its HTML."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from loadlab.core.results import Estimate, read_manifest, read_summary, write_json_atomic
from loadlab.report import build_report

FIXTURE = Path(__file__).parent / "fixtures" / "run-small"


@pytest.fixture(scope="session")
def run_dir() -> Path:
    return FIXTURE


@pytest.fixture(scope="module")
def reports_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def report(reports_root: Path) -> Path:
    return build_report([FIXTURE], out_root=reports_root)


def derive_run(dest_root: Path, run_id: str, *, hostname: str, json_ratio_factor: float) -> Path:
    """A copy of the fixture run as if it ran elsewhere: another id and machine, a package
    upgraded, and the json ratios moved by `json_ratio_factor`."""
    dest = dest_root / run_id
    shutil.copytree(FIXTURE, dest)
    manifest = read_manifest(dest)
    manifest.run_id = run_id
    manifest.machine = {**manifest.machine, "hostname": hostname, "cpu_count": 8}
    manifest.packages = {**manifest.packages, "uvicorn": "0.99.0"}
    write_json_atomic(dest / "manifest.json", manifest)
    summary = read_summary(dest)
    summary.run_id = run_id

    def scaled(e: Estimate) -> Estimate:
        f = json_ratio_factor
        return Estimate(
            median=e.median * f,
            ci_low=e.ci_low * f,
            ci_high=e.ci_high * f,
            n=e.n,
            values=[v * f for v in e.values],
        )

    for ratio in summary.ratios:
        if ratio.workload == "json":
            ratio.estimate = scaled(ratio.estimate)
    write_json_atomic(dest / "summary.json", summary)
    return dest


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    head: str = ""  # the text before the first child element: a cell's own figure
    has_child: bool = False


class PageParser(HTMLParser):
    """Every element with its attributes; the text of those carrying `data-metric`/`data-claim`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.styles: list[str] = []
        self._open: list[tuple[str, Element | None]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        for _, parent in self._open:
            if parent is not None:
                parent.has_child = True
        self._in_style = tag == "style"
        if tag in ("td", "th", "span", "li"):
            tracked = "data-metric" in element.attrs or "data-claim" in element.attrs
            self._open.append((tag, element if tracked else None))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)
        for _, element in self._open:
            if element is not None:
                element.text += data
                if not element.has_child:
                    element.head += data


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


def metrics(page: PageParser) -> list[Element]:
    return [e for e in page.elements if "data-metric" in e.attrs]


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
