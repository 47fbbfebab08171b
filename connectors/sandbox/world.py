"""A deterministic synthetic world behind the sandbox APIs.

One seed and a few scale knobs produce people, campaigns, web sessions, email sends with
per-recipient activity, X and Facebook posts with their interactions, and CRM contacts. The
world is messy the way real data is: emails differ in case and spacing between systems, people
live in some systems only, web traffic is mostly anonymous, social accounts exist that the CRM
never heard of, opens and likes arrive days late (some one to three weeks after the send or post,
longer than a daily run's lookback), and campaign names are spelled differently
per channel (some only an alias seed can reconcile).

Every event carries a UTC timestamp, including likes and reactions whose APIs never reveal
one: the sandbox uses it to answer "as of" its clock, so lifetime counters grow between daily
snapshots just as they do on the real platforms.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from zoneinfo import ZoneInfo

UTC = timezone.utc

CAMPAIGN_KEYS = [
    "spring_sale",
    "black_friday",
    "winter_webinar",
    "product_launch",
    "loyalty_club",
    "holiday_gift_guide",
    "referral_bonus",
    "summer_clearance",
]
# Spellings no trim/lower-case can reconcile: the project's alias seed maps them onto keys.
CAMPAIGN_ALIASES = {"bf26": "black_friday", "black-friday": "black_friday", "webinar_winter": "winter_webinar"}
GA4_PLACEHOLDERS = ["(direct)", "(organic)", "(referral)", "(not set)"]
FIRST_NAMES = ["dana", "lee", "sam", "alex", "kim", "noor", "ivo", "mara", "jon", "ana", "raj", "eva", "tom", "zoe"]
LAST_NAMES = ["kovac", "meyer", "smith", "ng", "okafor", "silva", "berg", "rossi", "khan", "dubois", "lind"]
DOMAINS = ["example.org", "example.net", "mail.example", "shop.example"]
REACTION_TYPES = ["LIKE", "LIKE", "LIKE", "LOVE", "WOW", "HAHA", "CARE"]

X_ACCOUNT_ID = "1450000000000000001"
X_ACCOUNT_USERNAME = "ExampleShop"
FACEBOOK_PAGE_ID = "104233112233445"
GA4_PROPERTY_ID = "123456789"
LINKEDIN_ORGANIZATION_ID = "2414183"
# ids of the CRM's duplicate contacts, above every ordinary contact's (5100 + pid) at any scale
DUPLICATE_CONTACT_IDS = 90_000_000
LINKEDIN_REACTION_TYPES = ["LIKE", "LIKE", "LIKE", "PRAISE", "EMPATHY", "INTEREST", "APPRECIATION", "ENTERTAINMENT"]
GA4_TIME_ZONE = "Europe/Berlin"
MAILCHIMP_DC = "us21"
LANDING = "https://shop.example"
# engagement that trails a post or a send by longer than a daily run's lookback (7 days)
LATE_SOCIAL_SHARE = 0.12
LATE_OPEN_SHARE = 0.08
APPLE_MAIL_SHARE = 0.4  # people reading mail in Apple Mail with Mail Privacy Protection on


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 7
    people: int = 1000
    days: int = 28
    campaigns: int = 6
    posts_per_campaign: int = 3
    start: date = date(2026, 10, 1)

    @classmethod
    def at_scale(cls, scale: float, seed: int = 7, **kw) -> WorldConfig:
        return cls(seed=seed, people=max(20, int(1000 * scale)), **kw)


@dataclass
class Person:
    pid: int
    email: str  # canonical: trimmed, lower-case
    first: str
    last: str
    site_user_id: str | None
    x_user_id: str | None
    x_username: str | None
    fb_user_id: str | None
    email_propensity: float  # share of sends this person opens


@dataclass
class Campaign:
    key: str
    title: str
    start: date
    end: date  # exclusive
    ga4_spelling: str
    mailchimp_spelling: str
    social_spelling: str


@dataclass
class WebSession:
    date: date  # in the property's time zone
    campaign: str  # as GA4 reports sessionCampaignName
    pseudo_id: str
    site_user_id: str | None
    returning: bool
    page_views: int
    duration_seconds: int
    engagement_seconds: int
    key_event: bool
    # added with the experiments (defaults keep the sessions drawn before them as they were)
    ad_content: str | None = None  # utm_content of the landing link, as GA4 reports sessionManualAdContent
    transactions: int = 0  # a purchase is the session's key event
    purchase_revenue: float = 0.0

    @property
    def engaged(self) -> bool:
        return self.duration_seconds > 10 or self.page_views >= 2 or self.key_event

    @property
    def key_events(self) -> int:
        return int(self.key_event)


@dataclass
class MailList:
    id: str
    name: str
    members: list[dict] = field(default_factory=list)


@dataclass
class EmailActivity:
    email: str  # as Mailchimp stores it
    action: str  # open | click | bounce
    ts: datetime
    url: str | None = None
    bounce_type: str | None = None


@dataclass
class EmailSend:
    id: str
    web_id: int
    campaign_key: str | None
    tracking: str  # tracking.google_analytics
    list_id: str
    title: str
    subject: str
    create_time: datetime
    send_time: datetime
    recipients: list[str]  # emails as Mailchimp stores them
    activity: list[EmailActivity]  # people's own (human) opens, clicks and bounces
    unsubscribed: int
    variate: bool = False
    # Apple Mail Privacy Protection: its proxy fetches the images of every delivered email once (a machine open)
    machine_opens: list[EmailActivity] = field(default_factory=list)
    # experiments; None for an ordinary send
    absplit: AbSplit | None = None
    variate_design: VariateDesign | None = None


@dataclass
class SocialEvent:
    user_id: str
    ts: datetime
    kind: str  # like | repost | quote | reply | mention | reaction | comment | share
    event_id: str | None = None
    text: str | None = None
    reaction: str | None = None
    from_visible: bool = True


@dataclass
class Post:
    platform: str  # x | facebook | linkedin
    id: str
    created_at: datetime
    text: str
    link: str | None
    campaign_key: str | None
    events: list[SocialEvent]
    impressions_per_interaction: int

    def events_of(self, kind: str, now: datetime) -> list[SocialEvent]:
        return [e for e in self.events if e.kind == kind and e.ts <= now]

    def reach(self, now: datetime) -> int:
        """How often the post was seen by `now`: a fact of the world, which X reports as impressions and
        Meta as views; it grows with the interactions (X counts a base audience before any)."""
        if self.platform == "x":
            seen = sum(len(self.events_of(k, now)) for k in ("like", "repost", "reply", "quote")) + 1
        else:
            seen = sum(1 for e in self.events if e.ts <= now)
        return seen * self.impressions_per_interaction


@dataclass
class CrmContact:
    id: str
    email: str | None  # as typed into the CRM
    firstname: str
    lastname: str
    site_user_id: str | None
    twitterhandle: str | None
    facebook_user_id: str | None
    created: datetime
    modified: datetime
    holdout: str | None = None  # the holdout property as stored: campaign keys separated by ';', or 'all'


# --- experiments: their designs and true effects, in one place --------------------------------
OUTCOME_WINDOW_DAYS = 7  # web outcomes count from the first send or exposure through 6 days later


@dataclass(frozen=True)
class AbSplitPlan:
    """A Mailchimp A/B split campaign (`type: absplit`): groups a and b, `split_size` percent of the
    recipients each, get the two versions; `wait_hours` later the winning version goes to everyone
    else (group `winner`, no arm of the experiment)."""

    label: str
    campaign_key: str
    day: int  # days after the world's start; sent at 07:00 UTC
    list_name: str
    split_size: int  # percent of the recipients in each test group (Mailchimp allows 1-50)
    subjects: tuple[str, str]
    open_rate: tuple[float, float]  # true chance that a recipient of group a / b opens
    click_rate: tuple[float, float]  # true chance that a recipient of group a / b clicks (a clicker opened)
    pick_winner: str = "opens"
    wait_hours: int = 4


@dataclass(frozen=True)
class VariatePlan:
    """A Mailchimp variate (multivariate) content test. The API never says which combination a
    recipient got; each content's links carry their own utm_content, which is how clicks and GA4
    sessions tell the combinations apart."""

    campaign_key: str
    day: int  # sent at 07:30 UTC
    list_name: str
    test_size: int  # percent of the recipients in the test (100: no winner send afterwards)
    contents: tuple[str, ...]  # content descriptions, one combination per content
    utm_contents: tuple[str, ...]
    open_rate: float  # the same subject for every combination
    click_rate: tuple[float, ...]  # true chance that a recipient of each combination clicks
    winner_criteria: str = "clicks"
    wait_minutes: int = 240


@dataclass(frozen=True)
class HoldoutPlan:
    """Contacts held out of one campaign through the CRM holdout property; the campaign's list is the
    population. Held-out members come from the members no other send of the campaign reaches."""

    campaign_key: str
    day: int  # the campaign's first send, 07:00 UTC
    list_name: str
    held_out_share: float  # of the eligible list members with a CRM contact
    universal: int  # of them holding `all` (a universal holdout) instead of the campaign key
    sent_anyway: int  # held-out contacts the send reached all the same (units in two arms)
    duplicate_contacts: int  # held-out CRM duplicates (same email) of treated members (one person, two arms)
    visit_rate: float  # treated: chance of an extra engaged visit within the outcome window
    key_event_rate: float  # chance that such a visit has a key event
    purchase_rate: float  # chance that the key event is a purchase
    revenue: tuple[float, float]  # a purchase's revenue, uniform in this range


@dataclass(frozen=True)
class WebExperimentPlan:
    """A site experiment reported through GA4's `experience_impression` event; `exp_variant_string` is
    `<experiment id>-<variant id>`, the experiment id itself `<tool>-<experience>` as GA4's
    integration guide recommends."""

    experiment_id: str
    variants: tuple[str, ...]  # the first is the control
    first_day: int  # exposures on identified visitors' session days in [first_day, last_day]
    last_day: int
    exposure_share: float  # of identified visitors with a session in those days
    purchase_rate: tuple[float, ...]  # per variant: chance of a purchase visit within the outcome window
    revenue: tuple[float, float]
    both_variants: int  # visitors who later see the other variant too (units in two arms)
    anonymous_share: float  # of anonymous sessions in those days with an impression


@dataclass(frozen=True)
class ExperimentPlans:
    ab_splits: tuple[AbSplitPlan, ...]
    variate: VariatePlan
    subject_variate_test_size: int  # the base world's subject-line variate send: percent in its test
    holdout: HoldoutPlan
    web: WebExperimentPlan
    purchase_share: float  # of the base world's key-event sessions that are purchases
    purchase_revenue: tuple[float, float]


EXPERIMENTS = ExperimentPlans(
    ab_splits=(
        AbSplitPlan("ab_effect", "product_launch", 16, "Newsletter", 40, ("The launch is here", "You are first in line"),
                    open_rate=(0.25, 0.40), click_rate=(0.05, 0.12)),
        AbSplitPlan("ab_a_a", "winter_webinar", 19, "Newsletter", 25, ("Save your webinar seat", "Save your webinar seat"),
                    open_rate=(0.30, 0.30), click_rate=(0.08, 0.08)),
    ),
    variate=VariatePlan("holiday_gift_guide", 15, "Newsletter", 100, ("Hero image", "Gift list", "Video tour"),
                        ("gg_hero", "gg_list", "gg_video"), open_rate=0.30, click_rate=(0.06, 0.06, 0.16)),
    subject_variate_test_size=50,
    holdout=HoldoutPlan("loyalty_club", 14, "Customers", held_out_share=0.6, universal=3, sent_anyway=2,
                        duplicate_contacts=1, visit_rate=0.8, key_event_rate=0.4, purchase_rate=0.6, revenue=(25, 200)),
    web=WebExperimentPlan("SBX-checkout26", ("control", "express"), first_day=6, last_day=18, exposure_share=0.5,
                          purchase_rate=(0.05, 0.25), revenue=(30, 150), both_variants=3, anonymous_share=0.2),
    purchase_share=0.4,
    purchase_revenue=(20, 160),
)


@dataclass
class AbSplit:
    """What an A/B split send did: each recipient's group (the API's `absplit_group`) and the winner."""

    plan: AbSplitPlan
    groups: dict[str, str]  # recipient, as Mailchimp stores the email -> a | b | winner
    winner: str  # the test group whose version the rest received
    winner_send_time: datetime
    unsubscribers: frozenset[str]


@dataclass(frozen=True)
class VariateCombination:
    id: str
    subject_line: int  # indexes into VariateDesign.subject_lines
    content: int  # indexes into VariateDesign.contents


@dataclass
class VariateDesign:
    """A variate send's settings and what only the world knows: which combination each test recipient got."""

    test_size: int
    wait_minutes: int
    winner_criteria: str
    subject_lines: list[str]
    contents: list[str]
    utm_contents: list[str | None]  # per content: the utm_content of its links (None: links carry none)
    combinations: list[VariateCombination]
    assignment: dict[str, int]  # test recipient -> combination index; never on the wire
    remainder: list[str]  # recipients of the winning version, sent after the test by the winning campaign
    winning_combination: int
    winning_campaign_id: str  # "" when nobody remained after the test


