from pathlib import Path

import pytest

from loadlab.core.config import load_config, preset_names
from loadlab.core.errors import LabError


def test_presets_exist_and_validate() -> None:
    assert {"quick", "standard", "full"} <= set(preset_names())
    for name in preset_names():
        assert load_config(name).preset == name


def test_quick_is_small_and_standard_repeats() -> None:
    assert load_config("quick").repeats == 1
    standard = load_config("standard")
    assert standard.repeats >= 3 and standard.profile == "both" and standard.precision
    assert load_config("full").capacity.enabled  # the capacity search moved to `full`


def test_overrides_win_over_the_preset() -> None:
    config = load_config("quick", overrides={"repeats": 4, "variants": ["fastapi-async"]})
    assert config.repeats == 4 and config.variants == ["fastapi-async"]


def test_unknown_variant_is_named(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="unknown variant\\(s\\) django"):
        load_config("quick", overrides={"variants": ["django"]})


def test_unknown_workload_is_named() -> None:
    with pytest.raises(LabError, match="unknown workload\\(s\\) nope"):
        load_config("quick", overrides={"workloads": ["nope"]})


def test_unknown_key_in_a_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("repeats = 2\nrepeat_count = 3\n")
    with pytest.raises(LabError) as error:
        load_config(None, path)
    assert "repeat_count: unknown key" in str(error.value)
    assert str(path) in str(error.value)


def test_yaml_files_work(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("workloads: [json]\nloads:\n  - {model: open, rate: 200, users: 16}\n")
    config = load_config(None, path)
    assert config.loads[0].rate == 200


def test_malformed_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("repeats = [\n")
    with pytest.raises(LabError, match="not valid TOML"):
        load_config(None, path)


def test_open_model_needs_a_rate() -> None:
    with pytest.raises(LabError, match="needs a rate"):
        load_config("quick", overrides={"loads": [{"model": "open", "users": 8}]})


def test_unknown_preset() -> None:
    with pytest.raises(LabError, match="unknown preset"):
        load_config("huge")
