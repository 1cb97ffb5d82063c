"""The safety filter: a deny-list matched on normalized text, so trivial obfuscation does not pass.

Every string of every candidate (whatever the backend) is checked. Text is first normalized
(:func:`normalize_text`): Unicode NFKC (fullwidth ``ＡＰＩ`` -> ``api``, ligatures, compatibility
forms), invisible format characters removed (zero-width space/joiners, word joiner, BOM, soft hyphen),
diacritics stripped (``pássword``), common Cyrillic/Greek look-alike letters mapped to Latin, casefold,
and every run of whitespace collapsed to one space. Matching then runs on three views of that text:

* the normalized text;
* the same with *spelled-out* words re-joined: a run of three or more single letters or digits
  separated by spaces or punctuation (``s e e d``, ``p.a.s.s``) is joined (``seed``, ``pass``);
* that joined text with leetspeak digits mapped to letters (``p4ssw0rd`` -> ``password``).

Patterns allow separators between the parts of a term (``pass word``, ``api-key``, ``seed_phrase``).

Deny-list classes (:data:`DENY_CLASSES`):

``credentials``
    API keys and secrets, passwords and passphrases, 2FA/OTP/authenticator codes, seed or recovery
    phrases and mnemonics, private keys and keystores, logging in.
``ui_automation``
    Scraping or crawling, browser automation (Selenium, Puppeteer, Playwright, headless browsers,
    web drivers), simulated clicks or keystrokes, screenshots/OCR, CAPTCHAs.
``funds_movement``
    Withdrawals, transfers, sending or moving funds, deposit addresses, payouts.
``urls``
    URLs and links, including defanged ones (``hxxp``, ``example[.]com``), ``www.``, bare domains and
    IP addresses.
``wallet_addresses``
    Blockchain addresses: EVM ``0x…``, Bitcoin (legacy and bech32), Tron, Solana-like base58 strings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

DENY_CLASSES: Mapping[str, str] = {
    "credentials": "handles credentials (API keys, secrets, passwords, 2FA codes, seed phrases or private keys)",
    "ui_automation": "involves UI scraping or browser automation",
    "funds_movement": "moves funds (withdrawals or transfers)",
    "urls": "contains a URL or link",
    "wallet_addresses": "contains a wallet address",
}
"""Deny-list class -> the plain-language reason given when it matches."""

# ------------------------------------------------------------------------------------ normalization

_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        # Greek
        "α": "a",
        "β": "b",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
    }
)

_WHITESPACE_RE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, invisible characters and diacritics removed, look-alikes mapped, casefolded, whitespace
    collapsed (and stripped). Idempotent."""
    value = unicodedata.normalize("NFKC", text)
    # Decompose to drop combining marks (diacritics), and drop format characters (category Cf:
    # zero-width space/joiners, word joiner, BOM, soft hyphen, bidi controls).
    value = "".join(
        ch for ch in unicodedata.normalize("NFKD", value) if unicodedata.category(ch) not in {"Mn", "Me", "Cf"}
    )
    value = value.casefold().translate(_HOMOGLYPHS)
    value = unicodedata.normalize("NFKC", value)
    return _WHITESPACE_RE.sub(" ", value).strip()


# A run of >= 3 single letters/digits, each separated by spaces or punctuation: "s e e d", "p.a.s.s".
_SPELLED_RE = re.compile(r"(?<![^\W_])(?:[^\W_][\s.\-_*·•,/|+~'\"]+){2,}[^\W_](?![^\W_])")
_SPELL_SEPARATORS_RE = re.compile(r"[\s.\-_*·•,/|+~'\"]+")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


def _join_spelled(text: str) -> str:
    return _SPELLED_RE.sub(lambda m: _SPELL_SEPARATORS_RE.sub("", m.group(0)), text)


def views(text: str) -> tuple[str, ...]:
    """The distinct views of ``text`` the deny-list is matched on (see the module docstring)."""
    normalized = normalize_text(text)
    joined = _join_spelled(normalized)
    deleeted = joined.translate(_LEET)
    out: list[str] = []
    for view in (normalized, joined, deleeted):
        if view not in out:
            out.append(view)
    return tuple(out)


