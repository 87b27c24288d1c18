"""The demo product's vocabulary: plans, countries, browsers, campaigns, features, SKUs.

Everything the generator draws from is declared here as data, with the weights and rates
that give the dataset its shape (who signs up, who stays, who invites, who pays). The
generator itself holds no magic numbers about the product.

Every string below ends up inside JSON built by concatenation, so none may contain a
double quote or a backslash (``tests/demo`` checks that every row parses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SITE = "https://www.example.com"
APP = "https://app.example.com"


@dataclass(frozen=True)
class Plan:
    name: str
    signup_weight: float  # share of companies that start on the plan (small companies)
    monthly_price: int
    core_odds: float  # multiplies the odds that a user becomes a lasting ("core") user
    feature_rate: float  # feature events per session, relative
    invite_rate: float  # chance per session of sending invites
    upgrade_rate: float  # chance per session of upgrading to the next plan
    purchase_rate: float  # chance per session of buying an add-on


PLANS = (
    Plan("free", 0.70, 0, 0.55, 0.8, 0.035, 0.010, 0.004),
    Plan("team", 0.20, 49, 1.0, 1.0, 0.090, 0.006, 0.016),
    Plan("business", 0.08, 199, 1.5, 1.2, 0.120, 0.003, 0.026),
    Plan("enterprise", 0.02, 999, 2.0, 1.3, 0.140, 0.0, 0.040),
)
PLAN_NAMES = tuple(p.name for p in PLANS)


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    weight: float
    utc_offset: int  # hours, typical for the country's users
    retention: float  # multiplies the odds of becoming a core user
    cities: tuple[tuple[str, str], ...]  # (city, region)


COUNTRIES = (
    Country(
        "US",
        "United States",
        0.30,
        -6,
        1.1,
        (
            ("San Francisco", "California"),
            ("New York", "New York"),
            ("Austin", "Texas"),
            ("Seattle", "Washington"),
            ("Chicago", "Illinois"),
            ("Boston", "Massachusetts"),
        ),
    ),
    Country(
        "GB",
        "United Kingdom",
        0.09,
        0,
        1.0,
        (("London", "England"), ("Manchester", "England"), ("Edinburgh", "Scotland")),
    ),
    Country(
        "DE",
        "Germany",
        0.08,
        1,
        1.25,
        (("Berlin", "Berlin"), ("Munich", "Bavaria"), ("Hamburg", "Hamburg")),
    ),
    Country("FR", "France", 0.06, 1, 0.95, (("Paris", "Île-de-France"), ("Lyon", "Rhône"))),
    Country(
        "IN",
        "India",
        0.12,
        5,
        0.6,
        (("Bengaluru", "Karnataka"), ("Mumbai", "Maharashtra"), ("Delhi", "Delhi")),
    ),
    Country(
        "BR",
        "Brazil",
        0.07,
        -3,
        0.7,
        (("São Paulo", "São Paulo"), ("Rio de Janeiro", "Rio de Janeiro")),
    ),
    Country(
        "CA", "Canada", 0.05, -5, 1.05, (("Toronto", "Ontario"), ("Vancouver", "British Columbia"))
    ),
    Country("JP", "Japan", 0.05, 9, 1.15, (("Tokyo", "Tokyo"), ("Osaka", "Osaka"))),
    Country(
        "AU", "Australia", 0.04, 10, 1.0, (("Sydney", "New South Wales"), ("Melbourne", "Victoria"))
    ),
    Country("NL", "Netherlands", 0.04, 1, 1.2, (("Amsterdam", "North Holland"),)),
    Country("ES", "Spain", 0.04, 1, 0.85, (("Madrid", "Madrid"), ("Barcelona", "Catalonia"))),
    Country("SG", "Singapore", 0.03, 8, 1.0, (("Singapore", "Singapore"),)),
    Country("NG", "Nigeria", 0.03, 1, 0.55, (("Lagos", "Lagos"),)),
)

#: (browser, os, mobile?, weight among that kind of device)
BROWSERS = (
    ("Chrome", "Windows", False, 0.34),
    ("Chrome", "Mac OS X", False, 0.22),
    ("Safari", "Mac OS X", False, 0.15),
    ("Edge", "Windows", False, 0.11),
    ("Firefox", "Windows", False, 0.06),
    ("Firefox", "Linux", False, 0.04),
    ("Chrome", "Linux", False, 0.04),
    ("Chrome", "Chrome OS", False, 0.04),
    ("Mobile Safari", "iOS", True, 0.55),
    ("Chrome", "Android", True, 0.38),
    ("Samsung Internet", "Android", True, 0.07),
)

#: First-touch attribution: (utm_source, utm_medium, utm_campaign, weight); "" = absent.
#: The last entry is a launch campaign that only runs for a few days (see ``LAUNCH``).
CAMPAIGNS = (
    ("", "", "", 0.30),
    ("google", "organic", "", 0.20),
    ("google", "cpc", "brand_search", 0.14),
    ("linkedin", "paid_social", "q3_abm", 0.08),
    ("twitter", "social", "founder_thread", 0.06),
    ("newsletter", "email", "weekly_digest", 0.08),
    ("g2", "referral", "reviews", 0.06),
    ("partner", "referral", "agency_program", 0.08),
    ("producthunt", "referral", "launch_week", 0.0),
)
LAUNCH_CAMPAIGN = len(CAMPAIGNS) - 1
#: The launch: days before the end of the data, and the sign-up multiplier on each day.
LAUNCH = {35: 2.6, 34: 1.9, 33: 1.4}
#: Share of sign-ups on a launch day that came from the launch campaign.
LAUNCH_SHARE = 0.6

#: Relative activity by weekday, Monday first: sign-ups and sessions.
SIGNUP_WEEKDAY = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.45, 0.4])
SESSION_WEEKDAY = np.array([1.0, 1.0, 1.0, 0.95, 0.85, 0.3, 0.25])
#: Daily growth of sign-ups (0.4 % a day is about +45 % over 90 days).
GROWTH_PER_DAY = 0.004

PAGES = (
    "/",
    "/pricing",
    "/features",
    "/customers",
    "/blog/product-analytics-101",
    "/docs/quickstart",
    "/signup",
    "/login",
)
PAGE_WEIGHTS = np.array([0.34, 0.2, 0.14, 0.06, 0.1, 0.08, 0.08, 0.0])
LOGIN_PAGE = PAGES.index("/login")

#: Feature events of a signed-in session, with each plan's mix (rows follow ``PLANS``).
FEATURES = (
    "View Dashboard",
    "View Report",
    "Create Report",
    "Search",
    "Export Data",
    "Create Dashboard",
    "Share Report",
)
FEATURE_MIX = np.array(
    [
        [0.40, 0.24, 0.12, 0.14, 0.03, 0.05, 0.02],
        [0.34, 0.22, 0.13, 0.13, 0.06, 0.06, 0.06],
        [0.30, 0.21, 0.14, 0.12, 0.10, 0.06, 0.07],
        [0.28, 0.20, 0.14, 0.12, 0.13, 0.06, 0.07],
    ]
)

#: Event-specific properties: for each event, the JSON fragments to draw from and weights.
DETAILS: dict[str, tuple[tuple[str, float], ...]] = {
    "Sign Up": (
        ('"signup_method":"email"', 0.45),
        ('"signup_method":"google"', 0.38),
        ('"signup_method":"github"', 0.1),
        ('"signup_method":"microsoft"', 0.07),
    ),
    "Log In": (
        ('"login_method":"password"', 0.5),
        ('"login_method":"google"', 0.4),
        ('"login_method":"sso"', 0.1),
    ),
    "View Dashboard": tuple(
        (f'"dashboard":"{d}"', w)
        for d, w in (
            ("Weekly KPIs", 0.3),
            ("Revenue", 0.2),
            ("Growth", 0.2),
            ("Marketing", 0.15),
            ("Support", 0.15),
        )
    ),
    "View Report": tuple(
        (f'"report_type":"{r}"', w)
        for r, w in (("segmentation", 0.45), ("funnel", 0.3), ("retention", 0.2), ("flows", 0.05))
    ),
    "Create Report": tuple(
        (f'"report_type":"{r}"', w)
        for r, w in (("segmentation", 0.5), ("funnel", 0.28), ("retention", 0.17), ("flows", 0.05))
    ),
    "Search": tuple(
        (f'"search_scope":"{s}"', w)
        for s, w in (("reports", 0.5), ("dashboards", 0.3), ("events", 0.2))
    ),
    "Export Data": tuple(
        (f'"format":"{f}","rows":{n}', 0.25 * w)
        for f, w in (("csv", 0.55), ("xlsx", 0.25), ("json", 0.12), ("pdf", 0.08))
        for n in (120, 1500, 25000, 400000)
    ),
    "Create Dashboard": tuple(
        (f'"template":"{t}"', w)
        for t, w in (("blank", 0.4), ("product", 0.25), ("marketing", 0.2), ("sales", 0.15))
    ),
    "Share Report": tuple(
        (f'"channel":"{c}"', w) for c, w in (("slack", 0.5), ("email", 0.35), ("link", 0.15))
    ),
    "Invite Sent": tuple(
        (f'"invitee_role":"{r}"', w) for r, w in (("member", 0.7), ("viewer", 0.2), ("admin", 0.1))
    ),
}


@dataclass(frozen=True)
class Sku:
    id: str
    name: str
    category: str
    price: int


SKUS = (
    Sku("SEAT-5", "5 extra seats", "Seats", 45),
    Sku("SEAT-25", "25 extra seats", "Seats", 199),
    Sku("STOR-100G", "100 GB storage", "Storage", 19),
    Sku("STOR-1T", "1 TB storage", "Storage", 129),
    Sku("API-10K", "10k API calls", "API Credits", 29),
    Sku("API-100K", "100k API calls", "API Credits", 199),
    Sku("SUP-PRIO", "Priority support", "Support", 99),
    Sku("SUP-CSM", "Dedicated success manager", "Support", 499),
    Sku("TRN-WEB", "Onboarding webinar", "Training", 49),
    Sku("TRN-WORK", "Team workshop", "Training", 349),
    Sku("TPL-PACK", "Report template pack", "Templates", 19),
    Sku("TPL-IND", "Industry template pack", "Templates", 59),
)
#: What each plan buys (rows follow ``PLANS``, columns ``SKUS``).
SKU_MIX = np.array(
    [
        [0.02, 0.0, 0.16, 0.02, 0.2, 0.02, 0.02, 0.0, 0.12, 0.0, 0.32, 0.12],
        [0.16, 0.02, 0.1, 0.04, 0.14, 0.04, 0.08, 0.0, 0.12, 0.04, 0.16, 0.1],
        [0.16, 0.08, 0.06, 0.08, 0.1, 0.1, 0.12, 0.04, 0.06, 0.08, 0.06, 0.06],
        [0.1, 0.16, 0.02, 0.1, 0.04, 0.16, 0.1, 0.14, 0.02, 0.12, 0.02, 0.02],
    ]
)
QUANTITY_WEIGHTS = np.array([0.76, 0.16, 0.08])  # quantity 1, 2, 3

INDUSTRIES = (
    "Software",
    "Fintech",
    "E-commerce",
    "Healthcare",
    "Education",
    "Media",
    "Logistics",
    "Manufacturing",
    "Travel",
    "Gaming",
)
COMPANY_WORDS = tuple(
    [
        "Acme",
        "Bright",
        "Cobalt",
        "Delta",
        "Ember",
        "Fable",
        "Granite",
        "Harbor",
        "Indigo",
        "Juniper",
        "Kestrel",
        "Lumen",
        "Meridian",
        "Nimbus",
        "Orchid",
        "Pioneer",
        "Quartz",
        "Redwood",
        "Summit",
        "Tidal",
        "Umber",
        "Vertex",
        "Willow",
        "Zephyr",
        "Aurora",
        "Beacon",
        "Cascade",
        "Drift",
        "Everest",
        "Falcon",
        "Glacier",
        "Horizon",
        "Ionic",
        "Jade",
        "Kinetic",
        "Lattice",
    ]
)
COMPANY_SUFFIXES = (
    "Labs",
    "Systems",
    "Analytics",
    "Software",
    "Health",
    "Commerce",
    "Media",
    "Logistics",
    "Works",
    "Group",
    "Studio",
    "Cloud",
)
FIRST_NAMES = tuple(
    [
        "Ada",
        "Alan",
        "Amara",
        "Ana",
        "Arjun",
        "Ben",
        "Carla",
        "Chen",
        "Chloe",
        "Daniel",
        "Diego",
        "Elena",
        "Emma",
        "Fatima",
        "Felix",
        "Grace",
        "Hana",
        "Hugo",
        "Ines",
        "Isaac",
        "Jonas",
        "Julia",
        "Kai",
        "Kenji",
        "Lara",
        "Leo",
        "Lucas",
        "Maya",
        "Mei",
        "Mohammed",
        "Nadia",
        "Noah",
        "Olivia",
        "Omar",
        "Priya",
        "Rafael",
        "Sara",
        "Sofia",
        "Tariq",
        "Yuki",
    ]
)
LAST_NAMES = tuple(
    [
        "Adeyemi",
        "Alvarez",
        "Andersen",
        "Bauer",
        "Chen",
        "Costa",
        "Dubois",
        "Evans",
        "Fischer",
        "Garcia",
        "Gupta",
        "Haddad",
        "Ito",
        "Jensen",
        "Kim",
        "Kowalski",
        "Laurent",
        "Lopez",
        "Martin",
        "Meyer",
        "Mueller",
        "Nakamura",
        "Novak",
        "Okafor",
        "Patel",
        "Rossi",
        "Santos",
        "Schmidt",
        "Silva",
        "Singh",
        "Smith",
        "Tanaka",
        "Taylor",
        "Wagner",
        "Walker",
        "Wang",
        "Weber",
        "Williams",
        "Yamamoto",
        "Zhang",
    ]
)
