"""Settings read from the environment: BYBIT_BASE_URL takes https anywhere, plain http only on loopback."""

from __future__ import annotations

import pytest

from hean_pipelines.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET", "HEAN_SOURCE", "BYBIT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://api-demo.bybit.com/", "https://api-demo.bybit.com"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://localhost:8123", "http://localhost:8123"),
        ("", ""),
    ],
)
def test_base_url_accepted(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("BYBIT_BASE_URL", value)
    assert load_settings().bybit_base_url == expected


@pytest.mark.parametrize(
    "value", ["http://api.bybit.com", "http://localhost.example.com:80", "ftp://127.0.0.1", "api.bybit.com"]
)
def test_base_url_refused_when_a_key_could_cross_a_network_in_clear(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BYBIT_BASE_URL", value)
    with pytest.raises(SettingsError, match="BYBIT_BASE_URL"):
        load_settings()
