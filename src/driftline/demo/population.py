"""Who is in the demo: the time window, the people (users and anonymous visitors) and the
companies they work for. All columns are numpy arrays; nothing here loops per person."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from driftline.demo import catalog as cat

DAY_MS = 86_400_000
#: The data spans 90 days, or more when the event count would make days denser than this.
MAX_EVENTS_PER_DAY = 150_000
MAX_DAYS = 730
#: Anonymous visitors who never sign up, per user who does.
VISITORS_PER_USER = 2.0
#: Users per company, on average.
USERS_PER_COMPANY = 6.0


@dataclass(frozen=True)
class Window:
    """The days the data covers, UTC: ``days`` whole days ending with ``last_day``."""

    last_day: dt.date
    days: int

    @classmethod
    def for_events(cls, events: int, last_day: dt.date) -> Window:
        days = max(90, min(MAX_DAYS, math.ceil(events / MAX_EVENTS_PER_DAY)))
        return cls(last_day, days)

    @property
    def first_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=self.days - 1)

    @property
    def start_ms(self) -> int:
        first = dt.datetime.combine(self.first_day, dt.time(), tzinfo=dt.UTC)
        return int(first.timestamp()) * 1000

    @property
    def end_ms(self) -> int:
        """The first millisecond after the window."""
        return self.start_ms + self.days * DAY_MS

    def weekday(self, day: np.ndarray) -> np.ndarray:
        """Monday = 0 for day indexes (0 = ``first_day``)."""
        return (self.first_day.weekday() + day) % 7


# ------------------------------------------------------------------ lookups built once
CITY_COUNTRY = np.array([i for i, c in enumerate(cat.COUNTRIES) for _ in c.cities])
_CITY_START = np.cumsum([0] + [len(c.cities) for c in cat.COUNTRIES])[:-1]
_CITY_COUNT = np.array([len(c.cities) for c in cat.COUNTRIES])
COUNTRY_OFFSET_S = np.array([c.utc_offset * 3600 for c in cat.COUNTRIES])
COUNTRY_RETENTION = np.array([c.retention for c in cat.COUNTRIES])
_BROWSER_MOBILE = np.array([b[2] for b in cat.BROWSERS])
_BROWSER_WEIGHT = np.array([b[3] for b in cat.BROWSERS])
PLAN_CORE_ODDS = np.array([p.core_odds for p in cat.PLANS])


def draw(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """``size`` indexes drawn with the given (unnormalised) weights."""
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=size, p=w / w.sum())


def draw_rows(rng: np.random.Generator, matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each entry of ``rows``, an index drawn with the weights in that row of ``matrix``."""
    m = np.asarray(matrix, dtype=np.float64)
    cum = np.cumsum(m / m.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(rows))
    picked = (u[:, None] >= cum[rows]).sum(axis=1)
    return np.minimum(picked, m.shape[1] - 1)


def local_seconds(rng: np.random.Generator, weekend: np.ndarray) -> np.ndarray:
    """Seconds after local midnight at which people show up: two work-day peaks (late
    morning, mid afternoon) on weekdays, one broad one at weekends."""
    n = len(weekend)
    morning = rng.random(n) < 0.5
    hours = np.where(
        weekend,
        rng.normal(13.5, 4.0, n),
        np.where(morning, rng.normal(10.5, 1.8, n), rng.normal(15.0, 2.4, n)),
    )
    return (np.clip(hours, 0.0, 23.99) * 3600).astype(np.int64)


def utc_ms(window: Window, day: np.ndarray, local: np.ndarray, country: np.ndarray) -> np.ndarray:
    """UTC milliseconds of a local time of day on day ``day`` in each person's country.

    Where the shift to UTC would leave the window (the first day east of UTC, the last day
    west of it), the local time is kept as UTC rather than piling events up at the edge."""
    day_start = window.start_ms + day * DAY_MS
    ms = day_start + (local - COUNTRY_OFFSET_S[country]) * 1000
    outside = (ms < window.start_ms) | (ms > window.end_ms - 3_600_000)
    return np.where(outside, day_start + np.minimum(local, 22 * 3600) * 1000, ms)


def arrival_weights(rng: np.random.Generator, window: Window) -> np.ndarray:
    """Relative number of sign-ups (and visits) on each day of the window."""
    day = np.arange(window.days)
    w = cat.SIGNUP_WEEKDAY[window.weekday(day)] * np.exp(cat.GROWTH_PER_DAY * day)
    w *= rng.lognormal(0.0, 0.08, window.days)
    for back, factor in cat.LAUNCH.items():
        if back < window.days:
            w[window.days - 1 - back] *= factor
    return w


def launch_days(window: Window) -> np.ndarray:
    return np.array([window.days - 1 - b for b in cat.LAUNCH if b < window.days], dtype=np.int64)


@dataclass
class People:
    """Users (indexes ``0 .. n_users-1``, in sign-up order) then anonymous visitors."""

    n_users: int
    arrival_ms: np.ndarray  # sign-up time (users), visit time (visitors)
    arrival_day: np.ndarray
    country: np.ndarray
    city: np.ndarray
    browser: np.ndarray  # the first device's browser (index into cat.BROWSERS)
    campaign: np.ndarray  # first-touch campaign (index into cat.CAMPAIGNS)
    # users only (length n_users)
    mobile: np.ndarray  # browser of a second, mobile device, or -1
    plan: np.ndarray  # plan at sign-up
    company: np.ndarray
    engagement: np.ndarray  # chance of a session on a weekday, early on
    decay_days: np.ndarray  # how fast that chance fades
    lifetime_days: np.ndarray  # after this the user is gone

    @property
    def n_people(self) -> int:
        return len(self.arrival_ms)


