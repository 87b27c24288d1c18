"""Time in reports: date ranges and buckets in the project's timezone.

Events are stored in naive UTC. A report's dates are inclusive calendar days of the project's
timezone, and its buckets (hour, day, week, month) are that timezone's calendar units, DST
included: a local day may last 23 or 25 hours. The UTC→local conversion is compiled into plain
arithmetic — ``time + CASE WHEN time < <transition> THEN <offset> ... END`` with the offsets
of every DST period that touches the report — which is exact and costs nothing per row
compared with a timezone lookup per event.
"""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from dataclasses import dataclass

from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.model import FIRST_DAY, LAST_DAY
from driftline.query.sqlbuild import Params

UNITS = ("hour", "day", "week", "month")
#: length of one retention/funnel interval per unit (Mixpanel: a month interval is 30 days)
UNIT_LENGTH = {
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(days=7),
    "month": dt.timedelta(days=30),
}


def parse_day(value: str, field: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(
            f"{field} {value!r} is not a date; use YYYY-MM-DD", field=field
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{field} {day} is not between {FIRST_DAY} and {LAST_DAY}", field=field)
    return day


def check_unit(unit: str, allowed: tuple[str, ...] = UNITS, field: str = "unit") -> str:
    if unit not in allowed:
        raise InvalidInput(
            f"{field} must be one of {', '.join(allowed)} (got {unit!r})", field=field
        )
    return unit


@dataclass(frozen=True)
class Timeline:
    """A project's timezone and a report's date range."""

    timezone: str
    start: dt.date
    end: dt.date  # inclusive

    @classmethod
    def of(cls, timezone: str, from_date: str, to_date: str) -> Timeline:
        start = parse_day(from_date, "from_date")
        end = parse_day(to_date, "to_date")
        if end < start:
            raise InvalidInput(f"to_date {end} is before from_date {start}", field="to_date")
        if (end - start).days > 3660:
            raise InvalidInput("the date range may span at most 10 years", field="to_date")
        return cls(timezone, start, end)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def utc(self, local: dt.datetime) -> dt.datetime:
        """A naive local wall time → naive UTC (the earlier instant when it is ambiguous)."""
        return local.replace(tzinfo=self.tz).astimezone(dt.UTC).replace(tzinfo=None)

    def local(self, utc: dt.datetime) -> dt.datetime:
        return utc.replace(tzinfo=dt.UTC).astimezone(self.tz).replace(tzinfo=None)

    @property
    def lo(self) -> dt.datetime:
        """Start of the range, naive UTC."""
        return self.utc(dt.datetime.combine(self.start, dt.time()))

    @property
    def hi(self) -> dt.datetime:
        """End of the range (exclusive), naive UTC."""
        return self.utc(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time()))

    def parse_instant(self, value: str, field: str) -> dt.datetime:
        """A date or date-time written by a user (local unless it has an offset) → naive UTC."""
        text = str(value).strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{field}: {value!r} is not a date or time; use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS",
                field=field,
            ) from None
        if parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC).replace(tzinfo=None)
        return self.utc(parsed)

    # ------------------------------------------------------------------ SQL
    def offsets(self, lo: dt.datetime, hi: dt.datetime) -> list[tuple[dt.datetime, dt.timedelta]]:
        """``[(from_utc, utc_offset), ...]`` covering [lo, hi): each offset holds from its
        instant to the next one's."""
        tz = self.tz
        periods: list[tuple[dt.datetime, dt.timedelta]] = []

        def offset_at(t: dt.datetime) -> dt.timedelta:
            return t.replace(tzinfo=dt.UTC).astimezone(tz).utcoffset() or dt.timedelta()

        current = offset_at(lo)
        periods.append((lo, current))
        step = dt.timedelta(hours=6)
        t = lo
        while t < hi:
            nxt = min(t + step, hi)
            if offset_at(nxt) != current:
                # bisect to the minute where the offset changes
                a, b = t, nxt
                while b - a > dt.timedelta(minutes=1):
                    mid = a + (b - a) / 2
                    mid = mid.replace(second=0, microsecond=0)
                    if mid <= a:
                        break
                    if offset_at(mid) == current:
                        a = mid
                    else:
                        b = mid
                current = offset_at(b)
                periods.append((b, current))
            t = nxt
        return periods

    def local_time(
        self, column: exp.Expression, params: Params, lo: dt.datetime, hi: dt.datetime
    ) -> exp.Expression:
        """``column`` (naive UTC) as the project's local wall time, exact for [lo, hi)."""
        periods = self.offsets(lo, hi)
        if len(periods) == 1:
            offset = periods[0][1]
            if not offset:
                return column
            return exp.Add(this=column, expression=_interval(offset))
        case = exp.Case()
        for (_, offset), (until, _) in itertools.pairwise(periods):
            case = case.when(exp.LT(this=column, expression=params.bind(until)), _interval(offset))
        case = case.else_(_interval(periods[-1][1]))
        return exp.Add(this=column, expression=exp.paren(case, copy=False))

    def bucket(
        self,
        unit: str,
        column: exp.Expression,
        params: Params,
        lo: dt.datetime,
        hi: dt.datetime,
    ) -> exp.Expression:
        """The local calendar bucket (a naive local timestamp) that ``column`` falls in."""
        local = self.local_time(column, params, lo, hi)
        return exp.func("date_trunc", exp.Literal.string(unit), local)

    def bucket_starts(self, unit: str) -> list[dt.datetime]:
        """Every bucket start (naive local) that the range touches, in order."""
        if unit in ("minute", "hour"):  # walk real time: a DST gap has no 02:00, an overlap one
            out, t = [], self.lo
            while t < self.hi:
                start = truncate(self.local(t), unit)
                if not out or out[-1] != start:
                    out.append(start)
                t += UNIT_LENGTH[unit]
            return out
        first = truncate(dt.datetime.combine(self.start, dt.time()), unit)
        stop = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time())
        out = []
        t = first
        while t < stop:
            out.append(t)
            t = advance(t, unit)
        return out


def _interval(offset: dt.timedelta) -> exp.Expression:
    seconds = int(offset.total_seconds())
    return exp.Interval(this=exp.Literal.string(str(seconds)), unit=exp.var("SECOND"))


def truncate(t: dt.datetime, unit: str) -> dt.datetime:
    if unit == "minute":
        return t.replace(second=0, microsecond=0)
    if unit == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":  # ISO weeks: Monday
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    raise ValueError(unit)


def advance(t: dt.datetime, unit: str) -> dt.datetime:
    if unit == "month":
        return (t.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return t + {"minute": dt.timedelta(minutes=1), "hour": dt.timedelta(hours=1),
                "day": dt.timedelta(days=1), "week": dt.timedelta(days=7)}[unit]  # fmt: skip


def label(t: dt.datetime | dt.date, unit: str) -> str:
    """A bucket's key in responses: ``YYYY-MM-DD`` (``YYYY-MM-DD HH:00:00`` for hours)."""
    if isinstance(t, dt.datetime) and unit in ("hour", "minute"):
        return t.strftime("%Y-%m-%d %H:%M:00")
    return t.strftime("%Y-%m-%d")
