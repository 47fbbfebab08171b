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
GA4_TIME_ZONE = "Europe/Berlin"
MAILCHIMP_DC = "us21"
LANDING = "https://shop.example"
# engagement that trails a post or a send by longer than a daily run's lookback (7 days)
LATE_SOCIAL_SHARE = 0.12
LATE_OPEN_SHARE = 0.08


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

    @property
    def engaged(self) -> bool:
        return self.duration_seconds > 10 or self.page_views >= 2 or self.key_event


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
    activity: list[EmailActivity]
    unsubscribed: int
    variate: bool = False


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
    platform: str  # x | facebook
    id: str
    created_at: datetime
    text: str
    link: str | None
    campaign_key: str | None
    events: list[SocialEvent]
    impressions_per_interaction: int

    def events_of(self, kind: str, now: datetime) -> list[SocialEvent]:
        return [e for e in self.events if e.kind == kind and e.ts <= now]


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


def _ts(d: date, seconds: float = 0) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(seconds=seconds)


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
