"""Sessions: when each person shows up and what happens in each visit.

A session is a short burst of events by one person on one device:

* a visitor's session (kind ``VISIT``): anonymous page views, nothing else;
* an earlier visit of someone who signs up later (``EARLY_VISIT``): anonymous page views;
* the sign-up session (``SIGNUP``): page views, "Sign Up", then first use of the product;
* a returning session (``RETURN``): "Log In", then features; on a device not seen before
  it starts with an anonymous view of the login page.

Signed-in sessions may also send invites, upgrade the plan and buy an add-on, in that
order at the end. Whether a user comes back on a day depends on their engagement, how long
ago they signed up and the weekday, so retention decays and weekends are quiet. Everything
is computed for all sessions at once, with one loop over sign-up days (cohorts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftline.demo import catalog as cat
from driftline.demo.population import People, Window, draw_rows, local_seconds, utc_ms

VISIT, EARLY_VISIT, SIGNUP, RETURN = 0, 1, 2, 3
#: Share of users who looked around on an earlier day before signing up.
EARLY_VISIT_SHARE = 0.3
#: Chance that a returning session of a user with a phone happens on the phone.
MOBILE_SESSION_SHARE = 0.3
#: Onboarding: invites are likelier in the first days, purchases in the first week.
INVITE_BOOST_DAYS, INVITE_BOOST = 2, 3.0
PURCHASE_BOOST_DAYS, PURCHASE_BOOST = 7, 3.0
#: Users who invited colleagues buy and upgrade more.
INVITED_PURCHASE_BOOST, INVITED_UPGRADE_BOOST = 2.5, 2.0

_INVITE_RATE = np.array([p.invite_rate for p in cat.PLANS])
_UPGRADE_RATE = np.array([p.upgrade_rate for p in cat.PLANS])
_PURCHASE_RATE = np.array([p.purchase_rate for p in cat.PLANS])
_FEATURE_RATE = np.array([p.feature_rate for p in cat.PLANS])


@dataclass
class Sessions:
    """One row per session, ordered by start time."""

    start_ms: np.ndarray
    person: np.ndarray
    kind: np.ndarray
    slot: np.ndarray  # 0: the person's first device, 1: their phone
    days_in: np.ndarray  # days since sign-up (signed-in sessions), else -1
    n_anon: np.ndarray  # anonymous page views at the start
    n_feature: np.ndarray
    n_invite: np.ndarray
    upgrade: np.ndarray  # bool: "Upgrade Plan" in this session
    plan: np.ndarray  # plan at the start of the session (signed-in sessions)
    sku: np.ndarray  # add-on bought in this session, or -1
    quantity: np.ndarray

    @property
    def signed_in(self) -> np.ndarray:
        return self.kind >= SIGNUP

    def structural_events(self) -> np.ndarray:
        """Events per session other than feature use."""
        return (
            self.n_anon + self.signed_in + self.n_invite + self.upgrade + (self.sku >= 0)
        ).astype(np.int64)

    def event_counts(self) -> np.ndarray:
        return self.structural_events() + self.n_feature

    def take(self, index: np.ndarray) -> Sessions:
        return Sessions(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})


def segment_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Inclusive running sum of ``values`` restarting wherever ``first`` is true."""
    total = np.cumsum(values)
    starts = np.flatnonzero(first)
    base = (total - values)[starts]
    lengths = np.diff(np.append(starts, len(values)))
    return total - np.repeat(base, lengths)


