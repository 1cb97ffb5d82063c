"""The process catalog: the shipped file, every validation rule, versions over time, prefix lookup."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from hean_pipelines.bybit.sandbox.sim_strategy import ALLOCATED_CAPITAL, PROCESS_PREFIXES
from hean_pipelines.registry import (
    CATALOG_PATH_ENV,
    DEFAULT_CATALOG_PATH,
    UNATTRIBUTED,
    CatalogError,
    load_catalog,
    process_for_link_id,
)

START = date(2025, 12, 29)


def _version(process_id: str, prefix: str, capital: int | str, valid_from: str = "2026-01-01") -> dict[str, Any]:
    return {
        "process_id": process_id,
        "name": process_id.replace("_", " ").title(),
        "description": f"test process {process_id}",
        "link_prefix": prefix,
        "allocated_capital": capital,
        "valid_from": valid_from,
        "kill_conditions": {"max_drawdown_ratio": "0.25", "max_losing_streak_days": 10},
        "measurement": {"metric": "total", "benchmark": 0, "horizon_days": 30},
    }


def _base() -> dict[str, Any]:
    return {
        "processes": [
            _version("alpha_one", "alpha", 1000),
            _version("beta_two", "beta", 2000),
        ]
    }


def _write(tmp_path: Path, data: object, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- shipped


def test_shipped_catalog_describes_the_sandbox_processes() -> None:
    assert DEFAULT_CATALOG_PATH.name == "catalog.yaml"
    assert DEFAULT_CATALOG_PATH.parent.name == "registry"
    catalog = load_catalog(DEFAULT_CATALOG_PATH)
    by_id = {v.process_id: v for v in catalog.versions}
    assert sorted(by_id) == ["edge_momentum", "loser_meanrev", "noise_scalper"]
    assert {v.link_prefix: pid for pid, v in by_id.items()} == {
        "edge": "edge_momentum",
        "loser": "loser_meanrev",
        "noise": "noise_scalper",
    }
    # The prefixes and capital the sandbox plants are exactly the catalog's.
    assert sorted(v.link_prefix for v in by_id.values()) == sorted(PROCESS_PREFIXES)
    for version in by_id.values():
        assert version.allocated_capital == Decimal(ALLOCATED_CAPITAL[version.link_prefix])
        assert version.valid_from == START
        assert version.status == "TESTING"
        assert version.kill_conditions.max_drawdown_ratio == Decimal("0.25")
        assert version.kill_conditions.max_losing_streak_days == 10
        assert version.measurement.metric == "total"
        assert "sandbox" in version.description.lower()
    assert by_id["edge_momentum"].allocated_capital == Decimal(20000)
    assert by_id["loser_meanrev"].allocated_capital == Decimal(20000)
    assert by_id["noise_scalper"].allocated_capital == Decimal(10000)
    assert [v.process_id for v in catalog.as_of(START)] == sorted(by_id)
    assert catalog.as_of(date(2025, 12, 28)) == []


def test_default_path_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOG_PATH_ENV, raising=False)
    assert {v.process_id for v in load_catalog().versions} == {
        "edge_momentum",
        "loser_meanrev",
        "noise_scalper",
    }
    monkeypatch.setenv(CATALOG_PATH_ENV, str(_write(tmp_path, _base())))
    assert {v.process_id for v in load_catalog().versions} == {"alpha_one", "beta_two"}
    # An explicit path wins over the variable.
    assert len(load_catalog(DEFAULT_CATALOG_PATH).versions) == 3


def test_missing_file_and_bad_yaml_are_catalog_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOG_PATH_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(CatalogError, match=r"nope\.yaml.*file not found \(set by HEAN_CATALOG_PATH\)"):
        load_catalog()
    bad = tmp_path / "bad.yaml"
    bad.write_text("processes: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)
    bad.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="must be a mapping with one key, 'processes'"):
        load_catalog(bad)


def test_yaml_numbers_are_exact_decimals(tmp_path: Path) -> None:
    text = _write(tmp_path, _base()).read_text(encoding="utf-8")
    text = text.replace("allocated_capital: 1000", "allocated_capital: 12345.123456789012345678")
    text = text.replace("max_drawdown_ratio: '0.25'", "max_drawdown_ratio: 0.1", 1)
    path = tmp_path / "exact.yaml"
    path.write_text(text, encoding="utf-8")
    alpha = next(v for v in load_catalog(path).versions if v.process_id == "alpha_one")
    assert alpha.allocated_capital == Decimal("12345.123456789012345678")
    assert str(alpha.kill_conditions.max_drawdown_ratio) == "0.1"


def test_a_key_repeated_in_one_mapping_is_refused(tmp_path: Path) -> None:
    text = _write(tmp_path, _base()).read_text(encoding="utf-8")
    text = text.replace("  allocated_capital: 1000\n", "  allocated_capital: 1000\n  allocated_capital: 9000\n")
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match="'allocated_capital' appears twice"):
        load_catalog(path)


# --------------------------------------------------------------------------------------------- rules


def _set(index: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["processes"][index].update(changes)

    return mutate


def _append(version: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["processes"].append(version)

    return mutate


def _kill(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["processes"][0]["kill_conditions"][key] = value

    return mutate


INVALID: list[tuple[str, Callable[[dict[str, Any]], None], str, str, str]] = [
    # (case, mutation, process named, field named, message fragment)
    ("process_id charset", _set(0, process_id="Alpha-One"), "Alpha-One", "process_id", "snake_case"),
    ("process_id too short", _set(0, process_id="a"), "a", "process_id", "snake_case"),
    ("prefix charset", _set(0, link_prefix="al.pha"), "alpha_one", "link_prefix", "letters, digits or '_'"),
    ("dash in prefix", _set(0, link_prefix="al-pha"), "alpha_one", "link_prefix", "'-' separates"),
    ("empty prefix", _set(0, link_prefix=""), "alpha_one", "link_prefix", "letters, digits or '_'"),
    ("duplicate prefix", _set(1, link_prefix="alpha"), "beta_two", "link_prefix", "already the prefix"),
    ("duplicate prefix any case", _set(1, link_prefix="ALPHA"), "beta_two", "link_prefix", "already"),
    ("prefix of a prefix", _set(1, link_prefix="alpha2"), "beta_two", "link_prefix", "starts with 'alpha'"),
    ("prefix of a prefix, case", _set(0, link_prefix="BETA_x"), "alpha_one", "link_prefix", "starts with"),
    ("reserved id", _set(0, process_id=UNATTRIBUTED), UNATTRIBUTED, "process_id", "reserved"),
    ("reserved prefix", _set(0, link_prefix="Unattributed"), "alpha_one", "link_prefix", "reserved"),
    (
        "prefix changed across versions",
        _append(_version("alpha_one", "alpha_v2", 5000, valid_from="2026-03-01")),
        "alpha_one",
        "link_prefix",
        "changed from 'alpha' to 'alpha_v2'",
    ),
    (
        "two versions on one day",
        _append(_version("alpha_one", "alpha", 5000)),
        "alpha_one",
        "valid_from",
        "same day",
    ),
    ("negative capital", _set(0, allocated_capital=-1), "alpha_one", "allocated_capital", "greater than"),
    ("capital not a number", _set(1, allocated_capital="lots"), "beta_two", "allocated_capital", "decimal"),
    (
        "capital beyond DECIMAL(38,18)",
        _set(0, allocated_capital="0.0000000000000000001"),
        "alpha_one",
        "allocated_capital",
        "18 decimal places",
    ),
    ("unknown key", _set(0, colour="red"), "alpha_one", "colour", "unknown key 'colour'"),
    (
        "unknown kill condition",
        _kill("max_dd", 0.5),
        "alpha_one",
        "kill_conditions.max_dd",
        "unknown key 'max_dd'; allowed: max_drawdown_ratio",
    ),
    (
        "drawdown ratio 0",
        _kill("max_drawdown_ratio", 0),
        "alpha_one",
        "kill_conditions.max_drawdown_ratio",
        "greater than 0",
    ),
    (
        "drawdown ratio above 1",
        _kill("max_drawdown_ratio", "1.5"),
        "alpha_one",
        "kill_conditions.max_drawdown_ratio",
        "less than or equal to 1",
    ),
    (
        "losing streak 0",
        _kill("max_losing_streak_days", 0),
        "alpha_one",
        "kill_conditions.max_losing_streak_days",
        "greater than or equal to 1",
    ),
    ("unknown status", _set(1, status="killed"), "beta_two", "status", "'KILLED'"),
    ("missing name", _set(0, name=None), "alpha_one", "name", "string"),
    ("blank description", _set(0, description="  "), "alpha_one", "description", "blank"),
]


@pytest.mark.parametrize(
    ("mutate", "process_id", "field", "fragment"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_each_invalid_catalog_names_the_process_and_the_field(
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    process_id: str,
    field: str,
    fragment: str,
) -> None:
    data = copy.deepcopy(_base())
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    err = info.value
    assert err.process_id == process_id
    assert err.field == field
    text = str(err)
    assert f"process {process_id!r}" in text
    assert f"field {field!r}" in text
    assert fragment in text
    assert str(path) in text


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    data = _base()
    del data["processes"][1]["kill_conditions"]
    with pytest.raises(CatalogError, match=r"process 'beta_two'.*field 'kill_conditions': required field"):
        load_catalog(_write(tmp_path, data))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = _base()
    data["processes"][0]["link_prefix"] = "a-b"
    data["processes"][1]["allocated_capital"] = -3
    with pytest.raises(CatalogError) as info:
        load_catalog(_write(tmp_path, data))
    assert [(p.process_id, p.field) for p in info.value.problems] == [
        ("alpha_one", "link_prefix"),
        ("beta_two", "allocated_capital"),
    ]


def test_empty_catalog_and_unknown_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="lists no process"):
        load_catalog(_write(tmp_path, {"processes": []}))
    with pytest.raises(CatalogError, match=r"unknown top-level key\(s\) \['procesess'\]"):
        load_catalog(_write(tmp_path, {"processes": _base()["processes"], "procesess": []}))


# --------------------------------------------------------------------------------------------- versions


def test_versions_over_time_capital_change_on_a_date(tmp_path: Path) -> None:
    data = _base()
    raise_day = date(2026, 2, 1)
    data["processes"].append(_version("alpha_one", "alpha", "1500.5", valid_from=raise_day.isoformat()))
    catalog = load_catalog(_write(tmp_path, data))

    timeline = {(v.process_id, v.valid_from): valid_to for v, valid_to in catalog.timeline()}
    assert timeline == {
        ("alpha_one", date(2026, 1, 1)): raise_day,
        ("alpha_one", raise_day): None,
        ("beta_two", date(2026, 1, 1)): None,
    }

    def capital(day: date) -> dict[str, Decimal]:
        return {v.process_id: v.allocated_capital for v in catalog.as_of(day)}

    assert capital(date(2025, 12, 31)) == {}
    assert capital(date(2026, 1, 1)) == {"alpha_one": Decimal(1000), "beta_two": Decimal(2000)}
    assert capital(date(2026, 1, 31)) == {"alpha_one": Decimal(1000), "beta_two": Decimal(2000)}  # D-1
    assert capital(raise_day) == {"alpha_one": Decimal("1500.5"), "beta_two": Decimal(2000)}
    assert capital(date(2030, 1, 1)) == {"alpha_one": Decimal("1500.5"), "beta_two": Decimal(2000)}
    assert catalog.earliest_valid_from() == date(2026, 1, 1)
    assert catalog.link_prefixes() == {"alpha": "alpha_one", "beta": "beta_two"}


def test_version_order_in_the_file_does_not_matter(tmp_path: Path) -> None:
    data = _base()
    data["processes"].insert(0, _version("alpha_one", "alpha", 7, valid_from="2026-05-01"))
    catalog = load_catalog(_write(tmp_path, data))
    assert [(v.process_id, str(v.valid_from), t) for v, t in catalog.timeline()] == [
        ("alpha_one", "2026-01-01", date(2026, 5, 1)),
        ("alpha_one", "2026-05-01", None),
        ("beta_two", "2026-01-01", None),
    ]


def test_document_is_the_whole_version_with_canonical_numbers(tmp_path: Path) -> None:
    data = _base()
    data["processes"][0]["allocated_capital"] = "1000.000"
    alpha = next(v for v in load_catalog(_write(tmp_path, data)).versions if v.process_id == "alpha_one")
    doc = alpha.document()
    assert doc["allocated_capital"] == "1000"
    assert doc["kill_conditions"] == {
        "max_drawdown_ratio": "0.25",
        "max_losing_streak_days": 10,
        "min_total_after_days": None,
    }
    assert doc["measurement"] == {"metric": "total", "benchmark": "0", "horizon_days": 30}
    assert doc["valid_from"] == "2026-01-01"
    assert doc["description"] == "test process alpha_one"


def test_versions_are_frozen() -> None:
    version = load_catalog(DEFAULT_CATALOG_PATH).versions[0]
    with pytest.raises(ValidationError, match="frozen"):
        version.allocated_capital = Decimal(1)


# --------------------------------------------------------------------------------------------- lookup

PREFIXES = {"edge": "edge_momentum", "loser": "loser_meanrev", "noise": "noise_scalper"}


@pytest.mark.parametrize(
    ("link_id", "expected"),
    [
        ("edge-123", "edge_momentum"),
        ("edge-20260101-00001", "edge_momentum"),
        ("noise-x-y", "noise_scalper"),
        ("edge2-1", UNATTRIBUTED),
        ("edge", UNATTRIBUTED),
        ("EDGE-1", UNATTRIBUTED),
        ("-edge", UNATTRIBUTED),
        ("", UNATTRIBUTED),
        (None, UNATTRIBUTED),
        ("manual-7", UNATTRIBUTED),
    ],
)
def test_process_for_link_id(link_id: str | None, expected: str) -> None:
    assert process_for_link_id(link_id, PREFIXES) == expected
