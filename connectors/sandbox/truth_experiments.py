"""Ground truth of the sandbox's experiments, straight from the world (never through the APIs).

The product's definitions of experiments:
- ids: `mailchimp:<campaign id>` (A/B split arms `a`/`b`, control `a`; variate arms its combination
  ids, control the first), `holdout:<campaign key>` (arms `treated` and `holdout`, control
  `holdout`), `ga4:<experiment id>` (the variant ids of `exp_variant_string`, control the first
  in sort order);
- the unit is a person of `truth.identity_graph`; a person seen in two arms of one experiment
  counts in `units_excluded` of each arm they were seen in, never in `units` or the outcomes;
- `opened` and `clicked` count units with an open or click of the campaign (A/B split: both;
  variate: clicks only, opens per combination are not measurable); `web_engaged`, `key_event`
  and `revenue` count a unit's identified GA4 sessions on property-local dates from the
  campaign's first send (or the unit's first exposure, for web experiments) through
  `OUTCOME_WINDOW_DAYS - 1` days later;
- a holdout's population is the members its campaign's first send could reach on that send's
  list (subscribed then); `treated` are those a send of the campaign reached, `holdout` those
  whose CRM contact holds the campaign key or `all` in the holdout property.

Everything is as of the clock `now` (by default the world's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.sandbox.truth import Identifier, identity_graph
from connectors.sandbox.world import GA4_TIME_ZONE, OUTCOME_WINDOW_DAYS, EmailSend, World

PROPERTY_TIME_ZONE = ZoneInfo(GA4_TIME_ZONE)
UNIVERSAL_HOLDOUT = "all"
Person = Identifier  # a component's representative node


@dataclass
class ArmTruth:
    units: int = 0
    units_excluded: int = 0
    opened: int | None = None  # None: not measured for this kind of experiment
    clicked: int | None = None
    web_engaged: int = 0
    key_event: int = 0
    revenue_sum: float = 0.0
    revenue_sum_sq: float = 0.0


@dataclass
class ExperimentTruth:
    experiment_id: str
    kind: str  # email_ab | holdout | web_experience
    campaign_key: str | None
    control_arm: str
    arms: dict[str, ArmTruth] = field(default_factory=dict)
    # false for a variate test whose combinations share their links: its clicks cannot be told apart
    clicks_observable_per_arm: bool = True


def property_date(ts: datetime) -> date:
    return ts.astimezone(PROPERTY_TIME_ZONE).date()


def holdout_keys(raw: str | None) -> set[str]:
    """The holdout property's values: `;`-separated, trimmed and lower-cased."""
    return {v.strip().lower() for v in (raw or "").split(";") if v.strip()}


class _Outcomes:
    """Each person's identified GA4 sessions by property-local date, for the outcome windows."""

    def __init__(self, world: World, now: datetime, graph) -> None:
        self.by_person: dict[Person, list] = defaultdict(list)
        for s in world.sessions:
            if s.site_user_id and s.date <= now.date():
                self.by_person[graph.find(("site", s.site_user_id))].append(s)

    def add(self, arm: ArmTruth, person: Person, first_day: date) -> None:
        last_day = first_day + timedelta(days=OUTCOME_WINDOW_DAYS - 1)
        sessions = [s for s in self.by_person.get(person, []) if first_day <= s.date <= last_day]
        arm.web_engaged += any(s.engaged for s in sessions)
        arm.key_event += any(s.key_events for s in sessions)
        revenue = sum(s.purchase_revenue for s in sessions)
        arm.revenue_sum += revenue
        arm.revenue_sum_sq += revenue * revenue


def _split_units(members: dict[str, set[Person]]) -> tuple[dict[str, set[Person]], dict[str, set[Person]]]:
    """(arm -> persons only in that arm, arm -> persons of that arm also seen in another)."""
    seen: dict[Person, int] = defaultdict(int)
    for persons in members.values():
        for p in persons:
            seen[p] += 1
    only = {arm: {p for p in persons if seen[p] == 1} for arm, persons in members.items()}
    twice = {arm: {p for p in persons if seen[p] > 1} for arm, persons in members.items()}
    return only, twice


def _email_person(graph, email: str) -> Person:
    return graph.find(("email", email.strip().lower()))


def _fill_arms(experiment: ExperimentTruth, members: dict[str, set[Person]], first_day: dict[Person, date] | date,
               outcomes: _Outcomes, opened: set[Person] | None = None, clicked: set[Person] | None = None) -> None:
    only, twice = _split_units(members)
    for arm in members:
        truth = ArmTruth(units=len(only[arm]), units_excluded=len(twice[arm]))
        if opened is not None:
            truth.opened = len(only[arm] & opened)
        if clicked is not None:
            truth.clicked = len(only[arm] & clicked)
        for person in sorted(only[arm]):
            outcomes.add(truth, person, first_day if isinstance(first_day, date) else first_day[person])
        experiment.arms[arm] = truth


def _acted(graph, send: EmailSend, action: str, now: datetime) -> set[Person]:
    return {_email_person(graph, a.email) for a in send.activity if a.action == action and a.ts <= now}


