"""What an analyst would notice in the loaded demo data: identities merge, funnels drop
off, retention decays, weekends are quiet, plans and countries differ, lookups join."""

from __future__ import annotations

import json

from driftline.demo.catalog import SKUS
from driftline.store import DuckDBStore

SHAPE_EVENTS = 80_000  # as loaded by the demo_store fixture (conftest.py)
SIGNUPS = """
    SELECT user_id AS u, min(time) AS t, any_value(properties->>'plan') AS plan,
           any_value(properties->>'mp_country_code') AS country
    FROM events WHERE event = 'Sign Up' GROUP BY 1"""


def test_summary_matches_the_store(
    demo_store: DuckDBStore, demo_summary: dict[str, object]
) -> None:
    q = demo_store.query_rows
    assert demo_summary["events"] == SHAPE_EVENTS == q("SELECT count(*) FROM events")[0][0]
    assert demo_summary["users"] == q("SELECT count(*) FROM profiles")[0][0]
    assert demo_summary["users"] == q(f"SELECT count(*) FROM ({SIGNUPS})")[0][0]
    assert (
        demo_summary["companies"]
        == q("SELECT count(*) FROM groups WHERE group_key = 'company_id'")[0][0]
    )
    assert (
        demo_summary["skus"]
        == len(SKUS)
        == q("SELECT count(*) FROM lookup_rows WHERE table_id = 'skus'")[0][0]
    )
    assert q("SELECT name, property FROM lookup_tables WHERE id = 'skus'") == [("SKUs", "sku")]
    first, last, days = q(
        "SELECT min(time)::DATE, max(time)::DATE, count(DISTINCT time::DATE) FROM events"
    )[0]
    assert (first.isoformat(), last.isoformat(), days) == (
        demo_summary["first_day"],
        demo_summary["last_day"],
        90,
    )


def test_anonymous_browsing_resolves_to_the_user_who_signed_up(demo_store: DuckDBStore) -> None:
    q = demo_store.query_rows
    wrong, resolved = q(
        """SELECT count(*) FILTER (WHERE r.resolved_distinct_id <> s.user_id), count(*)
           FROM events_resolved r JOIN events s
             ON s.event = 'Sign Up' AND s.device_id = r.device_id
           WHERE r.user_id IS NULL"""
    )[0]
    assert wrong == 0 and resolved > 1000
    # visits on days before the sign-up resolve too (retroactive merge)
    assert (
        q(
            """SELECT count(*) FROM events_resolved r JOIN events s
             ON s.event = 'Sign Up' AND s.device_id = r.device_id
           WHERE r.user_id IS NULL AND r.time::DATE < s.time::DATE"""
        )[0][0]
        > 0
    )
    # a second device: anonymous on the login page, then Log In links it to the same user
    assert (
        q(
            """SELECT count(DISTINCT r.device_id) FROM events_resolved r
           WHERE r.user_id IS NULL AND r.properties->>'page' = '/login'
             AND NOT starts_with(r.resolved_distinct_id, '$device:')"""
        )[0][0]
        > 10
    )
    # visitors who never signed up stay anonymous
    assert (
        q(
            "SELECT count(*) FROM events_resolved WHERE starts_with(resolved_distinct_id, '$device:')"
        )[0][0]
        > 1000
    )


def _funnel(store: DuckDBStore) -> dict[str, tuple[int, int, int]]:
    rows = store.query_rows(
        f"""WITH s AS ({SIGNUPS}),
        i AS (SELECT s.u, s.plan, min(e.time) AS t FROM s JOIN events_resolved e
                ON e.resolved_distinct_id = s.u AND e.event = 'Invite Sent'
               AND e.time BETWEEN s.t AND s.t + INTERVAL 14 DAY GROUP BY 1, 2),
        p AS (SELECT DISTINCT i.u, i.plan FROM i JOIN events_resolved e
                ON e.resolved_distinct_id = i.u AND e.event = 'Purchase'
               AND e.time BETWEEN i.t AND i.t + INTERVAL 14 DAY)
        SELECT s.plan, count(*),
               (SELECT count(*) FROM i WHERE i.plan = s.plan),
               (SELECT count(*) FROM p WHERE p.plan = s.plan)
        FROM s GROUP BY 1"""
    )
    return {plan: (a, b, c) for plan, a, b, c in rows}


def test_sign_up_invite_purchase_funnel_drops_off_and_paid_plans_convert_better(
    demo_store: DuckDBStore,
) -> None:
    funnel = _funnel(demo_store)
    assert set(funnel) == {"free", "team", "business", "enterprise"}
    for signups, invites, purchases in funnel.values():
        assert signups > invites > purchases > 0
    rate = {plan: c / a for plan, (a, _, c) in funnel.items()}
    assert rate["free"] * 3 < rate["team"] < rate["business"]


def _weekly_retention(store: DuckDBStore, where: str = "TRUE") -> list[float]:
    rows = store.query_rows(
        f"""WITH s AS ({SIGNUPS}),
        a AS (SELECT DISTINCT resolved_distinct_id AS u, time::DATE AS d
              FROM events_resolved WHERE user_id IS NOT NULL)
        SELECT (a.d - s.t::DATE) // 7 AS week, count(DISTINCT s.u)
             / (SELECT count(*) FROM s WHERE s.t < TIMESTAMP '2026-01-15' AND {where})
        FROM s JOIN a ON a.u = s.u
        WHERE s.t < TIMESTAMP '2026-01-15' AND a.d > s.t::DATE AND {where}
        GROUP BY 1 ORDER BY 1"""
    )
    return [share for _, share in rows]


