"""`--db-rtt` values and the `network` config section: parsing, validation, the matrix axis."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from loadlab.cli.app import _db_rtt
from loadlab.core.config import NetworkEmulation, load_config
from loadlab.core.errors import LabError
from loadlab.core.matrix import plan
from loadlab.core.results import LoadLevel


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1ms", [1.0]),
        ("0.5ms", [0.5]),
        ("2", [2.0]),
        ("500us", [0.5]),
        ("0.001s", [1.0]),
        (" 1 MS ", [1.0]),
        (".25", [0.25]),
        ("0,0.5,1,2,5", [0.0, 0.5, 1.0, 2.0, 5.0]),
        ("0, 1ms ,2,", [0.0, 1.0, 2.0]),
    ],
)
def test_round_trips_parse(text: str, expected: list[float]) -> None:
    assert NetworkEmulation.parse_rtts(text) == expected


@pytest.mark.parametrize("text", ["-1", "1 sec", "fast", "1ms2", "", ",", "1e3"])
def test_bad_round_trips_are_named(text: str) -> None:
    with pytest.raises(ValueError, match="round trip"):
        NetworkEmulation.parse_rtts(text)


def test_the_cli_option_becomes_the_config_section() -> None:
    assert _db_rtt(None) is None
    assert _db_rtt("0,2ms") == {"db_rtt_ms": [0.0, 2.0]}
    with pytest.raises(typer.BadParameter, match="'fast' is not a round trip"):
        _db_rtt("fast")


def test_a_single_value_a_string_and_a_list_all_validate() -> None:
    assert NetworkEmulation(db_rtt_ms=1).db_rtt_ms == [1.0]  # type: ignore[arg-type]
    assert NetworkEmulation(db_rtt_ms="0.5ms,1").db_rtt_ms == [0.5, 1.0]  # type: ignore[arg-type]
    assert NetworkEmulation(db_rtt_ms=[2, 0, 2]).db_rtt_ms == [2.0, 0.0]  # duplicates once


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"db_rtt_ms": [-1]}, "not negative"),
        ({"db_rtt_ms": []}, "at least 1 item"),
        ({"db_rtt_ms": [1], "jitter_ms": -0.5}, "greater than or equal to 0"),
        ({"db_rtt_ms": [1], "rate": "fast"}, "is not a tc rate"),
        ({"db_rtt_ms": [1], "latency": 3}, "unknown key"),
        ({"jitter_ms": 1}, "Field required"),
    ],
)
def test_bad_network_sections_are_named_by_key(network: dict[str, object], message: str) -> None:
    with pytest.raises(LabError, match=message) as error:
        load_config("quick", overrides={"network": network})
    assert "network" in str(error.value)


def test_a_config_file_section_and_the_cli_merge(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[network]\ndb_rtt_ms = 1.0\njitter_ms = 0.2\nrate = "1gbit"\n')
    config = load_config(None, path)
    assert config.network == NetworkEmulation(db_rtt_ms=[1.0], jitter_ms=0.2, rate="1gbit")
    swept = load_config(None, path, overrides={"network": _db_rtt("0,1,2")})
    assert swept.network is not None
    assert swept.network.db_rtt_ms == [0.0, 1.0, 2.0] and swept.network.jitter_ms == 0.2


def test_no_network_section_means_no_emulated_link() -> None:
    assert load_config("quick").network is None


def test_only_the_local_backend_emulates_the_link() -> None:
    with pytest.raises(
        LabError, match=r"compose backend does not support an emulated database link.*local backend"
    ):
        load_config("quick", overrides={"backend": "compose", "network": {"db_rtt_ms": [1]}})


def test_the_round_trip_is_a_matrix_axis() -> None:
    loads = [LoadLevel(users=8)]
    plain = plan(["a", "b"], ["w"], loads, 2, seed=7, duration_s=1, warmup_s=0)
    assert all(c.db_rtt_ms is None and "rtt" not in c.cell_id for c in plain)
    swept = plan(["a", "b"], ["w"], loads, 2, seed=7, duration_s=1, warmup_s=0, rtts=[0, 2.5])
    assert len(swept) == 2 * len(plain)
    for repeat in (1, 2):  # every repeat is a complete block holding each RTT
        block = {(c.variant, c.db_rtt_ms) for c in swept if c.repeat == repeat}
        assert block == {(v, r) for v in "ab" for r in (0.0, 2.5)}
    assert {c.cell_id.split("-")[-2] for c in swept} == {"rtt0ms", "rtt2.5ms"}
