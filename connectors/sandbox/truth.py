"""Ground truth of a sandbox world, computed straight from the world (never through the APIs).

Definitions follow the README: a person is a connected component of identifiers (normalised
email, site user id, CRM contact id, X user id, Facebook user id) linked by CRM contacts; an
engaged user of a campaign had an engaged web session, opened (a person's own open, never an Apple
proxy's) or clicked one of its sends, or
interacted with one of its posts in a way the APIs can attribute to an account (likes within X's
100-liker cap, reposts, replies, mentions, Facebook reactions and comments whose author Meta
reveals). Everything is as of the sandbox clock `now`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from connectors.sandbox.world import CAMPAIGN_ALIASES, World

X_LIKERS_CAP = 100
MENTIONING_PLATFORMS = ("x", "facebook", "linkedin")  # mentions of the account: X mentions, Page tags, LinkedIn notifications
Identifier = tuple[str, str]


def campaign_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = raw.strip().lower()
    if not key or (key.startswith("(") and key.endswith(")")):
        return None
    return CAMPAIGN_ALIASES.get(key, key)


def normalise_handle(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


class _Components:
    def __init__(self) -> None:
        self.parent: dict[Identifier, Identifier] = {}

    def find(self, node: Identifier) -> Identifier:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def union(self, a: Identifier, b: Identifier) -> None:
        self.parent[self.find(a)] = self.find(b)


def identity_graph(world: World, now: datetime) -> _Components:
    """Persons as of `now`. An identifier other than an email that several contacts claim (a shared
    company handle) is ambiguous: it links nothing and stays a node of its own."""
    graph = _Components()
    x_by_username = {name.lower(): uid for uid, name in world.x_accounts}
    claims: list[tuple[Identifier, list[Identifier]]] = []
    for c in world.contacts:
        if c.created > now:
            continue
        ids: list[Identifier] = []
        if c.email and c.email.strip():
            ids.append(("email", c.email.strip().lower()))
        if c.site_user_id:
            ids.append(("site", c.site_user_id))
        if c.twitterhandle and normalise_handle(c.twitterhandle) in x_by_username:
            ids.append(("x", x_by_username[normalise_handle(c.twitterhandle)]))
        if c.facebook_user_id:
            ids.append(("fb", c.facebook_user_id))
        claims.append((("crm", c.id), ids))
    claimed_by: dict[Identifier, int] = defaultdict(int)
    for _, ids in claims:
        for identifier in set(ids):
            claimed_by[identifier] += 1
    for contact, ids in claims:
        graph.find(contact)
        for other in ids:
            if other[0] != "email" and claimed_by[other] > 1:
                graph.find(other)  # ambiguous: a person of its own
            else:
                graph.union(contact, other)
    return graph


@dataclass(frozen=True)
class Reads:
    """What one pipeline run reads (see the pipeline's stream reaches): sessions and mentions dated from
    `activity_since`; posts and sends created from `content_since`, with their interactions as of the
    clock, email activity from `activity_since`; nothing created on or after `until` (the window's end)."""

    now: datetime
    activity_since: date | None = None
    content_since: date | None = None
    until: date | None = None

    def activity(self, day: date) -> bool:
        return (self.activity_since is None or day >= self.activity_since) and (self.until is None or day < self.until)

    def content(self, created: datetime) -> bool:
        day = created.date()
        return (created <= self.now and (self.content_since is None or day >= self.content_since)
                and (self.until is None or day < self.until))


def engaged_identifiers(world: World, now: datetime, reads: Reads | None = None) -> dict[tuple[str, str], set[Identifier]]:
    """(campaign_key, channel) -> identifiers that engaged, channel in web/email/social, as one read
    at `now` sees them (by default a read of everything)."""
    reads = reads or Reads(now)
    out: dict[tuple[str, str], set[Identifier]] = defaultdict(set)
    for s in world.sessions:
        key = campaign_key(s.campaign)
        if key and s.site_user_id and s.engaged and s.date <= now.date() and reads.activity(s.date):
            out[(key, "web")].add(("site", s.site_user_id))
    for send in world.sends:
        if send.campaign_key is None or not reads.content(send.send_time):
            continue
        for a in send.activity:
            if a.action in ("open", "click") and a.ts <= now and (reads.activity_since is None or a.ts.date() >= reads.activity_since):
                out[(send.campaign_key, "email")].add(("email", a.email.strip().lower()))
    for post in world.x_posts:
        if post.campaign_key is None or not reads.content(post.created_at):
            continue
        likes = sorted(post.events_of("like", now), key=lambda e: e.ts, reverse=True)[:X_LIKERS_CAP]
        actors = likes + post.events_of("repost", now) + post.events_of("reply", now)
        out[(post.campaign_key, "social")].update(("x", e.user_id) for e in actors)
    for mention in world.x_mentions:
        if mention["created_at"] <= now and reads.activity(mention["created_at"].date()):
            out[(mention["campaign_key"], "social")].add(("x", mention["author_id"]))
    for post in world.fb_posts:
        if post.campaign_key is None or not reads.content(post.created_at):
            continue
        actors = post.events_of("reaction", now) + [e for e in post.events_of("comment", now) if e.from_visible]
        out[(post.campaign_key, "social")].update(("fb", e.user_id) for e in actors)
    for post in world.li_posts:  # reactors and commenters are named; reposters are only counted
        if post.campaign_key is None or not reads.content(post.created_at):
            continue
        actors = post.events_of("reaction", now) + post.events_of("comment", now)
        out[(post.campaign_key, "social")].update(("linkedin", e.user_id) for e in actors)
    return out


def daily_run_reads(day: date, clock: datetime, lookback_days: int = 7, horizon_days: int = 30) -> Reads:
    """The run of the daily schedule for `day` ([day, day+1)) at `clock`."""
    until = day + timedelta(days=1)
    since = day - timedelta(days=lookback_days)
    return Reads(clock, activity_since=since, content_since=min(since, until - timedelta(days=horizon_days)), until=until)


def campaign_engaged_users(world: World, now: datetime | None = None,
                            runs: list[Reads] | None = None) -> dict[tuple[str, str], dict[str, int]]:
    """(campaign_key, channel incl. 'any') -> {engaged_users, identified_users}.

    With `runs` (for example one `daily_run_reads` per day of a schedule), what those reads observed
    together: X lists only a post's latest 100 likers, so a schedule that read them day by day keeps
    likers a later backfill can no longer see, and its figure can be the larger one."""
    now = now or world.default_now
    graph = identity_graph(world, now)
    crm_persons = {graph.find(node) for node in list(graph.parent) if node[0] == "crm"}
    persons: dict[tuple[str, str], set[Identifier]] = defaultdict(set)
    observed: dict[tuple[str, str], set[Identifier]] = defaultdict(set)
    for reads in runs or [Reads(now)]:
        for k, identifiers in engaged_identifiers(world, reads.now, reads).items():
            observed[k] |= identifiers
    for (key, channel), identifiers in observed.items():
        found = {graph.find(i) for i in identifiers}
        persons[(key, channel)] |= found
        persons[(key, "any")] |= found
    return {
        k: {"engaged_users": len(v), "identified_users": len(v & crm_persons)}
        for k, v in sorted(persons.items())
    }


# --- the daily marts' figures, straight from the world ----------------------------------------
NONE_KEY = "(none)"


def web_engagement_daily(world: World, now: datetime | None = None) -> dict[tuple, dict[str, int]]:
    """(property-local date, campaign key or '(none)') -> GA4's figures, summed over spellings.

    Users follow GA4: activeUsers per (date, spelling, new/returning) row, summed, so a visitor in
    two such rows counts twice, as in the report the pipeline reads.
    """
    now = now or world.default_now
    out: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    visitors: dict[tuple, set[str]] = defaultdict(set)
    for s in world.sessions:
        if s.date > now.date():
            continue
        row = out[(s.date, campaign_key(s.campaign) or NONE_KEY)]
        row["sessions"] += 1
        row["engaged_sessions"] += s.engaged
        row["page_views"] += s.page_views
        row["engagement_seconds"] += s.engagement_seconds
        visitors[(s.date, s.campaign, s.returning)].add(s.pseudo_id)
    for (day, spelling, returning), ids in visitors.items():
        row = out[(day, campaign_key(spelling) or NONE_KEY)]
        row["users"] += len(ids)
        row["returning_users"] += len(ids) if returning else 0
    return {k: dict(v) for k, v in out.items()}


def email_campaign_engagement(world: World, now: datetime | None = None) -> dict[str, dict]:
    """Mailchimp campaign id -> the send's figures as of `now`."""
    now = now or world.default_now
    out = {}
    for send in world.sends:
        if send.send_time > now:
            continue
        by_action: dict[str, set[str]] = defaultdict(set)
        for a in send.activity:
            if a.ts <= now:
                by_action[a.action].add(a.email.strip().lower())
        emails = by_action.__getitem__
        human_openers = set(emails("open"))
        # all opens, as Mailchimp counts them, include Apple Mail Privacy Protection's proxy opens
        all_openers = human_openers | {a.email.strip().lower() for a in send.machine_opens if a.ts <= now}
        recipients = {e.strip().lower() for e in send.recipients}
        delivered = len(recipients - emails("bounce"))
        out[send.id] = {
            "campaign_key": send.campaign_key, "recipients": len(recipients),
            "delivered": delivered, "bounces": len(emails("bounce")),
            "unique_opens": len(all_openers), "unique_clicks": len(emails("click")),
            "human_unique_opens": len(human_openers),
            "unsubscribes": send.unsubscribed,
        }
    return out


def social_engagement_daily(world: World, now: datetime | None = None) -> dict[tuple, dict]:
    """(date, platform, post id) -> the day's social figures, for a pipeline that took ONE snapshot of
    every post's counters at `now`: that first snapshot's counts land on the post's creation day;
    replies, comments and mentions on their own creation day. Mentions are X posts by others, posts in
    which the Facebook Page is tagged and LinkedIn members' posts that mention the organisation."""
    now = now or world.default_now
    out: dict[tuple, dict] = {}

    def row(day, platform: str, post_id: str, kind: str, key: str | None) -> dict:
        empty = {"post_kind": kind, "campaign_key": key, "likes": 0, "comments": 0, "shares": 0,
                 "mentions": 0 if platform in MENTIONING_PLATFORMS else None, "impressions": None}
        if kind == "mention":
            empty.update(likes=None, comments=None, shares=None, mentions=0)
        return out.setdefault((day, platform, post_id), empty)

    for post in world.x_posts + world.fb_posts + world.li_posts:
        if post.created_at > now:
            continue
        first = row(post.created_at.date(), post.platform, post.id, "post", post.campaign_key)
        like, shares = ("like", ("repost", "quote")) if post.platform == "x" else ("reaction", ("share",))
        first["likes"] = len(post.events_of(like, now))
        first["shares"] = sum(len(post.events_of(kind, now)) for kind in shares)
        first["impressions"] = post.reach(now)
        for e in post.events_of("reply" if post.platform == "x" else "comment", now):
            row(e.ts.date(), post.platform, post.id, "post", post.campaign_key)["comments"] += 1
    for m in world.x_mentions:
        if m["created_at"] <= now:
            row(m["created_at"].date(), "x", m["id"], "mention", m["campaign_key"])["mentions"] += 1
    for tag in world.fb_tags:  # the posts in which the Page is tagged
        if tag["created_at"] <= now:
            # a user's post id is `<user id>_<post id>`: the marts keep its second part only (no user id)
            row(tag["created_at"].date(), "facebook", tag["id"].split("_", 1)[1], "mention", None)["mentions"] += 1
    for m in world.li_mentions:  # LinkedIn names the member's post, not its campaign
        if m["created_at"] <= now:
            row(m["created_at"].date(), "linkedin", m["generated_activity"], "mention", None)["mentions"] += 1
    for r in out.values():
        counted = [r[k] for k in ("likes", "comments", "shares", "mentions") if r[k] is not None]
        r["total_interactions"] = sum(counted)
    return out