@dataclass(frozen=True)
class ExperienceImpression:
    """`experience_impression` events of one visitor on one property-local day."""

    date: date
    pseudo_id: str
    site_user_id: str | None
    exp_variant_string: str
    count: int


def _ts(d: date, seconds: float = 0) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(seconds=seconds)


def _member_id(rng: random.Random) -> str:
    """LinkedIn member ids are opaque strings like `yTqe8jZ3c2`."""
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(10))


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def utm_link(path: str, source: str, medium: str, campaign: str) -> str:
    return f"{LANDING}/{path}?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"


class World:
    def __init__(self, config: WorldConfig | None = None):
        self.config = config or WorldConfig()
        self.rng = random.Random(self.config.seed)
        self.start = self.config.start
        self.end = self.start + timedelta(days=self.config.days)  # exclusive
        self.default_now = _ts(self.end, 4 * 86400)  # late opens and likes have arrived
        # late engagement draws from its own stream, so adding it moved nothing else in the world
        self.late_rng = random.Random(self.config.seed * 7919 + 1)
        self._make_people()
        self._make_campaigns()
        self._make_sessions()
        self._make_email()
        self._make_social()
        self._make_crm()
        self._make_experiments()
        self._make_linkedin()
        self._make_facebook_tags()
        # machine opens draw from their own stream, after everything else: adding them moved nothing
        self.proxy_rng = random.Random(self.config.seed * 104729 + 3)
        self._make_machine_opens()

    # --- people -----------------------------------------------------------------------
    def _make_people(self) -> None:
        rng = self.rng
        self.people: list[Person] = []
        for i in range(self.config.people):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            has_x, has_fb = rng.random() < 0.3, rng.random() < 0.3
            self.people.append(Person(
                pid=i,
                email=f"{first}.{last}{i}@{rng.choice(DOMAINS)}",
                first=first,
                last=last,
                site_user_id=f"u{i:06d}" if rng.random() < 0.6 else None,
                x_user_id=str(1600000000000000000 + i * 7919) if has_x else None,
                x_username=f"{first.title()}{last.title()}{i}" if has_x else None,
                fb_user_id=str(7000000000000000 + i * 104729) if has_fb else None,
                email_propensity=rng.choice([0.0, 0.0, 0.2, 0.5, 0.74, 0.75, 0.76, 0.9, 1.0]),
            ))
        # social accounts that belong to nobody the company knows
        n_strangers = max(5, self.config.people // 5)
        self.x_strangers = [(str(1700000000000000000 + i * 31), f"stranger_{i}") for i in range(n_strangers)]
        self.fb_strangers = [(str(8000000000000000 + i * 37), f"Visitor {i}") for i in range(n_strangers)]

    @cached_property
    def x_accounts(self) -> list[tuple[str, str]]:
        return [(p.x_user_id, p.x_username) for p in self.people if p.x_user_id] + self.x_strangers

    @cached_property
    def x_usernames(self) -> dict[str, str]:
        return dict(self.x_accounts)

    @cached_property
    def fb_accounts(self) -> list[tuple[str, str]]:
        return [(p.fb_user_id, f"{p.first.title()} {p.last.title()}") for p in self.people if p.fb_user_id] + self.fb_strangers

    @cached_property
    def fb_names(self) -> dict[str, str]:
        return dict(self.fb_accounts)

    # --- campaigns --------------------------------------------------------------------
    def _make_campaigns(self) -> None:
        rng = self.rng
        n = min(self.config.campaigns, len(CAMPAIGN_KEYS))
        span = max(1, self.config.days - 7)
        self.campaigns: list[Campaign] = []
        aliases_by_key = {}
        for alias, key in CAMPAIGN_ALIASES.items():
            aliases_by_key.setdefault(key, []).append(alias)
        for i, key in enumerate(CAMPAIGN_KEYS[:n]):
            start = self.start + timedelta(days=(i * span) // n)
            aliases = aliases_by_key.get(key, [])
            ga4 = "Black-Friday" if key == "black_friday" else key.title()
            social = "BF26" if key == "black_friday" else key.upper()
            mailchimp = f" {key} " if i % 2 else key
            if key == "winter_webinar":
                mailchimp = "Webinar_Winter"
            assert all(s.strip().lower() in aliases + [key] for s in (ga4, social, mailchimp))
            self.campaigns.append(Campaign(
                key=key, title=key.replace("_", " ").title(), start=start,
                end=min(self.end, start + timedelta(days=rng.randint(7, 12))),
                ga4_spelling=ga4, mailchimp_spelling=mailchimp, social_spelling=social,
            ))

    def campaign_on(self, d: date) -> list[Campaign]:
        return [c for c in self.campaigns if c.start <= d < c.end]

    # --- web --------------------------------------------------------------------------
    def _make_sessions(self) -> None:
        rng = self.rng
        self.sessions: list[WebSession] = []
        identified = [p for p in self.people if p.site_user_id]
        seen_visitors: set[str] = set()
        anon_pool = [f"{rng.randrange(10**9, 10**10)}.{1790000000 + i}" for i in range(max(50, self.config.people * 2))]
        per_day = max(10, self.config.people // 4)
        for day in range(self.config.days):
            d = self.start + timedelta(days=day)
            active = self.campaign_on(d)
            for _ in range(per_day):
                if identified and rng.random() < 0.3:
                    person = rng.choice(identified)
                    pseudo, uid = f"p{person.pid}.1790000000", person.site_user_id
                else:
                    pseudo, uid = rng.choice(anon_pool), None
                if active and rng.random() < 0.6:
                    c = rng.choice(active)
                    spelling = c.ga4_spelling if rng.random() < 0.8 else c.key
                else:
                    spelling = rng.choice(GA4_PLACEHOLDERS)
                page_views = min(12, int(rng.expovariate(0.7)) + 1)
                duration = rng.choice([0, 3, 9, 10, 11, 30, 95, 240]) if rng.random() < 0.5 else int(rng.expovariate(1 / 60))
                self.sessions.append(WebSession(
                    date=d, campaign=spelling, pseudo_id=pseudo, site_user_id=uid,
                    returning=pseudo in seen_visitors, page_views=page_views,
                    duration_seconds=duration, engagement_seconds=int(duration * rng.uniform(0.5, 1.0)),
                    key_event=rng.random() < 0.03,
                ))
                seen_visitors.add(pseudo)

    # --- email ------------------------------------------------------------------------
    def _make_email(self) -> None:
        rng = self.rng
        self.lists = [MailList(id="a1b2c3d4e5", name="Newsletter"), MailList(id="f6e7d8c9b0", name="Customers")]
        self.mailchimp_email: dict[int, str] = {}
        for p in self.people:
            stored = p.email if rng.random() < 0.7 else p.email[0].upper() + p.email[1:]
            self.mailchimp_email[p.pid] = stored
            for lst in self.lists:
                if rng.random() < (0.65 if lst.name == "Newsletter" else 0.35):
                    status = rng.choices(["subscribed", "unsubscribed", "cleaned"], [0.9, 0.07, 0.03])[0]
                    opt = _ts(self.start, -rng.randint(1, 400) * 86400)
                    changed = max(opt, _ts(self.start, rng.randint(-200, self.config.days) * 86400 + rng.randint(0, 86399)))
                    lst.members.append({
                        "pid": p.pid, "email": stored, "status": status, "timestamp_opt": opt,
                        "last_changed": changed, "unique_email_id": subscriber_hash(stored)[:10],
                    })
        self.sends: list[EmailSend] = []
        by_pid = {p.pid: p for p in self.people}
        n = 0
        plan: list[tuple[Campaign | None, date, MailList, bool]] = []
        newsletter, customers = self.lists
        for week in range(0, self.config.days, 7):  # the recurring weekly newsletter has no campaign key
            plan.append((None, self.start + timedelta(days=week + 1), newsletter, False))
        for i, c in enumerate(self.campaigns):
            plan.append((c, c.start, customers if i % 2 else newsletter, i == 1))
            if (c.end - c.start).days > 8:
                plan.append((c, c.start + timedelta(days=5), newsletter, False))
        for c, d, lst, variate in sorted(plan, key=lambda t: (t[1], t[0].key if t[0] else "")):
            n += 1
            send_time = _ts(d, 8 * 3600 + n * 60)
            recipients = [m for m in lst.members if m["status"] == "subscribed" or m["last_changed"] > send_time]
            activity: list[EmailActivity] = []
            link = utm_link(f"c/{c.key}" if c else "news", "newsletter", "email", c.mailchimp_spelling.strip() if c else "")
            for m in recipients:
                person = by_pid[m["pid"]]
                if rng.random() < 0.03:
                    activity.append(EmailActivity(m["email"], "bounce", send_time + timedelta(seconds=rng.randint(5, 600)),
                                                  bounce_type=rng.choice(["hard", "soft"])))
                    continue
                if rng.random() < person.email_propensity:
                    first_open = send_time + timedelta(hours=min(rng.expovariate(1 / 14), 140))
                    if self.late_rng.random() < LATE_OPEN_SHARE:  # opened one to three weeks after the send
                        first_open = send_time + timedelta(days=self.late_rng.uniform(7, 21))
                    for k in range(rng.choice([1, 1, 2, 3])):
                        activity.append(EmailActivity(m["email"], "open", first_open + timedelta(hours=k * rng.uniform(1, 30))))
                    if rng.random() < 0.35:
                        activity.append(EmailActivity(m["email"], "click", first_open + timedelta(minutes=rng.randint(1, 90)), url=link))
            tracking = c.mailchimp_spelling if c else ""
            self.sends.append(EmailSend(
                id=hashlib.sha1(f"send{self.config.seed}-{n}".encode()).hexdigest()[:10],
                web_id=100000 + n, campaign_key=c.key if c else None, tracking=tracking, list_id=lst.id,
                title=f"{c.title if c else 'Weekly Newsletter'} #{n}", subject=f"{c.title if c else 'This week'}",
                create_time=send_time - timedelta(days=2), send_time=send_time,
                recipients=[m["email"] for m in recipients], activity=activity,
                unsubscribed=sum(1 for _ in recipients if rng.random() < 0.01), variate=variate,
            ))

    # --- social -----------------------------------------------------------------------
    def _make_social(self) -> None:
        rng = self.rng
        self.x_posts: list[Post] = []
        self.fb_posts: list[Post] = []
        self.x_mentions: list[dict] = []
        x_seq, fb_seq = 0, 0
        for platform in ("x", "facebook"):
            accounts = self.x_accounts if platform == "x" else self.fb_accounts
            topics: list[tuple[Campaign | None, date]] = []
            for c in self.campaigns:
                for k in range(self.config.posts_per_campaign):
                    topics.append((c, c.start + timedelta(days=min(k * 2, (c.end - c.start).days - 1))))
            for day in range(0, self.config.days, 5):
                topics.append((None, self.start + timedelta(days=day)))
            topics.sort(key=lambda t: (t[1], t[0].key if t[0] else ""))
            for j, (c, d) in enumerate(topics):
                created = _ts(d, rng.randint(7 * 3600, 20 * 3600))
                link = utm_link(f"c/{c.key}", platform, "social", c.social_spelling) if c else None
                viral = platform == "x" and j == 1
                events: list[SocialEvent] = []

                def after(mean_hours: float, cap_days: float = 9, created: datetime = created) -> datetime:
                    at = created + timedelta(hours=min(rng.expovariate(1 / mean_hours), cap_days * 24))
                    if self.late_rng.random() < LATE_SOCIAL_SHARE:  # evergreen: 8 to 25 days after the post
                        at = created + timedelta(days=self.late_rng.uniform(8, 25))
                    return at

                n_likes = 130 if viral else rng.randint(0, 40)
                for uid, _ in rng.sample(accounts, min(n_likes, len(accounts))):
                    kind = "like" if platform == "x" else "reaction"
                    events.append(SocialEvent(uid, after(20), kind, reaction=rng.choice(REACTION_TYPES)))
                for uid, _ in rng.sample(accounts, min(rng.randint(0, 8), len(accounts))):
                    events.append(SocialEvent(uid, after(24), "repost" if platform == "x" else "share"))
                for _ in range(rng.randint(0, 6)):
                    uid = rng.choice(accounts)[0]
                    kind = "reply" if platform == "x" else "comment"
                    if platform == "x":
                        x_seq += 1
                        event_id = str(1850000000000000000 + int(created.timestamp()) * 1000 + 500 + x_seq)
                    else:
                        fb_seq += 1
                        event_id = f"{fb_seq}{rng.randrange(10**9, 10**10)}"
                    events.append(SocialEvent(uid, after(30, 6), kind, event_id=event_id,
                                              text=rng.choice(["Love it!", "Does this ship to Austria?", "🔥🔥", "Price?"]),
                                              from_visible=rng.random() > 0.1))
                if platform == "x":
                    for _ in range(rng.randint(0, 3)):
                        events.append(SocialEvent(rng.choice(accounts)[0], after(30), "quote"))
                    x_seq += 1
                    post_id = str(1850000000000000000 + int(created.timestamp()) * 1000 + x_seq)
                    text = f"{c.title if c else 'Hello from the shop'} {'https://t.co/' + hashlib.sha1(link.encode()).hexdigest()[:10] if link else ''}".strip()
                    self.x_posts.append(Post("x", post_id, created, text, link, c.key if c else None, events, rng.randint(20, 60)))
                else:
                    fb_seq += 1
                    post_id = f"{FACEBOOK_PAGE_ID}_{889900000000 + fb_seq}"
                    text = f"{c.title if c else 'News from the shop'}! {link or ''}".strip()
                    self.fb_posts.append(Post("facebook", post_id, created, text, link, c.key if c else None, events, rng.randint(15, 50)))
        # mentions: posts by others that name the account, some carrying a campaign link
        for c in self.campaigns:
            for _ in range(rng.randint(1, 4)):
                x_seq += 1
                created = _ts(c.start, rng.randint(0, max(1, (c.end - c.start).days) * 86400 - 1))
                uid, _ = rng.choice(self.x_accounts)
                link = utm_link(f"c/{c.key}", "x", "social", c.social_spelling)
                self.x_mentions.append({
                    "id": str(1850000000000000000 + int(created.timestamp()) * 1000 + 700 + x_seq),
                    "author_id": uid, "created_at": created, "campaign_key": c.key, "link": link,
                    "text": f"@{X_ACCOUNT_USERNAME} check this out {link}",
                })

    # --- LinkedIn (organisation page) ------------------------------------------------
    def _make_linkedin(self) -> None:
        """The organisation's posts, their reactions, comments and reposts, and members' posts that mention it.

        Drawn from a random stream of its own, after everything else, so adding LinkedIn moved nothing
        else in the world. Members are `urn:li:person:<id>`: some are people the company knows (by email),
        but no CRM property holds a member URN, so none of them can be linked to a contact."""
        rng = random.Random(self.config.seed * 104723 + 11)
        self.li_members = {p.pid: f"urn:li:person:{_member_id(rng)}" for p in self.people if rng.random() < 0.3}
        strangers = [f"urn:li:person:{_member_id(rng)}" for _ in range(max(5, self.config.people // 5))]
        accounts = list(self.li_members.values()) + strangers
        self.li_posts: list[Post] = []
        self.li_mentions: list[dict] = []
        topics: list[tuple[Campaign | None, date]] = []
        for c in self.campaigns:
            for k in range(2):
                topics.append((c, c.start + timedelta(days=min(k * 3, (c.end - c.start).days - 1))))
        for day in range(2, self.config.days, 7):
            topics.append((None, self.start + timedelta(days=day)))
        topics.sort(key=lambda t: (t[1], t[0].key if t[0] else ""))
        seq = 0
        for c, d in topics:
            created = _ts(d, rng.randint(7 * 3600, 18 * 3600))

            def after(mean_hours: float, created: datetime = created) -> datetime:
                if rng.random() < 0.1:  # evergreen: 8 to 20 days after the post
                    return created + timedelta(days=rng.uniform(8, 20))
                return created + timedelta(hours=min(rng.expovariate(1 / mean_hours), 8 * 24))

            events: list[SocialEvent] = []
            for member in rng.sample(accounts, min(rng.randint(0, 30), len(accounts))):
                events.append(SocialEvent(member, after(16), "reaction", reaction=rng.choice(LINKEDIN_REACTION_TYPES)))
            for member in rng.sample(accounts, min(rng.randint(0, 5), len(accounts))):
                events.append(SocialEvent(member, after(30), "share"))
            for _ in range(rng.randint(0, 5)):
                seq += 1
                events.append(SocialEvent(rng.choice(accounts), after(20), "comment", event_id=str(7130000000000000000 + seq),
                                          text=rng.choice(["Congrats!", "Great read", "Is this in Vienna too?", "👏"])))
            seq += 1
            link = utm_link(f"c/{c.key}", "linkedin", "social", c.social_spelling) if c else None
            text = f"{c.title if c else 'Inside the shop'}: {link or 'more soon'}"
            self.li_posts.append(Post("linkedin", f"urn:li:share:{7120000000000000000 + seq}", created, text, link,
                                      c.key if c else None, events, rng.randint(25, 70)))
        for c in self.campaigns:
            for _ in range(rng.randint(1, 3)):
                seq += 1
                created = _ts(c.start, rng.randint(0, max(1, (c.end - c.start).days) * 86400 - 1))
                self.li_mentions.append({
                    "notification_id": rng.randint(-2**31, 2**31 - 1), "created_at": created,
                    "source_post": f"urn:li:activity:{7140000000000000000 + seq}",
                    "generated_activity": f"urn:li:share:{7150000000000000000 + seq}",
                })

    # --- Facebook tags ----------------------------------------------------------------
    def _make_machine_opens(self) -> None:
        """Apple Mail readers' delivered sends get one proxy open minutes after the send, whether or not
        the person opens it later. Ordinary sends only: A/B tests keep their groups' figures as they were."""
        rng = self.proxy_rng
        apple = {p.pid for p in self.people if rng.random() < APPLE_MAIL_SHARE}
        pid_of = {m["email"]: m["pid"] for lst in self.lists for m in lst.members}
        for send in self.sends:
            if send.absplit or send.variate_design or send.variate:
                continue
            bounced = {a.email for a in send.activity if a.action == "bounce"}
            for email in send.recipients:
                if pid_of.get(email) in apple and email not in bounced:
                    send.machine_opens.append(EmailActivity(email, "open", send.send_time + timedelta(minutes=rng.uniform(1, 20))))

    def _make_facebook_tags(self) -> None:
        """Public posts by others in which the Page is tagged, from a random stream of their own (nothing
        else in the world moved when they were added). Meta names their author only to the author."""
        rng = random.Random(self.config.seed * 130363 + 17)
        self.fb_tags: list[dict] = []
        for day in range(self.config.days):
            for _ in range(rng.choice([0, 0, 1, 1, 2])):
                created = _ts(self.start + timedelta(days=day), rng.randint(6 * 3600, 23 * 3600))
                author, name = rng.choice(self.fb_accounts)
                object_id = 990000000000 + len(self.fb_tags) * 7 + rng.randint(0, 6)
                self.fb_tags.append({
                    "id": f"{author}_{object_id}", "created_at": created, "author_id": author,
                    "message": rng.choice([f"Great afternoon at Example Shop with {name.split()[0]}!",
                                           "Thanks Example Shop for the quick delivery", "Look what I found at Example Shop"]),
                })

    # --- CRM --------------------------------------------------------------------------
    def _make_crm(self) -> None:
        rng = self.rng
        self.contacts: list[CrmContact] = []
        for p in self.people:
            if rng.random() >= 0.7:
                continue
            email = p.email
            r = rng.random()
            if r < 0.25:
                email = email.upper()
            elif r < 0.45:
                email = f"  {email} "
            handle = None
            if p.x_username and rng.random() < 0.6:
                handle = rng.choice([f"@{p.x_username}", p.x_username.lower(), f" {p.x_username} "])
            created = _ts(self.start, -rng.randint(0, 700) * 86400 + rng.randint(0, 86399))
            modified = max(created, _ts(self.start, rng.randint(-300, self.config.days + 2) * 86400 + rng.randint(0, 86399)))
            self.contacts.append(CrmContact(
                id=str(5100 + p.pid), email=email, firstname=p.first.title(), lastname=p.last.title(),
                site_user_id=p.site_user_id if p.site_user_id and rng.random() < 0.85 else None,
                twitterhandle=handle,
                facebook_user_id=p.fb_user_id if p.fb_user_id and rng.random() < 0.5 else None,
                created=created, modified=modified,
            ))

    # --- experiments ------------------------------------------------------------------
    def _make_experiments(self) -> None:
        """Experiments with known true effects (EXPERIMENTS), drawn from their own random stream after
        everything else, so the rest of the world is exactly what it was without them. An experiment
        whose outcome window would run past the world's last day is left out."""
        rng = random.Random(self.config.seed * 6151 + 3)
        self.experiment_sends: dict[str, str] = {}  # label -> Mailchimp campaign id
        self.experience_impressions: list[ExperienceImpression] = []
        base_sessions = list(self.sessions)
        self._first_seen: dict[str, date] = {}
        for s in base_sessions:
            self._first_seen.setdefault(s.pseudo_id, s.date)
        for s in base_sessions:
            if s.key_event and rng.random() < EXPERIMENTS.purchase_share:
                s.transactions, s.purchase_revenue = 1, round(rng.uniform(*EXPERIMENTS.purchase_revenue), 2)
        self._design_subject_variate(rng, EXPERIMENTS.subject_variate_test_size)
        for plan in EXPERIMENTS.ab_splits:
            self._make_ab_split(rng, plan)
        self._make_content_variate(rng, EXPERIMENTS.variate)
        self._make_holdout(rng, EXPERIMENTS.holdout)
        self._make_web_experiment(rng, EXPERIMENTS.web, base_sessions)
        self.sends.sort(key=lambda s: s.send_time)  # stable: the base world's sends keep their order

    def _fits(self, day: int) -> bool:
        return 0 <= day and day + OUTCOME_WINDOW_DAYS <= self.config.days

    def _campaign_keyed(self, key: str) -> Campaign | None:
        return next((c for c in self.campaigns if c.key == key), None)

    def _list_named(self, name: str) -> MailList | None:
        return next((lst for lst in self.lists if lst.name == name), None)

    @staticmethod
    def _reached(lst: MailList, send_time: datetime) -> list[dict]:
        """The members a send to the list reaches: subscribed then (the base world's rule)."""
        return [m for m in lst.members if m["status"] == "subscribed" or m["last_changed"] > send_time]

    @staticmethod
    def _email_link(c: Campaign, utm_content: str | None = None) -> str:
        link = utm_link(f"c/{c.key}", "newsletter", "email", c.mailchimp_spelling.strip())
        return f"{link}&utm_content={utm_content}" if utm_content else link

    @staticmethod
    def _exactly(rng: random.Random, items: list, share: float) -> set:
        """`share` of the items (rounded), drawn at random: a designed rate realised exactly, so an
        effect has its designed sign at any scale instead of by the luck of the draw."""
        return set(rng.sample(items, min(len(items), round(share * len(items)))))

    def _reactions(self, rng: random.Random, emails: list[str], sent: datetime, open_rate: float, click_rate: float,
                   link: str) -> list[EmailActivity]:
        """A group's activity: 3% bounce; `open_rate` of the group opens, `click_rate` of it clicks (clickers opened)."""
        bounced = self._exactly(rng, emails, 0.03)
        delivered = [e for e in emails if e not in bounced]
        openers = self._exactly(rng, delivered, open_rate * len(emails) / len(delivered) if delivered else 0)
        clickers = self._exactly(rng, sorted(openers), click_rate * len(emails) / len(openers) if openers else 0)
        acts: list[EmailActivity] = []
        for email in emails:
            if email in bounced:
                acts.append(EmailActivity(email, "bounce", sent + timedelta(seconds=rng.randint(5, 600)),
                                          bounce_type=rng.choice(["hard", "soft"])))
            elif email in openers:
                first_open = sent + timedelta(hours=min(rng.expovariate(1 / 14), 140))
                acts += [EmailActivity(email, "open", first_open + timedelta(hours=k * rng.uniform(1, 30)))
                         for k in range(rng.choice([1, 1, 2, 3]))]
                if email in clickers:
                    acts.append(EmailActivity(email, "click", first_open + timedelta(minutes=rng.randint(1, 90)), url=link))
        return acts

    def _add_send(self, label: str, c: Campaign, lst: MailList, send_time: datetime, subject: str,
                  recipients: list[dict], activity: list[EmailActivity], unsubscribed: int) -> EmailSend:
        n = len(self.sends) + 1
        send = EmailSend(
            id=hashlib.sha1(f"experiment{self.config.seed}-{label}".encode()).hexdigest()[:10],
            web_id=100000 + n, campaign_key=c.key, tracking=c.mailchimp_spelling, list_id=lst.id,
            title=f"{c.title} #{n}", subject=subject, create_time=send_time - timedelta(days=2), send_time=send_time,
            recipients=[m["email"] for m in recipients], activity=activity, unsubscribed=unsubscribed,
        )
        self.sends.append(send)
        self.experiment_sends[label] = send.id
        return send

    def _visit(self, rng: random.Random, day: date, pseudo_id: str, site_user_id: str | None, campaign: str,
               ad_content: str | None = None, key_event: bool = False, revenue: float = 0.0) -> None:
        """An engaged session the experiments add (2+ page views)."""
        returning = pseudo_id in self._first_seen and self._first_seen[pseudo_id] <= day
        self._first_seen.setdefault(pseudo_id, day)
        duration = rng.randint(40, 400)
        self.sessions.append(WebSession(
            date=day, campaign=campaign, pseudo_id=pseudo_id, site_user_id=site_user_id, returning=returning,
            page_views=rng.randint(2, 6), duration_seconds=duration, engagement_seconds=int(duration * rng.uniform(0.5, 1.0)),
            key_event=key_event, ad_content=ad_content, transactions=1 if revenue else 0, purchase_revenue=revenue,
        ))

    def _visit_after_click(self, rng: random.Random, click: EmailActivity, person: Person, campaign: str,
                           utm_content: str | None) -> None:
        day = click.ts.astimezone(ZoneInfo(GA4_TIME_ZONE)).date()
        if day < self.end:
            self._visit(rng, day, f"p{person.pid}.1790000000", person.site_user_id, campaign, ad_content=utm_content)

    def _design_subject_variate(self, rng: random.Random, test_size: int) -> None:
        """The base world's variate send tested two subject lines on `test_size` percent of its list;
        the winner went to the rest four hours later. Its links are the same for both subject lines, so
        nothing on the wire tells its combinations apart. The remainder is drawn from recipients with
        no activity before the winner went out, so the activity drawn before stays true."""
        send = next((s for s in self.sends if s.variate), None)
        if send is None:
            return
        wait_minutes = 240
        deadline = send.send_time + timedelta(minutes=wait_minutes)
        first_activity: dict[str, datetime] = {}
        for a in send.activity:
            first_activity[a.email] = min(a.ts, first_activity.get(a.email, a.ts))
        quiet = [e for e in send.recipients if first_activity.get(e, deadline) >= deadline]
        remainder = set(rng.sample(quiet, min(len(quiet), len(send.recipients) - len(send.recipients) * test_size // 100)))
        test = [e for e in send.recipients if e not in remainder]
        rng.shuffle(test)
        assignment = {email: rank % 2 for rank, email in enumerate(test)}
        opened_by_deadline = {a.email for a in send.activity if a.action == "open" and a.ts <= deadline}
        opens = [sum(1 for e, i in assignment.items() if i == k and e in opened_by_deadline) for k in range(2)]
        send.variate_design = VariateDesign(
            test_size=round(100 * len(test) / len(send.recipients)), wait_minutes=wait_minutes, winner_criteria="opens",
            subject_lines=[send.subject, f"{send.subject}: last chance"], contents=["Content A"], utm_contents=[None],
            combinations=[VariateCombination(hashlib.md5(f"{send.id}-combo-{i}".encode()).hexdigest()[:10], i, 0) for i in range(2)],
            assignment=assignment, remainder=[e for e in send.recipients if e in remainder],
            winning_combination=max(range(2), key=lambda k: (opens[k], -k)),
            winning_campaign_id=hashlib.md5(f"{send.id}-win".encode()).hexdigest()[:10] if remainder else "",
        )

    def _make_ab_split(self, rng: random.Random, plan: AbSplitPlan) -> None:
        c, lst = self._campaign_keyed(plan.campaign_key), self._list_named(plan.list_name)
        if c is None or lst is None or not self._fits(plan.day):
            return
        send_time = _ts(self.start + timedelta(days=plan.day), 7 * 3600)
        members = self._reached(lst, send_time)
        order = list(range(len(members)))
        rng.shuffle(order)
        size = len(members) * plan.split_size // 100  # the two test groups are the same size
        group_of = {}
        for rank, i in enumerate(order):
            group_of[members[i]["email"]] = "a" if rank < size else "b" if rank < 2 * size else "winner"
        link = self._email_link(c)
        in_group = {g: [m["email"] for m in members if group_of[m["email"]] == g] for g in ("a", "b", "winner")}
        activity: list[EmailActivity] = []
        for k, g in enumerate("ab"):
            activity += self._reactions(rng, in_group[g], send_time, plan.open_rate[k], plan.click_rate[k], link)
        deadline = send_time + timedelta(hours=plan.wait_hours)
        action = "click" if plan.pick_winner == "clicks" else "open"
        score = {g: len({a.email for a in activity if a.action == action and a.ts <= deadline and group_of[a.email] == g})
                 for g in "ab"}
        winner = "b" if score["b"] > score["a"] else "a"
        k = "ab".index(winner)
        activity += self._reactions(rng, in_group["winner"], deadline, plan.open_rate[k], plan.click_rate[k], link)
        unsubscribers = frozenset(m["email"] for m in members if rng.random() < 0.01)
        send = self._add_send(plan.label, c, lst, send_time, plan.subjects[0], members, activity, len(unsubscribers))
        send.absplit = AbSplit(plan, group_of, winner, deadline, unsubscribers)

    def _make_content_variate(self, rng: random.Random, plan: VariatePlan) -> None:
        c, lst = self._campaign_keyed(plan.campaign_key), self._list_named(plan.list_name)
        if c is None or lst is None or not self._fits(plan.day):
            return
        send_time = _ts(self.start + timedelta(days=plan.day), 7.5 * 3600)
        label = "variate_content"
        send_id = hashlib.sha1(f"experiment{self.config.seed}-{label}".encode()).hexdigest()[:10]
        members = self._reached(lst, send_time)
        shuffled = [m["email"] for m in members]
        rng.shuffle(shuffled)
        test = shuffled[: len(shuffled) * plan.test_size // 100]
        k = len(plan.contents)
        assignment = {email: rank % k for rank, email in enumerate(test)}
        links = [self._email_link(c, u) for u in plan.utm_contents]
        activity: list[EmailActivity] = []
        for i in range(k):
            group = [m["email"] for m in members if assignment.get(m["email"]) == i]
            activity += self._reactions(rng, group, send_time, plan.open_rate, plan.click_rate[i], links[i])
        deadline = send_time + timedelta(minutes=plan.wait_minutes)
        action = "click" if plan.winner_criteria == "clicks" else "open"
        score = [len({a.email for a in activity if a.action == action and a.ts <= deadline and assignment[a.email] == i})
                 for i in range(k)]
        winning = max(range(k), key=lambda i: (score[i], -i))
        remainder = [m["email"] for m in members if m["email"] not in assignment]
        activity += self._reactions(rng, remainder, deadline, plan.open_rate, plan.click_rate[winning], links[winning])
        unsubscribed = sum(1 for _ in members if rng.random() < 0.01)
        send = self._add_send(label, c, lst, send_time, c.title, members, activity, unsubscribed)
        send.variate = True
        send.variate_design = VariateDesign(
            test_size=plan.test_size, wait_minutes=plan.wait_minutes, winner_criteria=plan.winner_criteria,
            subject_lines=[c.title], contents=list(plan.contents), utm_contents=list(plan.utm_contents),
            combinations=[VariateCombination(hashlib.md5(f"{send_id}-combo-{i}".encode()).hexdigest()[:10], 0, i)
                          for i in range(k)],
            assignment=assignment, remainder=remainder, winning_combination=winning,
            winning_campaign_id=hashlib.md5(f"{send_id}-win".encode()).hexdigest()[:10] if remainder else "",
        )
        # a click lands on the site: a GA4 session whose manual ad content is the link's utm_content
        by_email = {m["email"]: m["pid"] for m in members}
        people = {p.pid: p for p in self.people}
        for a in activity:
            if a.action == "click":
                u = next((x for x in plan.utm_contents if a.url and a.url.endswith(f"utm_content={x}")), None)
                self._visit_after_click(rng, a, people[by_email[a.email]], c.mailchimp_spelling.strip(), u)

    def _make_holdout(self, rng: random.Random, plan: HoldoutPlan) -> None:
        c, lst = self._campaign_keyed(plan.campaign_key), self._list_named(plan.list_name)
        if c is None or lst is None or not self._fits(plan.day):
            return
        send_time = _ts(self.start + timedelta(days=plan.day), 7 * 3600)
        if any(s.campaign_key == c.key and s.send_time <= send_time for s in self.sends):
            return  # the holdout's send must be the campaign's first
        population = self._reached(lst, send_time)
        # the holdout property lives in the CRM, so the list is synced into it before the campaign: every
        # member is a contact, and held-out and treated members are alike but for the campaign
        contacts = {ct.id: ct for ct in self.contacts}
        people = {p.pid: p for p in self.people}
        for m in population:
            if str(5100 + m["pid"]) not in contacts:
                person = people[m["pid"]]
                created = _ts(self.start, rng.randint(-10 * 86400, plan.day * 86400 - 86400))
                contacts[str(5100 + m["pid"])] = contact = CrmContact(
                    id=str(5100 + m["pid"]), email=person.email, firstname=person.first.title(), lastname=person.last.title(),
                    site_user_id=person.site_user_id if person.site_user_id and rng.random() < 0.85 else None,
                    twitterhandle=None, facebook_user_id=None, created=created, modified=created)
                self.contacts.append(contact)
        reached_otherwise = {e for s in self.sends if s.campaign_key == c.key for e in s.recipients}
        eligible = [m for m in population if m["email"] not in reached_otherwise and str(5100 + m["pid"]) in contacts]
        rng.shuffle(eligible)
        held = eligible[: round(len(eligible) * plan.held_out_share)]
        spellings = [c.key, c.key, f"{c.key.title()} "]  # as typed into the CRM: trimmed and lower-cased downstream
        for k, m in enumerate(held):
            contact = contacts[str(5100 + m["pid"])]
            if k < plan.universal:
                contact.holdout = "all" if k else f"{c.key};all"  # a multi-select value
            else:
                contact.holdout = spellings[k % len(spellings)]
        sent_anyway = {m["email"] for m in held[len(held) - plan.sent_anyway:]} if len(held) > plan.universal + plan.sent_anyway else set()
        kept_out = {m["email"] for m in held} - sent_anyway
        recipients = [m for m in population if m["email"] not in kept_out]
        held_emails = {m["email"] for m in held}
        treated_contacts = [contacts[str(5100 + m["pid"])] for m in recipients
                            if m["email"] not in held_emails and str(5100 + m["pid"]) in contacts]
        for k, original in enumerate(rng.sample(treated_contacts, min(plan.duplicate_contacts, len(treated_contacts)))):
            # the same person entered twice in the CRM, the second time held out: one person in two arms
            created = _ts(self.start, -rng.randint(1, 60) * 86400 + rng.randint(0, 86399))
            person_email = (original.email or "").strip().lower()
            self.contacts.append(CrmContact(
                id=str(DUPLICATE_CONTACT_IDS + k), email=f" {person_email.title()}", firstname=original.firstname, lastname=original.lastname,
                site_user_id=None, twitterhandle=None, facebook_user_id=None, created=created, modified=created,
                holdout=c.key,
            ))
        link = self._email_link(c)
        activity = self._reactions(rng, [m["email"] for m in recipients], send_time, 0.35, 0.08, link)
        unsubscribed = sum(1 for _ in recipients if rng.random() < 0.01)
        self._add_send("holdout", c, lst, send_time, c.title, recipients, activity, unsubscribed)
        # the campaign works: the people it reached come back to the site more often within the window
        first_day = send_time.astimezone(ZoneInfo(GA4_TIME_ZONE)).date()
        visitors = self._exactly(rng, [m["pid"] for m in recipients if people[m["pid"]].site_user_id], plan.visit_rate)
        with_key_event = self._exactly(rng, sorted(visitors), plan.key_event_rate)
        buyers = self._exactly(rng, sorted(with_key_event), plan.purchase_rate)
        for pid in sorted(visitors):
            person = people[pid]
            key_event = pid in with_key_event
            revenue = round(rng.uniform(*plan.revenue), 2) if pid in buyers else 0.0
            campaign = c.ga4_spelling if rng.random() < 0.7 else "(direct)"
            self._visit(rng, first_day + timedelta(days=rng.randint(0, OUTCOME_WINDOW_DAYS - 1)), f"p{person.pid}.1790000000",
                        person.site_user_id, campaign, key_event=key_event, revenue=revenue)

    def _make_web_experiment(self, rng: random.Random, plan: WebExperimentPlan, base_sessions: list[WebSession]) -> None:
        first = self.start + timedelta(days=plan.first_day)
        last = self.start + timedelta(days=min(plan.last_day, self.config.days - OUTCOME_WINDOW_DAYS))
        if last < first:
            return
        in_range = [s for s in base_sessions if first <= s.date <= last]
        days_of: dict[str, set[date]] = {}
        for s in in_range:
            if s.site_user_id:
                days_of.setdefault(s.site_user_id, set()).add(s.date)
        people = {p.site_user_id: p for p in self.people if p.site_user_id}
        counts: dict[tuple[date, str, str | None, str], int] = {}

        def impression(day: date, pseudo_id: str, site_user_id: str | None, variant: str) -> None:
            key = (day, pseudo_id, site_user_id, f"{plan.experiment_id}-{variant}")
            counts[key] = counts.get(key, 0) + rng.choice([1, 1, 2, 3])

        chosen = sorted(self._exactly(rng, sorted(days_of), plan.exposure_share))
        rng.shuffle(chosen)  # then the variants in turn: as many visitors in each
        exposed = {uid: (rank % len(plan.variants), min(days_of[uid])) for rank, uid in enumerate(chosen)}
        for uid, (v, first_day) in exposed.items():
            pseudo_id = f"p{people[uid].pid}.1790000000"
            for day in sorted(days_of[uid]):
                if day == first_day or rng.random() < 0.5:
                    impression(day, pseudo_id, uid, plan.variants[v])
        for uid in rng.sample(sorted(exposed), min(plan.both_variants, len(exposed))):
            v, first_day = exposed[uid]  # later on another device or after clearing cookies: the other variant
            impression(first_day + timedelta(days=1), f"p{people[uid].pid}.1790000000", uid,
                       plan.variants[(v + 1) % len(plan.variants)])
        for s in in_range:
            if s.site_user_id is None and rng.random() < plan.anonymous_share:
                impression(s.date, s.pseudo_id, None, rng.choice(plan.variants))
        self.experience_impressions = [ExperienceImpression(d, p, u, v, n) for (d, p, u, v), n in sorted(
            counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3]))]
        # the variants differ in how many exposed visitors buy within the outcome window
        buyers = set()
        for v in range(len(plan.variants)):
            buyers |= self._exactly(rng, sorted(u for u, (w, _) in exposed.items() if w == v), plan.purchase_rate[v])
        for uid, (_, first_day) in sorted(exposed.items()):
            if uid in buyers:
                day = first_day + timedelta(days=rng.randint(0, OUTCOME_WINDOW_DAYS - 1))
                self._visit(rng, day, f"p{people[uid].pid}.1790000000", uid, "(direct)", key_event=True,
                            revenue=round(rng.uniform(*plan.revenue), 2))
