"""Sessions → events: an Arrow table (:data:`driftline.model.EVENT_SCHEMA`) per chunk of
sessions, built column by column.

Inside a session the events come in a fixed order: anonymous page views, "Sign Up" or
"Log In", feature use, "Invite Sent", "Upgrade Plan", "Purchase"; a few seconds to a minute
apart. Anonymous events carry only ``$device_id`` (distinct_id ``$device:<id>``); signed-in
events carry the device and the user, so the sign-up links the device to the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.demo import catalog as cat
from driftline.demo.population import People, Window, draw, draw_rows
from driftline.demo.sessions import SIGNUP, Sessions, segment_cumsum
from driftline.demo.text import hex_ids, join, json_text, numbered, pick, uuid_ids
from driftline.model import DEVICE_PREFIX, EVENT_SCHEMA

EVENT_NAMES = (
    "View Page",
    "Sign Up",
    "Log In",
    *cat.FEATURES,
    "Invite Sent",
    "Upgrade Plan",
    "Purchase",
)
VIEW_PAGE, SIGN_UP, LOG_IN = 0, 1, 2
FEATURE_0 = 3
INVITE_SENT = FEATURE_0 + len(cat.FEATURES)
UPGRADE_PLAN = INVITE_SENT + 1
PURCHASE = INVITE_SENT + 2
ORIGIN = "demo"
#: Seconds between two events of a session: a floor plus an exponential tail.
GAP_MIN_MS, GAP_MEAN_MS = 2_000, 35_000


class Fragments:
    """JSON fragments of event properties, indexed by the codes the generator draws."""

    def __init__(self) -> None:
        details: list[str] = []
        self.detail_offset: dict[int, int] = {}
        self.detail_weights: dict[int, np.ndarray] = {}
        for page in cat.PAGES:
            details.append(f'"page":{json_text(page)},"$current_url":{json_text(cat.SITE + page)}')
        for name, options in cat.DETAILS.items():
            code = EVENT_NAMES.index(name)
            self.detail_offset[code] = len(details)
            self.detail_weights[code] = np.array([w for _, w in options])
            details.extend(fragment for fragment, _ in options)
        self.upgrade_offset = len(details)
        for low, high in zip(cat.PLANS[:-1], cat.PLANS[1:], strict=True):
            details.append(
                f'"from_plan":"{low.name}","to_plan":"{high.name}","price":{high.monthly_price}'
            )
        self.purchase_offset = len(details)
        for sku in cat.SKUS:
            for quantity in range(1, len(cat.QUANTITY_WEIGHTS) + 1):
                details.append(
                    f'"sku":{json_text(sku.id)},"price":{sku.price},"quantity":{quantity},'
                    f'"amount":{sku.price * quantity},"currency":"USD"'
                )
        self.details = details
        self.plans = [f',"plan":{json_text(p.name)},"company_id":"' for p in cat.PLANS]
        self.campaigns = [
            _campaign(source, medium, name) for source, medium, name, _ in cat.CAMPAIGNS
        ]
        self.browsers = [
            f',"$browser":{json_text(b)},"$os":{json_text(o)}' for b, o, _, _ in cat.BROWSERS
        ]
        self.cities = [
            f',"$city":{json_text(city)},"$region":{json_text(region)},'
            f'"mp_country_code":"{country.code}"'
            for country in cat.COUNTRIES
            for city, region in country.cities
        ]


def _campaign(source: str, medium: str, name: str) -> str:
    parts = [
        (k, v)
        for k, v in (("utm_source", source), ("utm_medium", medium), ("utm_campaign", name))
        if v
    ]
    return "".join(f",{json_text(k)}:{json_text(v)}" for k, v in parts)


@dataclass
class _Events:
    """Events of a chunk of sessions: their session, position in it, code, anonymity."""

    session: np.ndarray
    pos: np.ndarray
    code: np.ndarray
    anon: np.ndarray


@dataclass
class EventBuilder:
    """Turns chunks of :class:`Sessions` into event tables for one project."""

    people: People
    window: Window
    project_id: int
    seed: int

    @cached_property
    def fragments(self) -> Fragments:
        return Fragments()

    @property
    def user_id_width(self) -> int:
        return max(6, len(str(self.people.n_users)))

    def user_ids(self, users: np.ndarray) -> pa.Array:
        return numbered("u", users + 1, self.user_id_width)

    def company_ids(self, companies: np.ndarray, n_companies: int) -> pa.Array:
        return numbered("c", companies + 1, max(5, len(str(n_companies))))

    def device_ids(self, person: np.ndarray, slot: np.ndarray) -> pa.Array:
        return uuid_ids(person.astype(np.int64) * 2 + slot, self.seed)

    def build(self, rng: np.random.Generator, s: Sessions, n_companies: int) -> pa.Table:
        counts = s.event_counts()
        session = np.repeat(np.arange(len(counts)), counts)
        pos = np.arange(len(session)) - np.repeat(np.cumsum(counts) - counts, counts)
        e = _Events(session, pos, self._codes(rng, s, session, pos), pos < s.n_anon[session])
        return self._table(rng, s, e, n_companies)

    def _codes(
        self, rng: np.random.Generator, s: Sessions, session: np.ndarray, pos: np.ndarray
    ) -> np.ndarray:
        """Event code of each event from its position in the session."""
        b_anon = s.n_anon[session].astype(np.int64)
        b_ident = b_anon + s.signed_in[session]
        b_feature = b_ident + s.n_feature[session]
        b_invite = b_feature + s.n_invite[session]
        b_upgrade = b_invite + s.upgrade[session]
        ident = np.where(s.kind[session] == SIGNUP, SIGN_UP, LOG_IN)
        feature = FEATURE_0 + _feature_choice(rng, s.plan[session])
        return np.select(
            [pos < b_anon, pos < b_ident, pos < b_feature, pos < b_invite, pos < b_upgrade],
            [VIEW_PAGE, ident, feature, INVITE_SENT, UPGRADE_PLAN],
            PURCHASE,
        ).astype(np.int64)

    def _times(self, rng: np.random.Generator, s: Sessions, e: _Events) -> np.ndarray:
        """Event times: a few seconds to a minute apart. A signed-in session is anchored
        on its "Sign Up"/"Log In" (at the session's start time, so a profile's ``$created``
        is its sign-up); anonymous views before it happen just before."""
        if len(e.pos) == 0:
            return np.zeros(0, np.int64)
        first = e.pos == 0
        gap = GAP_MIN_MS + rng.exponential(GAP_MEAN_MS, len(first)).astype(np.int64)
        gap[first] = 0
        offset = segment_cumsum(gap, first)
        counts = np.bincount(e.session, minlength=len(s.start_ms))
        anchor = np.cumsum(counts) - counts + np.where(s.signed_in, s.n_anon, 0)
        anchor = np.minimum(anchor, len(offset) - 1)
        offset = offset - offset[anchor][e.session]
        time = s.start_ms[e.session] + offset
        return np.clip(time, self.window.start_ms, self.window.end_ms - 1)

    def _details(self, rng: np.random.Generator, s: Sessions, e: _Events) -> np.ndarray:
        """Index into ``Fragments.details`` of each event's own properties."""
        f, session, code, pos = self.fragments, e.session, e.code, e.pos
        detail = np.zeros(len(code), dtype=np.int64)
        page = draw(rng, cat.PAGE_WEIGHTS, len(code))
        last_anon = pos == s.n_anon[session].astype(np.int64) - 1
        page = np.where(last_anon & (s.kind[session] == SIGNUP), cat.PAGES.index("/signup"), page)
        page = np.where(last_anon & (s.kind[session] > SIGNUP), cat.LOGIN_PAGE, page)
        detail = np.where(code == VIEW_PAGE, page, detail)
        for event_code, offset in f.detail_offset.items():
            mask = code == event_code
            detail[mask] = offset + draw(rng, f.detail_weights[event_code], int(mask.sum()))
        upgrade = code == UPGRADE_PLAN
        detail[upgrade] = f.upgrade_offset + s.plan[session[upgrade]]
        bought = code == PURCHASE
        sku = s.sku[session[bought]].astype(np.int64)
        detail[bought] = f.purchase_offset + sku * 3 + s.quantity[session[bought]] - 1
        return detail

    def _session_text(self, s: Sessions, n_companies: int) -> dict[str, pa.Array]:
        """Strings that are the same for every event of a session, once per session."""
        people, f = self.people, self.fragments
        user_index = np.minimum(s.person, people.n_users - 1)
        company = self.company_ids(people.company[user_index], n_companies)
        browser = np.where(s.slot == 1, people.mobile[user_index], people.browser[s.person])
        return {
            "device": self.device_ids(s.person, s.slot),
            "user": self.user_ids(user_index),
            # plan before, then after an upgrade in the session
            "signed_in": pa.concat_arrays(
                [
                    join(pick(f.plans, s.plan), company, '"'),
                    join(pick(f.plans, s.plan + s.upgrade), company, '"'),
                ]
            ),
            "utm": pick(f.campaigns, people.campaign[s.person]),
            "tail": join(
                pick(f.browsers, browser),
                pick(f.cities, people.city[s.person]),
                ',"mp_lib":"web"}',
            ),
        }

    def _table(
        self, rng: np.random.Generator, s: Sessions, e: _Events, n_companies: int
    ) -> pa.Table:
        session, code, anon = e.session, e.code, e.anon
        n = len(code)
        time = self._times(rng, s, e)
        per_session = self._session_text(s, n_companies)
        index = pa.array(session, pa.int64())
        device = per_session["device"].take(index)
        user = per_session["user"].take(index)
        anon_mask = pa.array(anon)
        upgraded = ((code == UPGRADE_PLAN) | (code == PURCHASE)) & s.upgrade[session]
        signed_in = per_session["signed_in"].take(pa.array(session + upgraded * len(s.plan)))
        utm = per_session["utm"].take(index)
        properties = join(
            "{",
            pick(self.fragments.details, self._details(rng, s, e)),
            pc.if_else(anon_mask, "", signed_in),
            pc.if_else(pa.array(anon | (code == SIGN_UP)), utm, ""),
            per_session["tail"].take(index),
        )
        columns = {
            "project_id": pa.array(np.full(n, self.project_id, np.int32)),
            "event": pick(EVENT_NAMES, code),
            "time": pa.array(time, pa.int64()).cast(pa.timestamp("ms")),
            "distinct_id": pc.if_else(anon_mask, join(DEVICE_PREFIX, device), user),
            "device_id": device,
            "user_id": pc.if_else(anon_mask, pa.scalar(None, pa.string()), user),
            "insert_id": hex_ids(rng, n),
            "properties": properties,
            "origin": pick([ORIGIN], np.zeros(n, np.int64)),
            "origin_key": pa.nulls(n, pa.string()),
        }
        return pa.Table.from_pydict(columns, schema=EVENT_SCHEMA)


def _feature_choice(rng: np.random.Generator, plan: np.ndarray) -> np.ndarray:
    return draw_rows(rng, cat.FEATURE_MIX, plan.astype(np.int64))
