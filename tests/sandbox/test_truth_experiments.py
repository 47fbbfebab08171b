"""The sandbox's experiments: designed effects with the designed sign, A/A without one, units per
person with persons seen in two arms excluded, and effects large enough to detect at the default scale."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from connectors.sandbox.truth import identity_graph
from connectors.sandbox.truth_experiments import ab_split_report, experiments, holdout_keys
from connectors.sandbox.world import EXPERIMENTS, World, WorldConfig

UTC = timezone.utc


def two_proportion_z(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """Pooled two-proportion z statistic of b against a."""
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return (successes_b / n_b - successes_a / n_a) / se


def rate(arm, metric: str) -> float:
    return getattr(arm, metric) / arm.units


def by_kind(truth: dict, world: World) -> dict:
    sends = world.experiment_sends
    return {
        "ab_effect": truth[f"mailchimp:{sends['ab_effect']}"],
        "ab_a_a": truth[f"mailchimp:{sends['ab_a_a']}"],
        "variate": truth[f"mailchimp:{sends['variate_content']}"],
        "holdout": truth[f"holdout:{EXPERIMENTS.holdout.campaign_key}"],
        "web": truth[f"ga4:{EXPERIMENTS.web.experiment_id}"],
    }


@pytest.fixture(scope="module")
def default_world() -> World:
    return World(WorldConfig(seed=7, people=1000))


def test_the_world_runs_every_experiment_with_the_ids_and_arms_of_the_design(world):
    truth = experiments(world)
    subject_variate = next(s for s in world.sends if s.variate and s.id not in world.experiment_sends.values())
    assert set(truth) == {
        *(f"mailchimp:{i}" for i in world.experiment_sends.values() if i != world.experiment_sends["holdout"]),
        f"mailchimp:{subject_variate.id}", "holdout:loyalty_club", "ga4:SBX-checkout26"}
    e = by_kind(truth, world)
    assert [list(x.arms) for x in (e["ab_effect"], e["holdout"], e["web"])] == [["a", "b"], ["treated", "holdout"],
                                                                                 ["control", "express"]]
    assert (e["ab_effect"].control_arm, e["holdout"].control_arm, e["web"].control_arm) == ("a", "holdout", "control")
    design = next(s for s in world.sends if s.id == world.experiment_sends["variate_content"]).variate_design
    assert list(e["variate"].arms) == [c.id for c in design.combinations] and e["variate"].control_arm == design.combinations[0].id
    # opens per combination of a variate campaign are not measurable: the truth does not pretend
    assert all(a.opened is None and a.clicked is not None for a in e["variate"].arms.values())
    assert all(a.opened is None and a.clicked is None for x in (e["holdout"], e["web"]) for a in x.arms.values())
    # the base world's subject-line test: both combinations share their links, so clicks cannot tell them apart
    assert not truth[f"mailchimp:{subject_variate.id}"].clicks_observable_per_arm
    assert e["variate"].clicks_observable_per_arm


def test_designed_effects_have_the_designed_sign(world):
    e = by_kind(experiments(world), world)
    a, b = e["ab_effect"].arms["a"], e["ab_effect"].arms["b"]
    assert rate(b, "opened") > rate(a, "opened") and rate(b, "clicked") > rate(a, "clicked")
    best = max(range(len(EXPERIMENTS.variate.click_rate)), key=EXPERIMENTS.variate.click_rate.__getitem__)
    arms = list(e["variate"].arms.values())
    assert max(arms, key=lambda arm: rate(arm, "clicked")) is arms[best]
    treated, held = e["holdout"].arms["treated"], e["holdout"].arms["holdout"]
    for metric in ("web_engaged", "key_event", "revenue_sum"):
        assert rate(treated, metric) > rate(held, metric), metric
    control, express = e["web"].arms["control"], e["web"].arms["express"]
    for metric in ("key_event", "revenue_sum"):
        assert rate(express, metric) > rate(control, metric), metric


def test_the_a_a_test_and_the_designs_say_what_the_effects_are():
    a_a = next(p for p in EXPERIMENTS.ab_splits if p.label == "ab_a_a")
    assert a_a.open_rate[0] == a_a.open_rate[1] and a_a.click_rate[0] == a_a.click_rate[1] and a_a.subjects[0] == a_a.subjects[1]
    effect = next(p for p in EXPERIMENTS.ab_splits if p.label == "ab_effect")
    assert effect.open_rate[1] > effect.open_rate[0] and effect.click_rate[1] > effect.click_rate[0]
    assert EXPERIMENTS.web.purchase_rate[1] > EXPERIMENTS.web.purchase_rate[0]
    assert len(set(EXPERIMENTS.variate.utm_contents)) == len(EXPERIMENTS.variate.contents)


def test_effects_are_detectable_at_the_default_scale(default_world):
    e = by_kind(experiments(default_world), default_world)
    a, b = e["ab_effect"].arms["a"], e["ab_effect"].arms["b"]
    assert two_proportion_z(a.opened, a.units, b.opened, b.units) > 2.58
    assert two_proportion_z(a.clicked, a.units, b.clicked, b.units) > 2.58
    held, treated = e["holdout"].arms["holdout"], e["holdout"].arms["treated"]
    assert two_proportion_z(held.web_engaged, held.units, treated.web_engaged, treated.units) > 2.58
    assert two_proportion_z(held.key_event, held.units, treated.key_event, treated.units) > 2.58
    control, express = e["web"].arms["control"], e["web"].arms["express"]
    assert two_proportion_z(control.key_event, control.units, express.key_event, express.units) > 2.58
    arms = list(e["variate"].arms.values())
    assert two_proportion_z(arms[0].clicked, arms[0].units, arms[2].clicked, arms[2].units) > 2.58
    a_a = e["ab_a_a"].arms
    assert abs(two_proportion_z(a_a["a"].opened, a_a["a"].units, a_a["b"].opened, a_a["b"].units)) < 1.96


def test_a_person_in_two_arms_is_excluded_from_both_never_counted_twice(world):
    e = by_kind(experiments(world), world)
    plan = EXPERIMENTS.holdout
    holdout = e["holdout"].arms
    assert holdout["treated"].units_excluded == holdout["holdout"].units_excluded == plan.sent_anyway + plan.duplicate_contacts
    web = e["web"].arms
    assert web["control"].units_excluded == web["express"].units_excluded == EXPERIMENTS.web.both_variants
    assert all(arm.units_excluded == 0 for arm in e["ab_effect"].arms.values())


def test_a_duplicate_crm_contact_merges_into_the_treated_person_it_duplicates(world):
    graph = identity_graph(world, world.default_now)
    holdout_send = next(s for s in world.sends if s.id == world.experiment_sends["holdout"])
    recipients = {graph.find(("email", e.strip().lower())) for e in holdout_send.recipients}
    duplicates = [c for c in world.contacts if c.holdout and int(c.id) >= 9100]
    assert len(duplicates) == EXPERIMENTS.holdout.duplicate_contacts
    for c in duplicates:
        original = next(o for o in world.contacts if o is not c and o.email and o.email.strip().lower() == c.email.strip().lower())
        assert graph.find(("crm", c.id)) == graph.find(("crm", original.id)) in recipients


def test_holdout_values_are_campaign_keys_or_all_and_some_contacts_are_held_out_of_one_campaign_only(world):
    values = [holdout_keys(c.holdout) for c in world.contacts if c.holdout]
    assert {"all"} in values and {"loyalty_club", "all"} in values and {"loyalty_club"} in values
    assert any(c.holdout and c.holdout != c.holdout.strip().lower() for c in world.contacts)  # as typed, not normalised
    assert sum("all" in v for v in values) == EXPERIMENTS.holdout.universal
    held_emails = {c.email.strip().lower() for c in world.contacts if holdout_keys(c.holdout) == {"loyalty_club"}}
    other_sends = [s for s in world.sends if s.campaign_key not in (None, "loyalty_club")]
    assert any(e.strip().lower() in held_emails for s in other_sends for e in s.recipients)


def test_ab_split_report_groups_are_the_test_groups(world):
    report = ab_split_report(world)
    for label in ("ab_effect", "ab_a_a"):
        send = next(s for s in world.sends if s.id == world.experiment_sends[label])
        groups = report[send.id]
        size = len(send.recipients) * send.absplit.plan.split_size // 100
        assert groups["a"]["recipients"] == groups["b"]["recipients"] == size > 0
        winners = sum(1 for g in send.absplit.groups.values() if g == "winner")
        assert winners == len(send.recipients) - 2 * size
        assert all(g["unique_opens"] <= g["opens"] and g["recipient_clicks"] <= g["recipients"] for g in groups.values())


def test_the_truth_follows_the_clock(world):
    before = experiments(world, datetime(2026, 10, 10, tzinfo=UTC))
    assert all(not eid.startswith("holdout:") for eid in before)
    assert f"mailchimp:{world.experiment_sends['ab_effect']}" not in before
    assert experiments(world) == experiments(world, world.default_now)


def test_same_seed_same_experiments_and_a_short_world_runs_none_that_would_not_fit():
    assert experiments(World(WorldConfig(seed=3, people=200))) == experiments(World(WorldConfig(seed=3, people=200)))
    short = World(WorldConfig(seed=11, people=120, days=14))
    assert short.experiment_sends == {} and not any(c.holdout for c in short.contacts)
