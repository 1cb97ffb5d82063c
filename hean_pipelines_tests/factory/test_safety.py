"""The deny-list: normalization first, so trivial obfuscation does not pass; no false alarms on
ordinary trading prose."""

from __future__ import annotations

import pytest

from hean_pipelines.factory.model import Limits
from hean_pipelines.factory.safety import DENY_CLASSES, check_text, check_value, normalize_text
from hean_pipelines.factory.validation import validate_candidate
from hean_pipelines_tests.factory import valid_proposal


def test_normalization_nfkc_casefold_invisible_and_whitespace() -> None:
    assert normalize_text("ＡＰＩ  Key") == "api key"
    assert normalize_text("pass\u200bword") == "password"
    assert normalize_text("pa\u00adss\u2060word\ufeff") == "password"
    assert normalize_text("  Withdraw\t\nALL ") == "withdraw all"
    assert normalize_text("Straße") == "strasse"
    assert normalize_text("pásswörd") == "password"
    assert normalize_text("sеcrеt") == "secret"  # Cyrillic е
    assert normalize_text(normalize_text("ＡＰＩ key")) == normalize_text("ＡＰＩ key")


UNSAFE: list[tuple[str, str]] = [
    # credentials
    ("Store the API key in the config.", "credentials"),
    ("store the ＡＰＩ key", "credentials"),
    ("keep the api_key nearby", "credentials"),
    ("Enter the pass word.", "credentials"),
    ("enter the p-a-s-s-w-o-r-d", "credentials"),
    ("enter the p4ssw0rd", "credentials"),
    ("enter the pass\u200bword", "credentials"),
    ("Type the 2FA code.", "credentials"),
    ("read the one-time password", "credentials"),
    ("the authenticator app", "credentials"),
    ("write down the s e e d phrase", "credentials"),
    ("the recovery phrase", "credentials"),
    ("the mnemonic", "credentials"),
    ("export the private key", "credentials"),
    ("keep the secret safe", "credentials"),
    ("login to the exchange", "credentials"),
    # UI scraping / browser automation
    ("Scrape the order book page.", "ui_automation"),
    ("use Selenium to click buy", "ui_automation"),
    ("run a headless browser", "ui_automation"),
    ("drive the page with Puppeteer", "ui_automation"),
    ("automate the browser", "ui_automation"),
    ("simulate clicks on the trade button", "ui_automation"),
    ("take a screenshot and OCR it", "ui_automation"),
    ("s c r a p e the site", "ui_automation"),
    # withdrawals / transfers
    ("Withdraw the profits weekly.", "funds_movement"),
    ("W I T H D R A W everything", "funds_movement"),
    ("with\u200cdraw the balance", "funds_movement"),
    ("Transfer USDT to the funding account.", "funds_movement"),
    ("send funds to cold storage", "funds_movement"),
    ("move the balance to another account", "funds_movement"),
    # URLs
    ("see https://example.com/x", "urls"),
    ("see hxxps://evil", "urls"),
    ("see hxxp", "urls"),
    ("visit example[.]com", "urls"),
    ("visit www.example.org", "urls"),
    ("visit bybit dot com", "urls"),
    ("call 10.0.0.1", "urls"),
    # wallet addresses
    ("pay 0x52908400098527886E0F7030069857D2E4169EE7", "wallet_addresses"),
    ("to 0x5290\u200b8400098527886E0F7030069857D2E4169EE7", "wallet_addresses"),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "wallet_addresses"),
    ("1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "wallet_addresses"),
    ("TJCnKsPa7y5okkXvQAidZBzqx3QyQ6sxMW", "wallet_addresses"),
]


@pytest.mark.parametrize(("text", "category"), UNSAFE)
def test_unsafe_text_is_caught(text: str, category: str) -> None:
    categories = [v.category for v in check_text(text)]
    assert category in categories, (text, categories)


SAFE = [
    "Exit with drawdown above 25% of the peak.",
    "Market makers withdraw liquidity in stress, widening the spread.",
    "Use a random seed of 42 for the backtest split.",
    "Buy near key levels of support.",
    "Record the fill in the log in order of execution time.",
    "Read the hourly mark prices and the funding rate for BTCUSDT and ETHUSDT.",
    "Place a post-only limit order one tick inside the spread; cancel it if not filled within 15 minutes.",
    "Kill when max_drawdown_ratio exceeds 0.25 or after 10 losing days.",
    "Review the attributed total after 30 days; the selector decides TESTING, SCALING or KILLED.",
    "The position is 0.5 BTC at 97000.5 USDT.",
]


@pytest.mark.parametrize("text", SAFE)
def test_ordinary_trading_prose_passes(text: str) -> None:
    assert check_text(text) == []


def test_every_class_has_a_plain_reason() -> None:
    assert set(DENY_CLASSES) == {"credentials", "ui_automation", "funds_movement", "urls", "wallet_addresses"}
    (violation,) = check_text("the pass word", "steps[2].description")
    assert violation.reason.startswith("unsafe: handles credentials")
    assert "steps[2].description" in violation.reason


def test_check_value_names_the_field_and_checks_keys() -> None:
    found = check_value({"steps": [{"description": "ok"}, {"description": "Withdraw"}], "api key": 1})
    fields = {v.field for v in found}
    assert "steps[1].description" in fields
    assert "api key (key)" in fields


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "Keep the ＡＰＩ key in a file."),
        ("hypothesis", "Sell, then with\u200bdraw profits."),
        ("motivation", "Found on hxxp://forum"),
        ("risks", ["Lose the s e e d phrase."]),
        ("name", "Copy 0x52908400098527886E0F7030069857D2E4169EE7"),
        ("steps", [{"type": "wait", "description": "Wait for the Pass Word prompt."}]),
        ("human_tasks", [{"category": "respond_to_alert", "description": "Scrape the UI for alerts."}]),
    ],
)
def test_unsafe_candidates_are_rejected_whatever_the_field(field: str, value: object) -> None:
    check = validate_candidate(valid_proposal(**{field: value}), Limits())
    assert not check.valid
    assert check.schema_reasons == ()
    assert check.safety_reasons and all(r.startswith("unsafe:") for r in check.safety_reasons)
