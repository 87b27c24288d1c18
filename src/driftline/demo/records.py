"""User profiles, company group profiles and the SKU lookup table of the demo, as the
Arrow tables the store's write ops take."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.demo import catalog as cat
from driftline.demo.population import Companies, People
from driftline.demo.sessions import SIGNUP, Sessions
from driftline.demo.text import iso_times, join, json_text, pick

GROUP_KEY = "company_id"
SKU_TABLE_ID = "skus"
SKU_TABLE_NAME = "SKUs"
SKU_PROPERTY = "sku"
ORIGIN = "demo"


def _strings(values: list[str] | tuple[str, ...]) -> list[str]:
    return [json_text(v) for v in values]


def _company_names(companies: Companies, index: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Display name ("Cobalt Labs", "Cobalt Labs 2" on reuse) and e-mail domain."""
    word = pick(cat.COMPANY_WORDS, companies.name_word[index])
    suffix = pick(cat.COMPANY_SUFFIXES, companies.name_suffix[index])
    again = companies.name_round[index]
    number = pc.cast(pa.array(again + 1, pa.int64()), pa.string())
    tail = pc.if_else(pa.array(again > 0), join(" ", number), "")
    name = join(word, " ", suffix, tail)
    domain = join(
        pc.utf8_lower(word),
        pc.utf8_lower(suffix),
        pc.if_else(pa.array(again > 0), number, ""),
        ".example",
    )
    return name, domain


def user_outcomes(
    people: People, sessions: Sessions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per user: signed up (in these sessions)?, plan now, last seen (ms), money spent."""
    n = people.n_users
    signed_in = sessions.signed_in
    user = sessions.person[signed_in]
    signed_up = np.zeros(n, dtype=bool)
    signed_up[sessions.person[sessions.kind == SIGNUP]] = True
    plan = people.plan.astype(np.int64).copy()
    np.maximum.at(plan, user, sessions.plan[signed_in] + sessions.upgrade[signed_in])
    last_seen = people.arrival_ms[:n].copy()
    np.maximum.at(last_seen, user, sessions.start_ms[signed_in])
    spent = np.zeros(n, dtype=np.int64)
    bought = signed_in & (sessions.sku >= 0)
    prices = np.array([sku.price for sku in cat.SKUS], dtype=np.int64)
    amount = prices[sessions.sku[bought]] * sessions.quantity[bought]
    np.add.at(spent, sessions.person[bought], amount)
    return signed_up, plan, last_seen, spent


def profiles_table(
    project_id: int,
    people: People,
    companies: Companies,
    sessions: Sessions,
    user_ids: pa.Array,
    company_ids: pa.Array,
) -> pa.Table:
    """One profile per user who signed up; ``user_ids``/``company_ids`` are indexed by
    user and company number."""
    signed_up, plan, last_seen, spent = user_outcomes(people, sessions)
    users = np.flatnonzero(signed_up)
    first = (users * 7919 + 17) % len(cat.FIRST_NAMES)
    last = (users * 104729 + users // len(cat.FIRST_NAMES)) % len(cat.LAST_NAMES)
    first_name = pick(cat.FIRST_NAMES, first)
    last_name = pick(cat.LAST_NAMES, last)
    company = people.company[users]
    company_name, domain = _company_names(companies, company)
    number = pc.cast(pa.array(users + 1, pa.int64()), pa.string())
    email = join(pc.utf8_lower(first_name), ".", pc.utf8_lower(last_name), number, "@", domain)
    country = people.country[users]
    campaign = [f',"utm_source":{json_text(c[0])}' if c[0] else "" for c in cat.CAMPAIGNS]
    properties = join(
        '{"$name":"', first_name, " ", last_name,
        '","$first_name":"', first_name,
        '","$last_name":"', last_name,
        '","$email":"', email,
        '","plan":', pick(_strings(cat.PLAN_NAMES), plan[users]),
        ',"country":', pick(_strings([c.name for c in cat.COUNTRIES]), country),
        ',"$country_code":', pick(_strings([c.code for c in cat.COUNTRIES]), country),
        ',"$city":', pick(_strings([c for k in cat.COUNTRIES for c, _ in k.cities]), people.city[users]),
        ',"company_id":"', company_ids.take(pa.array(company)),
        '","company":"', company_name,
        '","$created":"', iso_times(people.arrival_ms[users]),
        '","$last_seen":"', iso_times(last_seen[users]),
        '","lifetime_value":', pc.cast(pa.array(spent[users]), pa.string()),
        pick(campaign, people.campaign[users]),
        "}",
    )  # fmt: skip
    n = len(users)
    return pa.table(
        {
            "project_id": pa.array(np.full(n, project_id, np.int32)),
            "distinct_id": user_ids.take(pa.array(users)),
            "properties": properties,
            "origin": pick([ORIGIN], np.zeros(n, np.int64)),
        }
    )


def groups_table(
    project_id: int,
    people: People,
    companies: Companies,
    sessions: Sessions,
    company_ids: pa.Array,
) -> pa.Table:
    """One group profile (key ``company_id``) per company with a signed-up user; its plan
    is the highest plan among its users."""
    signed_up, plan, _, _ = user_outcomes(people, sessions)
    users = np.flatnonzero(signed_up)
    company_of = people.company[users]
    present, first_user = np.unique(company_of, return_index=True)
    members = np.bincount(company_of, minlength=companies.n)[present]
    best = np.zeros(companies.n, dtype=np.int64)
    np.maximum.at(best, company_of, plan[users])
    founder = users[first_user]
    name, domain = _company_names(companies, present)
    properties = join(
        '{"$name":"', name,
        '","domain":"', domain,
        '","industry":', pick(_strings(cat.INDUSTRIES), companies.industry[present]),
        ',"employees":', pc.cast(pa.array(companies.employees[present]), pa.string()),
        ',"plan":', pick(_strings(cat.PLAN_NAMES), best[present]),
        ',"country":', pick(_strings([c.code for c in cat.COUNTRIES]), people.country[founder]),
        ',"users":', pc.cast(pa.array(members), pa.string()),
        ',"$created":"', iso_times(people.arrival_ms[founder]),
        '"}',
    )  # fmt: skip
    n = len(present)
    return pa.table(
        {
            "project_id": pa.array(np.full(n, project_id, np.int32)),
            "group_key": pick([GROUP_KEY], np.zeros(n, np.int64)),
            "group_id": company_ids.take(pa.array(present)),
            "properties": properties,
            "origin": pick([ORIGIN], np.zeros(n, np.int64)),
        }
    )


def skus_table() -> pa.Table:
    """The rows of the SKU lookup table (id = the ``sku`` event property)."""
    return pa.table(
        {
            "row_id": [sku.id for sku in cat.SKUS],
            "properties": [
                json.dumps({"name": sku.name, "category": sku.category, "price": sku.price})
                for sku in cat.SKUS
            ],
        }
    )