@dataclass
class Companies:
    n: int
    employees: np.ndarray
    industry: np.ndarray
    plan: np.ndarray  # plan at sign-up of its users
    name_word: np.ndarray  # name: a word and a suffix from the catalog, unique per company
    name_suffix: np.ndarray
    name_round: np.ndarray  # 0 for the first use of a word + suffix, then 1, 2, ...


def _arrivals(
    rng: np.random.Generator, window: Window, n: int, day_weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrival day (local), time, country and city of ``n`` people, sorted by day, then
    time."""
    day = draw(rng, day_weights, n)
    country = draw(rng, np.array([c.weight for c in cat.COUNTRIES]), n)
    local = local_seconds(rng, window.weekday(day) >= 5)
    ms = utc_ms(window, day, local, country)
    order = np.lexsort((ms, day))
    city = _CITY_START[country] + (rng.random(n) * _CITY_COUNT[country]).astype(np.int64)
    return day[order], ms[order], country[order], city[order]


def _campaigns(rng: np.random.Generator, window: Window, day: np.ndarray) -> np.ndarray:
    weights = np.array([c[3] for c in cat.CAMPAIGNS])
    campaign = draw(rng, weights, len(day))
    launch = np.isin(day, launch_days(window)) & (rng.random(len(day)) < cat.LAUNCH_SHARE)
    return np.where(launch, cat.LAUNCH_CAMPAIGN, campaign)


def build_companies(rng: np.random.Generator, n_users: int) -> tuple[Companies, np.ndarray]:
    """Companies and each user's company. Sizes are skewed (a few large customers, many
    small ones); larger companies start on higher plans. Companies are numbered in the
    order their first user signed up."""
    n = max(1, round(n_users / USERS_PER_COMPANY))
    weights = (np.arange(n) + 1.0) ** -0.6
    company = draw(rng, rng.permutation(weights), n_users)
    _, first, company = np.unique(company, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    company = rank[company]
    n = len(first)
    members = np.bincount(company, minlength=n)
    employees = np.maximum(members * 3, np.round(rng.lognormal(3.6, 1.3, n))).astype(np.int64)
    size_class = np.digitize(employees, [50, 500])
    n_suffixes = len(cat.COMPANY_SUFFIXES)
    combos = len(cat.COMPANY_WORDS) * n_suffixes
    name = rng.permutation(combos)[np.arange(n) % combos]
    plan_mix = np.array(
        [[p.signup_weight for p in cat.PLANS], [0.5, 0.3, 0.15, 0.05], [0.28, 0.32, 0.2, 0.2]]
    )
    companies = Companies(
        n=n,
        employees=employees,
        industry=draw(rng, np.ones(len(cat.INDUSTRIES)), n),
        plan=draw_rows(rng, plan_mix, size_class),
        name_word=name // n_suffixes,
        name_suffix=name % n_suffixes,
        name_round=np.arange(n) // combos,
    )
    return companies, company


def _behaviour(
    rng: np.random.Generator, plan: np.ndarray, country: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Engagement, decay and lifetime of each user. A user is either "core" (comes back for
    months) or trying the product out (fades within days); paid plans and some countries
    make core users more likely."""
    n = len(plan)
    odds = 0.45 * PLAN_CORE_ODDS[plan] * COUNTRY_RETENTION[country]
    core = rng.random(n) < odds / (1.0 + odds)
    engagement = np.where(core, 0.2 + 0.5 * rng.beta(2.0, 2.0, n), 0.15 + 0.3 * rng.random(n))
    decay = np.where(core, rng.uniform(60.0, 200.0, n), rng.uniform(1.5, 6.0, n))
    lifetime = np.where(core, rng.exponential(150.0 * COUNTRY_RETENTION[country]), np.inf)
    return engagement, decay, lifetime


def build_people(
    rng: np.random.Generator, window: Window, n_users: int
) -> tuple[People, Companies]:
    day_weights = arrival_weights(rng, window)
    n_visitors = round(n_users * VISITORS_PER_USER)
    u_day, u_ms, u_country, u_city = _arrivals(rng, window, n_users, day_weights)
    v_day, v_ms, v_country, v_city = _arrivals(rng, window, n_visitors, day_weights)
    desktop = np.where(_BROWSER_MOBILE, 0.0, _BROWSER_WEIGHT)
    mobile = np.where(_BROWSER_MOBILE, _BROWSER_WEIGHT, 0.0)
    u_browser = draw(rng, desktop, n_users)
    v_browser = draw(rng, desktop * 0.7 / desktop.sum() + mobile * 0.3 / mobile.sum(), n_visitors)
    u_mobile = np.where(rng.random(n_users) < 0.35, draw(rng, mobile, n_users), -1)
    companies, company = build_companies(rng, n_users)
    plan = companies.plan[company]
    engagement, decay, lifetime = _behaviour(rng, plan, u_country)
    day = np.concatenate([u_day, v_day])
    people = People(
        n_users=n_users,
        arrival_ms=np.concatenate([u_ms, v_ms]),
        arrival_day=day,
        country=np.concatenate([u_country, v_country]),
        city=np.concatenate([u_city, v_city]),
        browser=np.concatenate([u_browser, v_browser]),
        campaign=_campaigns(rng, window, day),
        mobile=u_mobile,
        plan=plan,
        company=company,
        engagement=engagement,
        decay_days=decay,
        lifetime_days=lifetime,
    )
    return people, companies