def test_weekly_retention_decays_and_differs_by_country(demo_store: DuckDBStore) -> None:
    curve = _weekly_retention(demo_store)
    assert curve[0] > 0.4
    assert curve[0] > curve[1] > curve[4] > curve[9] > 0.05
    loyal = _weekly_retention(demo_store, "s.country IN ('DE', 'NL', 'JP', 'US')")
    fickle = _weekly_retention(demo_store, "s.country IN ('IN', 'BR', 'NG')")
    assert sum(loyal[2:10]) > 1.3 * sum(fickle[2:10])


def test_weekends_are_quieter(demo_store: DuckDBStore) -> None:
    rows = demo_store.query_rows(
        """SELECT isodow(time) >= 6, count(*) / count(DISTINCT time::DATE)
           FROM events GROUP BY 1"""
    )
    per_day = dict(rows)
    assert per_day[True] < 0.6 * per_day[False]
    signups = dict(
        demo_store.query_rows(
            """SELECT isodow(time) >= 6, count(*) / count(DISTINCT time::DATE)
               FROM events WHERE event = 'Sign Up' GROUP BY 1"""
        )
    )
    assert signups[True] < 0.7 * signups[False]


def test_daily_purchases_join_the_sku_lookup(demo_store: DuckDBStore) -> None:
    rows = demo_store.query_rows(
        """SELECT l.properties->>'category' AS category, count(*) AS n,
                  count(DISTINCT e.time::DATE) AS days
           FROM events e LEFT JOIN lookup_rows l
             ON l.table_id = 'skus' AND l.row_id = e.properties->>'sku'
           WHERE e.event = 'Purchase' GROUP BY 1"""
    )
    categories = {c for c, _, _ in rows}
    assert None not in categories
    assert categories == {s.category for s in SKUS}
    assert sum(days for _, _, days in rows) > 200


def test_last_month_sign_ups_who_purchased_within_7_days_by_profile_plan(
    demo_store: DuckDBStore,
) -> None:
    rows = demo_store.query_rows(
        """WITH s AS (SELECT user_id AS u, min(time) AS t FROM events WHERE event = 'Sign Up'
                      AND time >= TIMESTAMP '2026-02-01' AND time < TIMESTAMP '2026-03-01'
                      GROUP BY 1)
           SELECT p.properties->>'plan', count(DISTINCT s.u),
                  count(DISTINCT s.u) FILTER (WHERE e.time IS NOT NULL)
           FROM s JOIN profiles p ON p.distinct_id = s.u
           LEFT JOIN events_resolved e ON e.resolved_distinct_id = s.u
             AND e.event = 'Purchase' AND e.time <= s.t + INTERVAL 7 DAY
           GROUP BY 1"""
    )
    by_plan = {plan: (users, buyers) for plan, users, buyers in rows}
    assert all(buyers < users for users, buyers in by_plan.values())
    assert by_plan["business"][1] / by_plan["business"][0] > by_plan["free"][1] / by_plan["free"][0]


def test_profiles_and_companies_agree_with_events(demo_store: DuckDBStore) -> None:
    q = demo_store.query_rows
    # an upgrade shows in the profile's plan and never downgrades
    upgraded = q(
        """SELECT e.properties->>'to_plan', p.properties->>'plan' FROM events e
           JOIN profiles p ON p.distinct_id = e.user_id WHERE e.event = 'Upgrade Plan'"""
    )
    assert upgraded and all(to == now for to, now in upgraded)
    orphans = q(
        """SELECT count(*) FROM events e LEFT JOIN groups g
             ON g.group_key = 'company_id' AND g.group_id = e.properties->>'company_id'
           WHERE e.user_id IS NOT NULL AND g.group_id IS NULL"""
    )[0][0]
    assert orphans == 0
    spent = q("""SELECT sum((properties->>'amount')::INT) FROM events WHERE event = 'Purchase'""")[
        0
    ][0]
    assert spent == q("SELECT sum((properties->>'lifetime_value')::INT) FROM profiles")[0][0]
    plans = dict(q("SELECT properties->>'plan', count(*) FROM profiles GROUP BY 1"))
    assert plans["free"] > plans["team"] > plans["enterprise"]
    company = json.loads(q("SELECT properties FROM groups LIMIT 1")[0][0])
    assert company["employees"] >= company["users"] >= 1


def test_profile_created_is_the_sign_up_time(demo_store: DuckDBStore) -> None:
    rows = demo_store.query_rows(
        """SELECT count(*), count(*) FILTER (
                  WHERE strftime(e.time, '%Y-%m-%dT%H:%M:%S') = p.properties->>'$."$created"')
           FROM events e JOIN profiles p ON p.distinct_id = e.user_id
           WHERE e.event = 'Sign Up'"""
    )
    total, same = rows[0]
    assert total > 1000 and same == total