# ------------------------------------------------------------------------------------ deny-list

_S = r"[\W_]*"
"""Optional separators between the parts of a term (spaces, punctuation, '_')."""


def _terms(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "credentials": _terms(
        rf"\bapi{_S}(?:keys?|secrets?|tokens?|credentials?)\b",
        r"\bapikeys?\b",
        rf"\b(?:secret|private|access|signing|hmac|auth|bearer|session|refresh){_S}(?:keys?|tokens?)\b",
        r"\bprivkeys?\b",
        r"\bsecrets?\b",
        rf"\bpass{_S}(?:words?|phrases?|codes?)\b",
        r"\bpasswd\b",
        r"\bpwd\b",
        r"\bcredentials?\b",
        r"\b2fa\b",
        rf"\btwo{_S}(?:factor|step){_S}(?:auth\w*|verification|codes?)?",
        rf"\bmulti{_S}factor\b",
        r"\bmfa\b",
        r"\b(?:t|h)?otps?\b",
        rf"\bone{_S}time{_S}(?:pass\w*|codes?|pins?)\b",
        r"\bauthenticator\b",
        rf"\b(?:sms|verification|security|auth|login){_S}codes?\b",
        rf"\b(?:seed|recovery|backup|mnemonic|secret){_S}(?:phrases?|words?)\b",
        r"\bmnemonics?\b",
        rf"\b(?:12|24|twelve|twenty{_S}four){_S}words?\b",
        r"\bkeystores?\b",
        rf"\bwallet{_S}\.?{_S}dat\b",
        r"\blog(?:[-_]?in|[-_]on)s?\b",
        rf"\b(?:log|sign){_S}(?:in{_S}to|into|onto)\b",
        r"\bsign(?:[-_]?in|[-_]on)s?\b",
        r"\busernames?\b",
    ),
    "ui_automation": _terms(
        r"\bscrap(?:e|es|ed|er|ers|ing)\b",
        r"\bcrawl(?:s|ed|er|ers|ing)?\b",
        r"\bspider(?:s|ing)?\b",
        r"\bheadless\b",
        r"\b(?:selenium|puppeteer|playwright|webdriver|chromedriver|geckodriver|phantomjs|pyautogui|autohotkey"
        r"|autoit|imacros|scrapy|beautifulsoup|bs4|xpath|captchas?|recaptcha)\b",
        rf"\bbeautiful{_S}soup\b",
        rf"\bweb{_S}driver\b",
        rf"\bbrowser{_S}(?:automation|bots?|scripts?|extensions?|macros?|sessions?)\b",
        rf"\b(?:chrome|firefox){_S}(?:extensions?|driver)\b",
        rf"\bautomat\w*{_S}(?:the{_S})?(?:browser|web{_S}(?:ui|pages?|sites?|interface)|ui|gui|website|dashboard|clicks?"
        r"|mouse|keyboard|screen)\b",
        rf"\b(?:web|ui|screen|html|dom|page|website){_S}scrap",
        rf"\bscreen{_S}(?:shots?|captures?|reading|reader)\b",
        r"\bocr\b",
        rf"\b(?:simulate|simulated|simulating|emulate|emulated|fake|synthetic){_S}(?:user{_S})?(?:clicks?|keystrokes?"
        r"|key presses|typing|mouse|taps?)\b",
        rf"\bauto{_S}click\w*\b",
        rf"\b(?:click|tap)(?:s|ing)?{_S}bots?\b",
        rf"\b(?:macro|keystroke){_S}(?:recorders?|scripts?)\b",
        rf"\bparse{_S}(?:the{_S})?(?:web{_S}pages?|html|dom)\b",
    ),
    "funds_movement": _terms(
        # "withdraw liquidity/quotes" (a market maker pulling its orders) is not moving money.
        rf"\bwith{_S}draw(?:s|n|al|als|ing|ed)?\b(?!{_S}(?:the{_S}|its{_S}|our{_S})?(?:liquidity|quotes?|bids?|offers?"
        r"|orders?))",
        r"\btransfer\w*\b",
        rf"\bsend(?:s|ing)?{_S}(?:the{_S}|all{_S}|our{_S}|your{_S})?(?:funds|coins?|crypto|usdt|usdc|btc|eth|money|assets?"
        r"|balances?|profits?)\b",
        rf"\bmov(?:e|es|ing){_S}(?:the{_S}|all{_S}|our{_S}|your{_S})?(?:funds|assets?|balances?|money|coins?|profits?)"
        rf"{_S}(?:to|out|off|into|between)\b",
        rf"\bdeposit{_S}address(?:es)?\b",
        rf"\bpay{_S}outs?\b",
        rf"\bwire{_S}(?:transfers?|funds|money)\b",
        rf"\bsweep{_S}(?:the{_S})?(?:funds|balances?|wallets?)\b",
        r"/v5/asset/",
    ),
    "urls": _terms(
        r"\b[a-z][a-z0-9+.\-]*://",
        r"\bh(?:xx|\*\*|tx|xt)ps?\b",
        rf"\bhttps?{_S}(?::|\[:\]|//)",
        rf"\bwww{_S}(?:\.|\[\.\]|\(\.\)|\[dot\]|\(dot\)|\bdot\b)",
        r"\b[a-z0-9\-]+(?:\.|\[\.\]|\(\.\)|\[dot\]|\(dot\)|\s+dot\s+)(?:com|net|org|io|xyz|app|dev|info|biz|ru|cn|"
        r"gg|tk)\b",
        r"\b\d{1,3}(?:\.\d{1,3}){3}\b",
        r"\b(?:mailto|ftp|ipfs|magnet):",
    ),
    "wallet_addresses": _terms(
        r"\b0x[0-9a-f]{16,}",
        r"\bbc1[ac-hj-np-z02-9]{11,71}\b",
        r"\b(?:tb1|ltc1)[ac-hj-np-z02-9]{11,71}\b",
    ),
}