def _email_experiments(world: World, now: datetime, graph, outcomes: _Outcomes) -> Iterable[ExperimentTruth]:
    for send in world.sends:
        if send.send_time > now or (send.absplit is None and send.variate_design is None):
            continue
        experiment_id = f"mailchimp:{send.id}"
        opened, clicked = _acted(graph, send, "open", now), _acted(graph, send, "click", now)
        if send.absplit is not None:
            members = {g: {_email_person(graph, e) for e, group in send.absplit.groups.items() if group == g} for g in "ab"}
            experiment = ExperimentTruth(experiment_id, "email_ab", send.campaign_key, "a")
            _fill_arms(experiment, members, property_date(send.send_time), outcomes, opened, clicked)
        else:
            design = send.variate_design
            members = {c.id: {_email_person(graph, e) for e, i in design.assignment.items() if i == k}
                       for k, c in enumerate(design.combinations)}
            experiment = ExperimentTruth(experiment_id, "email_ab", send.campaign_key, design.combinations[0].id,
                                         clicks_observable_per_arm=len(set(design.utm_contents)) == len(design.utm_contents)
                                         and None not in design.utm_contents)
            # only the test recipients are in an arm: the winner's send to the rest is no arm
            test_clicks = {_email_person(graph, a.email) for a in send.activity
                           if a.action == "click" and a.ts <= now and a.email in design.assignment}
            _fill_arms(experiment, members, property_date(send.send_time), outcomes, None, test_clicks)
        yield experiment


def _holdout_experiments(world: World, now: datetime, graph, outcomes: _Outcomes) -> Iterable[ExperimentTruth]:
    contacts = [c for c in world.contacts if c.created <= now]
    named = sorted({k for c in contacts for k in holdout_keys(c.holdout)} - {UNIVERSAL_HOLDOUT})
    for key in named:
        sends = sorted((s for s in world.sends if s.campaign_key == key and s.send_time <= now), key=lambda s: s.send_time)
        if not sends:
            continue
        first = sends[0]
        lst = next(lst for lst in world.lists if lst.id == first.list_id)
        population = {_email_person(graph, m["email"]) for m in lst.members
                      if m["status"] == "subscribed" or m["last_changed"] > first.send_time}
        sent = {_email_person(graph, e) for s in sends for e in s.recipients}
        held = {graph.find(("crm", c.id)) for c in contacts if holdout_keys(c.holdout) & {key, UNIVERSAL_HOLDOUT}}
        members = {"treated": population & sent, "holdout": population & held}
        experiment = ExperimentTruth(f"holdout:{key}", "holdout", key, "holdout")
        _fill_arms(experiment, members, property_date(first.send_time), outcomes)
        yield experiment


def _web_experiments(world: World, now: datetime, graph, outcomes: _Outcomes) -> Iterable[ExperimentTruth]:
    members: dict[str, dict[str, set[Person]]] = defaultdict(lambda: defaultdict(set))
    first_exposure: dict[str, dict[Person, date]] = defaultdict(dict)
    for imp in world.experience_impressions:
        if imp.site_user_id is None or imp.date > now.date():
            continue  # anonymous traffic is no person
        experiment_id, _, variant = imp.exp_variant_string.rpartition("-")
        person = graph.find(("site", imp.site_user_id))
        members[experiment_id][variant].add(person)
        known = first_exposure[experiment_id].get(person)
        first_exposure[experiment_id][person] = imp.date if known is None else min(known, imp.date)
    for experiment_id in sorted(members):
        arms = dict(sorted(members[experiment_id].items()))
        experiment = ExperimentTruth(f"ga4:{experiment_id}", "web_experience", None, next(iter(arms)))
        _fill_arms(experiment, arms, first_exposure[experiment_id], outcomes)
        yield experiment


def experiments(world: World, now: datetime | None = None) -> dict[str, ExperimentTruth]:
    """experiment id -> its kind, control arm and per-arm units and outcomes."""
    now = now or world.default_now
    graph = identity_graph(world, now)
    outcomes = _Outcomes(world, now, graph)
    found = [*_email_experiments(world, now, graph, outcomes), *_holdout_experiments(world, now, graph, outcomes),
             *_web_experiments(world, now, graph, outcomes)]
    return {e.experiment_id: e for e in found}


def experiment_arms(world: World, now: datetime | None = None) -> dict[tuple[str, str], ArmTruth]:
    """(experiment id, arm) -> units, units_excluded and outcomes: the expected `fct_experiment_arms`."""
    return {(e.experiment_id, arm): truth for e in experiments(world, now).values() for arm, truth in e.arms.items()}


def ab_split_report(world: World, now: datetime | None = None) -> dict[str, dict[str, dict]]:
    """Mailchimp campaign id -> group a / b -> the figures its report's `ab_split` must carry, from the
    recipients' own activity as of `now` (emails as Mailchimp stores them)."""
    now = now or world.default_now
    out: dict[str, dict[str, dict]] = {}
    for send in world.sends:
        if send.absplit is None or send.send_time > now:
            continue
        out[send.id] = {}
        for group in "ab":
            emails = {e for e, g in send.absplit.groups.items() if g == group}
            acts = [a for a in send.activity if a.email in emails and a.ts <= now]
            opens = [a for a in acts if a.action == "open"]
            out[send.id][group] = {
                "recipients": len(emails),
                "bounces": len({a.email for a in acts if a.action == "bounce"}),
                "unsubs": len(emails & send.absplit.unsubscribers),
                "opens": len(opens),
                "unique_opens": len({a.email for a in opens}),
                "recipient_clicks": len({a.email for a in acts if a.action == "click"}),
                "last_open": max((a.ts for a in opens), default=None),
            }
    return out
