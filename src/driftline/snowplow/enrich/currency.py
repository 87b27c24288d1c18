"""Currency conversion (``currency_conversion_config`` 1-0-0) from a local rates file.

Snowplow's enrichment asks Open Exchange Rates for the rates; driftline reads them from a
file instead (no call leaves the machine), named by the ``ratesFile`` parameter (relative to
the enrichments directory) in Open Exchange Rates' historical shape, one entry per day::

    {"base": "USD", "rates": {"2023-11-13": {"EUR": 0.9352, "GBP": 0.8143}}}

(units of each currency for one unit of ``base``; the base currency itself is 1).

* A transaction with ``tr_currency`` gets ``tr_total_base``, ``tr_tax_base`` and
  ``tr_shipping_base``; a transaction item with ``ti_currency`` gets ``ti_price_base``; both set
  ``base_currency`` (``baseCurrency``, default USD). Amounts are rounded to 2 decimals
  (half-even).
* ``rateAt`` ``EOD_PRIOR`` (the only value Snowplow defines): the rates of the day before the
  collector time — or of the last day before it that the file has (weekends).
* A currency or a day the file does not have makes the event an ``enrichment_failures`` bad
  row, as a failed Open Exchange Rates lookup does in Snowplow.
"""

from __future__ import annotations

import datetime as dt
import json
from bisect import bisect_right
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from driftline.errors import TerminalError
from driftline.snowplow.transform import EnrichingEvent

_CENTS = Decimal("0.01")
_DAY_MS = 86_400_000


class CurrencyConversion:
    SCHEMA_NAME = "currency_conversion_config"

    def __init__(self, parameters: dict[str, Any], base: Path | None = None) -> None:
        self.base_currency = str(parameters.get("baseCurrency") or "USD").upper()
        rate_at = parameters.get("rateAt", "EOD_PRIOR")
        if rate_at != "EOD_PRIOR":
            raise TerminalError(
                f"currency conversion: rateAt {rate_at!r} is not supported (EOD_PRIOR)"
            )
        name = parameters.get("ratesFile")
        if not name:
            raise TerminalError(
                "currency conversion needs a local rates file: set parameters.ratesFile "
                "(driftline does not call Open Exchange Rates; see docs/snowplow.md)"
            )
        path = Path(name)
        if base is not None and not path.is_absolute():
            path = base / path
        self.source = path.name
        self.days, self.rates = _load(path)

    def apply(self, ev: EnrichingEvent) -> str | None:
        f = ev.fields
        event = f.get("event")
        if event == "transaction" and f.get("tr_currency"):
            pairs = [("tr_total", "tr_total_base"), ("tr_tax", "tr_tax_base"),
                     ("tr_shipping", "tr_shipping_base")]  # fmt: skip
            currency = f["tr_currency"]
        elif event == "transaction_item" and f.get("ti_currency"):
            pairs = [("ti_price", "ti_price_base")]
            currency = f["ti_currency"]
        else:
            return None
        assert currency is not None
        day = self._day(ev.times_ms["collector_tstamp"] - _DAY_MS)
        if day is None:
            return f"no exchange rates on or before the day before the event in {self.source}"
        table = self.rates[day]
        source, target = table.get(currency.upper()), table.get(self.base_currency)
        if source is None or target is None:
            missing = currency if source is None else self.base_currency
            return f"no {missing} exchange rate for {day} in {self.source}"
        for field, out in pairs:
            value = f.get(field)
            if value:
                amount = Decimal(value) * target / source
                f[out] = str(amount.quantize(_CENTS, rounding=ROUND_HALF_EVEN))
        f["base_currency"] = self.base_currency
        return None

    def _day(self, ms: int) -> str | None:
        wanted = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d")
        i = bisect_right(self.days, wanted)
        return self.days[i - 1] if i else None


def _load(path: Path) -> tuple[list[str], dict[str, dict[str, Decimal]]]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise TerminalError(f"currency conversion: rates file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise TerminalError(f"currency conversion: {path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rates"), dict):
        raise TerminalError(
            f'currency conversion: {path} must look like {{"base": "USD", "rates": '
            '{"2023-11-13": {"EUR": 0.93}}}'
        )
    file_base = str(doc.get("base") or "USD").upper()
    rates: dict[str, dict[str, Decimal]] = {}
    for day, table in doc["rates"].items():
        try:
            dt.date.fromisoformat(day)
            parsed = {str(k).upper(): Decimal(str(v)) for k, v in table.items()}
        except (ValueError, TypeError, AttributeError, InvalidOperation):
            raise TerminalError(
                f"currency conversion: {path}: day {day!r} is not YYYY-MM-DD with numeric rates"
            ) from None
        if any(v <= 0 for v in parsed.values()):
            raise TerminalError(f"currency conversion: {path}: rates on {day} must be positive")
        parsed.setdefault(file_base, Decimal(1))
        rates[day] = parsed
    return sorted(rates), rates