# Case matters for base58 addresses: matched on the NFKC text with invisible characters removed.
_BASE58_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?<![A-Za-z0-9])[13][a-km-zA-HJ-NP-Z1-9]{25,34}(?![A-Za-z0-9])"),  # Bitcoin legacy / P2SH
    re.compile(r"(?<![A-Za-z0-9])T[1-9A-HJ-NP-Za-km-z]{33}(?![A-Za-z0-9])"),  # Tron
    re.compile(r"(?<![A-Za-z0-9])[1-9A-HJ-NP-Za-km-z]{32,44}(?![A-Za-z0-9])"),  # Solana-like
)


def _base58_address(text: str) -> str | None:
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")
    for pattern in _BASE58_PATTERNS:
        for match in pattern.finditer(visible):
            token = match.group(0)
            # An address mixes upper case, lower case and digits; a long word or number does not.
            if any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token):
                return token
    return None


@dataclass(frozen=True)
class SafetyViolation:
    """One deny-list hit: the class, where (a field path, e.g. ``steps[2].description``) and what matched
    (in the normalized view)."""

    category: str
    field: str
    matched: str

    @property
    def reason(self) -> str:
        where = f" in {self.field}" if self.field else ""
        return f"unsafe: {DENY_CLASSES[self.category]}{where} (matched {self.matched!r} after normalization)"


def check_text(text: str, field: str = "") -> list[SafetyViolation]:
    """The deny-list classes ``text`` hits, at most one violation per class, in :data:`DENY_CLASSES` order."""
    found: list[SafetyViolation] = []
    text_views = views(text)
    for category, pattern in _PATTERNS.items():
        for view in text_views:
            match = pattern.search(view)
            if match:
                found.append(SafetyViolation(category, field, match.group(0)))
                break
        else:
            if category == "wallet_addresses":
                token = _base58_address(text)
                if token is not None:
                    found.append(SafetyViolation(category, field, token))
    return found


def iter_strings(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value (dict keys included), with its path (``steps[2].description``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            key_text = str(key)
            child = f"{path}.{key_text}" if path else key_text
            yield f"{child} (key)", key_text
            yield from iter_strings(item, child)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{i}]")


def check_value(value: object) -> list[SafetyViolation]:
    """Every violation in every string of a JSON value, in document order."""
    found: list[SafetyViolation] = []
    for path, text in iter_strings(value):
        found.extend(check_text(text, path))
    return found
