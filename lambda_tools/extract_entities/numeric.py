"""Regular expressions for the numeric entity types: money, percent, date and quantity (with units)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_SCALE = r"(?:\s?(?:thousand|million|billion|trillion)\b|\s?(?:mn|bn|tn|[kKmMbB])\b)"
_SYMBOL = r"(?:US\$|A\$|C\$|NZ\$|HK\$|\$|€|£|¥|₹)"
_CODE = r"(?:USD|EUR|GBP|JPY|CHF|CNY|RMB|INR|CAD|AUD|NZD|SEK|NOK|DKK)"
_WORD = r"(?:dollars?|euros?|pounds sterling|yen|cents?|rupees?|francs?|yuan)"
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?)")
_UNITS = (
    r"km/h|mph|m/s|rpm|kbps|Mbps|Gbps|req/s|rps|RPS|"
    r"kWh|MWh|GWh|kW|MW|GW|mAh|kHz|MHz|GHz|Hz|KiB|MiB|GiB|TiB|KB|kB|MB|GB|TB|PB|"
    r"square (?:feet|foot|meters?|metres?|miles?|kilometers?|kilometres?)|sq ?ft|sq ?km|"
    r"kilometers?|kilometres?|km|meters?|metres?|cm|mm|µm|nm|miles?|mi|feet|foot|ft|inches|yards?|yd|"
    r"kilograms?|kg|grams?|mg|g|pounds?|lbs?|ounces?|oz|tonnes?|tons?|t|liters?|litres?|ml|mL|l|L|gallons?|gal|"
    r"°C|°F|degrees?(?: Celsius| Fahrenheit)?|watts?|W|volts?|V|bytes?|bits?|B|"
    r"milliseconds?|ms|microseconds?|µs|ns|seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|weeks?|months?|years?|"
    r"acres?|hectares?|ha|vCPUs?|cores?|threads?|tokens?|requests per second|users|employees|people|customers"
)

_MONEY = [
    re.compile(rf"(?<![\w$€£¥₹])(?P<cur>{_SYMBOL})\s?(?P<num>-?{_NUM})(?P<scale>{_SCALE})?"),
    re.compile(rf"\b(?P<cur>{_CODE})\s?(?P<num>-?{_NUM})(?P<scale>{_SCALE})?"),
    re.compile(rf"(?<![\w.,])(?P<num>-?{_NUM})(?P<scale>{_SCALE})?\s?(?P<cur>{_CODE}|{_WORD})\b"),
]
_PERCENT = re.compile(
    rf"(?<![\w.,])(?P<num>[-+]?{_NUM})\s?(?:%|percent\b|per cent\b|percentage points?\b|pct\b)"
)
_DATES = [
    re.compile(r"\b(?P<y>\d{4})-(?P<m>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12]\d|3[01])(?:[T ]\d{2}:\d{2}(?::\d{2})?Z?)?\b"),
    re.compile(rf"\b(?P<d>[0-3]?\d)(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<mon>{_MONTH})(?:,?\s+(?P<y>\d{{4}}))?(?![\w])"),
    re.compile(rf"\b(?P<mon>{_MONTH})\s+(?P<d>[0-3]?\d)(?:st|nd|rd|th)?(?:,?\s+(?P<y>\d{{4}}))?(?![\w])"),
    re.compile(rf"\b(?P<mon>{_MONTH})\s+(?P<y>\d{{4}})\b"),
    re.compile(r"\b(?P<d1>\d{1,2})/(?P<d2>\d{1,2})/(?P<y>\d{4})\b"),
    re.compile(r"\bQ[1-4]\s+(?P<y>\d{4})\b"),
    re.compile(r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"),
    re.compile(r"\b(?i:in|since|by|until|from|during|before|after|through|early|late|mid-?)\s+"
               r"(?P<span>(?P<y>(?:19|20)\d{2})s?)\b"),
    re.compile(rf"\b(?i:in|since|by|until|during|early|late|mid-?)\s+(?P<span>(?P<mon>{_MONTH}))(?![\w])"),
]
_QUANTITY = re.compile(rf"(?<![\w.,])(?P<num>-?{_NUM})\s?(?P<unit>{_UNITS})(?![\w/])")

_CURRENCIES = {
    "$": "USD", "us$": "USD", "a$": "AUD", "c$": "CAD", "nz$": "NZD", "hk$": "HKD", "€": "EUR", "£": "GBP",
    "¥": "JPY", "₹": "INR", "dollar": "USD", "dollars": "USD", "euro": "EUR", "euros": "EUR",
    "pounds sterling": "GBP", "yen": "JPY", "cent": "USD", "cents": "USD", "rupee": "INR", "rupees": "INR",
    "franc": "CHF", "francs": "CHF", "yuan": "CNY", "rmb": "CNY",
}
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9,
           "trillion": 1e12, "tn": 1e12}
_MONTH_NUMBER = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}

PRIORITY = {"money": 0, "percent": 1, "date": 2, "quantity": 3}


@dataclass(frozen=True)
class Match:
    start: int
    end: int
    type: str
    value: Any


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _money_value(m: re.Match[str]) -> dict[str, Any]:
    amount = _number(m.group("num"))
    scale = (m.group("scale") or "").strip().lower()
    amount *= _SCALES.get(scale, 1.0)
    cur = m.group("cur")
    currency = _CURRENCIES.get(cur.lower(), cur.upper())
    if cur.lower() in ("cent", "cents"):
        amount /= 100
    return {"amount": round(amount, 6), "currency": currency}


def _date_value(m: re.Match[str]) -> str | None:
    groups = m.groupdict()
    year = groups.get("y")
    month = None
    if groups.get("mon"):
        month = _MONTH_NUMBER[groups["mon"][:3].lower()]
    elif groups.get("m"):
        month = int(groups["m"])
    day = int(groups["d"]) if groups.get("d") else None
    if day is not None and not 1 <= day <= 31:
        return None
    if year and month and day:
        return f"{year}-{month:02d}-{day:02d}"
    if year and month:
        return f"{year}-{month:02d}"
    if month and day:
        return f"--{month:02d}-{day:02d}"
    return year


def numeric_matches(text: str, types: set[str]) -> Iterator[Match]:
    """Every candidate numeric entity (overlaps included; the caller resolves them)."""
    if "money" in types:
        for pattern in _MONEY:
            for m in pattern.finditer(text):
                yield Match(m.start(), m.end(), "money", _money_value(m))
    if "percent" in types:
        for m in _PERCENT.finditer(text):
            yield Match(m.start(), m.end(), "percent", {"value": _number(m.group("num"))})
    if "date" in types:
        for pattern in _DATES:
            for m in pattern.finditer(text):
                if "span" in pattern.groupindex and m.group("span"):
                    start, end = m.span("span")
                else:
                    start, end = m.span()
                value = _date_value(m)
                if "d" in pattern.groupindex and m.group("d") and value is None:
                    continue  # "45 March" is not a date
                yield Match(start, end, "date", {"iso": value} if value else {})
    if "quantity" in types:
        for m in _QUANTITY.finditer(text):
            yield Match(m.start(), m.end(), "quantity", {"value": _number(m.group("num")), "unit": m.group("unit")})