def returning_days(
    rng: np.random.Generator, people: People, window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """(user, days since sign-up) of every day a user comes back, ordered by user."""
    users, offsets = [], []
    day = people.arrival_day[: people.n_users]
    bounds = np.searchsorted(day, np.arange(window.days + 1))
    for signup_day in range(window.days - 1):
        lo, hi = bounds[signup_day], bounds[signup_day + 1]
        if lo == hi:
            continue
        k = np.arange(1, window.days - signup_day)
        weekday = cat.SESSION_WEEKDAY[window.weekday(signup_day + k)]
        chance = (
            people.engagement[lo:hi, None]
            * np.exp(-k / people.decay_days[lo:hi, None])
            * (k < people.lifetime_days[lo:hi, None])
            * weekday
        )
        row, col = np.nonzero(rng.random(chance.shape) < chance)
        users.append(lo + row)
        offsets.append(k[col])
    if not users:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(users), np.concatenate(offsets)


def _signed_in_sessions(rng: np.random.Generator, people: People, window: Window) -> Sessions:
    n_users = people.n_users
    r_user, r_days = returning_days(rng, people, window)
    user = np.concatenate([np.arange(n_users), r_user])
    days_in = np.concatenate([np.zeros(n_users, np.int64), r_days])
    order = np.lexsort((days_in, user))
    user, days_in = user[order], days_in[order]
    n = len(user)
    kind = np.where(days_in == 0, SIGNUP, RETURN).astype(np.int8)
    has_phone = people.mobile[user] >= 0
    slot = ((kind == RETURN) & has_phone & (rng.random(n) < MOBILE_SESSION_SHARE)).astype(np.int8)
    first_of_user = np.r_[True, user[1:] != user[:-1]]
    first_on_phone = (slot == 1) & (segment_cumsum(slot.astype(np.int64), first_of_user) == 1)
    n_anon = np.where(kind == SIGNUP, 1 + (rng.random(n) < 0.55) + (rng.random(n) < 0.2), 0)
    n_anon = n_anon + first_on_phone
    start = _session_starts(rng, people, window, user, days_in)
    return _with_outcomes(
        rng, people, user, days_in, first_of_user, start, kind, slot, n_anon.astype(np.int16)
    )


def _session_starts(
    rng: np.random.Generator, people: People, window: Window, user: np.ndarray, days_in: np.ndarray
) -> np.ndarray:
    day = people.arrival_day[user] + days_in
    local = local_seconds(rng, window.weekday(day) >= 5)
    start = utc_ms(window, day, local, people.country[user])
    return np.where(days_in == 0, people.arrival_ms[user], start)


def _with_outcomes(
    rng: np.random.Generator,
    people: People,
    user: np.ndarray,
    days_in: np.ndarray,
    first_of_user: np.ndarray,
    start: np.ndarray,
    kind: np.ndarray,
    slot: np.ndarray,
    n_anon: np.ndarray,
) -> Sessions:
    """Invites, upgrades and purchases of signed-in sessions (ordered by user, then day)."""
    n = len(user)
    plan0 = people.plan[user]
    invite_chance = _INVITE_RATE[plan0] * np.where(days_in <= INVITE_BOOST_DAYS, INVITE_BOOST, 1.0)
    invites = rng.random(n) < invite_chance
    n_invite = np.where(invites, 1 + np.minimum(rng.poisson(0.6, n), 4), 0).astype(np.int8)
    invited = segment_cumsum(invites.astype(np.int64), first_of_user) > 0
    upgrade_chance = _UPGRADE_RATE[plan0] * np.where(invited, INVITED_UPGRADE_BOOST, 1.0)
    wants = (rng.random(n) < upgrade_chance).astype(np.int64)
    upgrades_so_far = segment_cumsum(wants, first_of_user)
    upgrade = (wants == 1) & (upgrades_so_far == 1)
    plan = (plan0 + ((upgrades_so_far - wants) >= 1)).astype(np.int8)
    plan_after = plan + upgrade
    purchase_chance = (
        _PURCHASE_RATE[plan_after]
        * np.where(invited, INVITED_PURCHASE_BOOST, 1.0)
        * np.where(days_in <= PURCHASE_BOOST_DAYS, PURCHASE_BOOST, 1.0)
    )
    buys = rng.random(n) < purchase_chance
    sku = np.where(buys, draw_rows(rng, cat.SKU_MIX, plan_after), -1).astype(np.int16)
    quantity = np.where(
        buys, 1 + draw_rows(rng, cat.QUANTITY_WEIGHTS[None, :], np.zeros(n, np.int64)), 0
    )
    return Sessions(
        start_ms=start,
        person=user,
        kind=kind,
        slot=slot,
        days_in=days_in,
        n_anon=n_anon,
        n_feature=np.zeros(n, np.int64),
        n_invite=n_invite,
        upgrade=upgrade,
        plan=plan,
        sku=sku,
        quantity=quantity.astype(np.int8),
    )


def _anonymous_sessions(rng: np.random.Generator, people: People, window: Window) -> Sessions:
    """Visitors' sessions, and the earlier visits of some users before they sign up."""
    n_users = people.n_users
    visitors = np.arange(n_users, people.n_people)
    early = np.flatnonzero(rng.random(n_users) < EARLY_VISIT_SHARE)
    back = 1 + rng.geometric(0.45, len(early))
    early_day = people.arrival_day[early] - back
    keep = early_day >= 0
    early, early_day = early[keep], early_day[keep]
    local = local_seconds(rng, window.weekday(early_day) >= 5)
    early_start = utc_ms(window, early_day, local, people.country[early])
    early_start = np.minimum(early_start, people.arrival_ms[early] - 3_600_000)
    keep = early_start >= window.start_ms
    early, early_start = early[keep], early_start[keep]
    person = np.concatenate([visitors, early])
    n = len(person)
    kind = np.concatenate([np.full(len(visitors), VISIT), np.full(len(early), EARLY_VISIT)])
    zeros = np.zeros(n, np.int64)
    return Sessions(
        start_ms=np.concatenate([people.arrival_ms[visitors], early_start]),
        person=person,
        kind=kind.astype(np.int8),
        slot=zeros.astype(np.int8),
        days_in=zeros - 1,
        n_anon=(1 + rng.binomial(3, 0.3, n)).astype(np.int16),
        n_feature=zeros.copy(),
        n_invite=zeros.astype(np.int8),
        upgrade=zeros.astype(bool),
        plan=zeros.astype(np.int8),
        sku=(zeros - 1).astype(np.int16),
        quantity=zeros.astype(np.int8),
    )


def build_sessions(rng: np.random.Generator, people: People, window: Window) -> Sessions:
    """Every session, ordered by start time; feature events are not allocated yet."""
    signed_in = _signed_in_sessions(rng, people, window)
    anonymous = _anonymous_sessions(rng, people, window)
    both = Sessions(
        **{
            name: np.concatenate([getattr(signed_in, name), getattr(anonymous, name)])
            for name in Sessions.__dataclass_fields__
        }
    )
    return both.take(np.argsort(both.start_ms, kind="stable"))


def allocate_features(
    rng: np.random.Generator, sessions: Sessions, people: People, budget: int
) -> None:
    """Spread ``budget`` feature events over the signed-in sessions, more where the plan is
    richer, the user more engaged, and on the first day (onboarding)."""
    signed_in = np.flatnonzero(sessions.signed_in)
    if budget <= 0 or len(signed_in) == 0:
        return
    user = sessions.person[signed_in]
    weight = (
        _FEATURE_RATE[sessions.plan[signed_in]]
        * (0.4 + people.engagement[user])
        * np.where(sessions.days_in[signed_in] == 0, 1.6, 1.0)
    )
    p = weight / (weight.sum() * (1.0 + 1e-9))
    sessions.n_feature[signed_in] = rng.multinomial(budget, p)
