"""The data experiments need, read through the real wire formats from a sandbox each test starts.

Expected figures come straight from the `world` fixture (and its experiment truth), never through
the API. What the real APIs cannot tell stays untold: no per-recipient combination of a variate
campaign appears anywhere on the wire.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pyarrow as pa
import pytest
import requests

from connectors.ga4 import Ga4Client
from connectors.http import ConfigError
from connectors.hubspot import HubSpotClient
from connectors.mailchimp import MailchimpClient, link_utm_contents
from connectors.sandbox import api_ga4
from connectors.sandbox.truth_experiments import ab_split_report
from connectors.sandbox.world import EXPERIMENTS
from connectors.streams import Window, page_records
from dagster_project.lib.clients import build_client
from dagster_project.lib.settings import load_settings


# --- helpers ---------------------------------------------------------------------------------
def mailchimp(sandbox) -> MailchimpClient:
    return MailchimpClient.from_settings(api_key=sandbox.credentials.mailchimp_key, base_url=f"{sandbox.url}/3.0")


def ga4(sandbox) -> Ga4Client:
    env = sandbox.env()
    return Ga4Client.from_settings(env["GA4_PROPERTY_ID"], env["GA4_ACCESS_TOKEN"], env["GA4_USER_ID_DIMENSION"],
                                   env["GA4_API_URL"])


def hubspot(sandbox, **kw) -> HubSpotClient:
    env = sandbox.env()
    return HubSpotClient.from_settings(env["HUBSPOT_ACCESS_TOKEN"], env["HUBSPOT_API_URL"], **kw)


def rows_of(client, stream: str, window: Window) -> list[dict]:
    spec = next(s for s in client.STREAMS if s.name == stream)
    rows = []
    for page in map(page_records, client.read(stream, window)):
        assert all(set(r) == set(spec.schema.names) for r in page)
        pa.Table.from_pylist(page, schema=spec.schema)  # every page fits the declared schema
        rows += page
    return rows


def whole(world) -> Window:
    return Window(world.start, world.end)


def get(sandbox, path: str, **params) -> dict:
    answer = requests.get(f"{sandbox.url}/3.0{path}", params=params, auth=("any", sandbox.credentials.mailchimp_key), timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def sends_of(world, kind: str) -> list:
    return [s for s in world.sends if (s.absplit if kind == "absplit" else s.variate_design) is not None]


# --- Mailchimp: A/B split -------------------------------------------------------------------
def test_each_recipients_absplit_group_equals_the_world_and_is_null_outside_ab_split_campaigns(sandbox, world):
    rows = rows_of(mailchimp(sandbox), "recipients", whole(world))
    got = Counter((r["campaign_id"], r["absplit_group"]) for r in rows if r["absplit_group"] is not None)
    expected = Counter((s.id, g) for s in sends_of(world, "absplit") for g in s.absplit.groups.values())
    assert got == expected
    assert {g for _, g in got} == {"a", "b", "winner"}
    ab_ids = {s.id for s in sends_of(world, "absplit")}
    assert all(r["absplit_group"] is None for r in rows if r["campaign_id"] not in ab_ids)
    assert sum(1 for r in rows if r["absplit_group"] is None) == sum(len(s.recipients) for s in world.sends if s.id not in ab_ids)


def test_ab_split_report_groups_reconcile_with_sent_to_and_email_activity(sandbox, world):
    client = mailchimp(sandbox)
    reports = {r["campaign_id"]: r for r in rows_of(client, "reports", whole(world))}
    recipients = rows_of(client, "recipients", whole(world))
    activity = rows_of(client, "email_activity", whole(world))
    group_of = {(r["campaign_id"], r["email_id"]): r["absplit_group"] for r in recipients}
    truth = ab_split_report(world, sandbox.now)
    assert {cid for cid, r in reports.items() if r["ab_split"]} == set(truth) == {s.id for s in sends_of(world, "absplit")}
    for cid in truth:
        ab_split = json.loads(reports[cid]["ab_split"])
        assert set(ab_split) == {"a", "b"}  # the winner group is in the campaign's totals only
        for group in "ab":
            mine = [a for a in activity if a["campaign_id"] == cid and group_of[(cid, a["email_id"])] == group]
            from_rows = {
                "unique_opens": len({a["email_id"] for a in mine if a["action"] == "open"}),
                "opens": sum(1 for a in mine if a["action"] == "open"),
                "recipient_clicks": len({a["email_id"] for a in mine if a["action"] == "click"}),
                "bounces": sum(1 for r in recipients if r["campaign_id"] == cid and r["absplit_group"] == group
                               and r["status"] != "sent"),
            }
            reported = ab_split[group]
            assert {k: reported[k] for k in from_rows} == from_rows
            assert {k: reported[k] for k in from_rows} == {k: truth[cid][group][k] for k in from_rows}
            assert reported["unsubs"] == truth[cid][group]["unsubs"]
            assert set(reported) == {"bounces", "abuse_reports", "unsubs", "recipient_clicks", "forwards", "forwards_opens",
                                     "opens", "last_open", "unique_opens"}
    assert all(r["ab_split"] is None for cid, r in reports.items() if cid not in truth)


def test_ab_split_campaigns_carry_their_options_and_the_report_type_ab_split(sandbox, world):
    campaigns = {c["id"]: c for c in rows_of(mailchimp(sandbox), "campaigns", whole(world))}
    for send in sends_of(world, "absplit"):
        row = campaigns[send.id]
        options = json.loads(row["ab_split_opts"])
        plan = send.absplit.plan
        assert row["type"] == "absplit" and row["variate_settings"] is None
        assert (options["split_test"], options["pick_winner"], options["split_size"], options["wait_time"],
                options["wait_units"]) == ("subject", plan.pick_winner, plan.split_size, plan.wait_hours, "hours")
        assert (options["subject_a"], options["subject_b"]) == plan.subjects
        report = get(sandbox, f"/reports/{send.id}")
        assert report["type"] == "ab_split" and set(report["ab_split"]) == {"a", "b"}
    assert all(c["ab_split_opts"] is None for cid, c in campaigns.items() if cid not in {s.id for s in sends_of(world, "absplit")})


# --- Mailchimp: variate ---------------------------------------------------------------------
def test_variate_campaigns_carry_each_combinations_recipient_count_summing_to_the_test_size(sandbox, world):
    campaigns = {c["id"]: c for c in rows_of(mailchimp(sandbox), "campaigns", whole(world))}
    variates = sends_of(world, "variate")
    assert len(variates) == 2
    for send in variates:
        row, design = campaigns[send.id], send.variate_design
        settings = json.loads(row["variate_settings"])
        assert row["type"] == "variate" and row["ab_split_opts"] is None
        assert json.loads(row["variate_combinations"]) == json.loads(json.dumps(settings["combinations"], sort_keys=True))
        combinations = settings["combinations"]
        assert [c["id"] for c in combinations] == [c.id for c in design.combinations]
        assert [c["recipients"] for c in combinations] == [
            sum(1 for i in design.assignment.values() if i == k) for k in range(len(design.combinations))]
        assert sum(c["recipients"] for c in combinations) == round(row["emails_sent"] * settings["test_size"] / 100)
        assert settings["winning_combination_id"] == row["variate_winner"] in {c["id"] for c in combinations}
        assert (settings["winner_criteria"], settings["wait_time"]) == (design.winner_criteria, design.wait_minutes)
        assert settings["winning_campaign_id"] == design.winning_campaign_id
    content = next(s for s in variates if s.id == world.experiment_sends["variate_content"])
    assert json.loads(campaigns[content.id]["variate_settings"])["test_size"] == EXPERIMENTS.variate.test_size
    assert json.loads(campaigns[content.id]["variate_settings"])["contents"] == list(EXPERIMENTS.variate.contents)


def test_no_per_recipient_combination_appears_anywhere_on_the_wire(sandbox, world):
    for send in sends_of(world, "variate"):
        combination_ids = [c.id for c in send.variate_design.combinations]
        sent_to = get(sandbox, f"/reports/{send.id}/sent-to", count=1000)
        activity = get(sandbox, f"/reports/{send.id}/email-activity", count=1000)
        answers = [sent_to, activity, get(sandbox, f"/reports/{send.id}"), get(sandbox, f"/reports/{send.id}/sub-reports")]
        for answer in answers:
            text = json.dumps(answer)
            assert not any(cid in text for cid in combination_ids)
            assert "combination" not in text
        assert {item["absplit_group"] for item in sent_to["sent_to"]} == {""}
        assert len(sent_to["sent_to"]) == len(send.recipients)
        assert "ab_split" not in get(sandbox, f"/reports/{send.id}")
    rows = rows_of(mailchimp(sandbox), "recipients", whole(world))
    variate_ids = {s.id for s in sends_of(world, "variate")}
    assert all(r["absplit_group"] is None for r in rows if r["campaign_id"] in variate_ids)


def test_sub_reports_list_only_a_variates_winning_campaign(sandbox, world):
    subject = next(s for s in sends_of(world, "variate") if s.id not in world.experiment_sends.values())
    design = subject.variate_design
    answer = get(sandbox, f"/reports/{subject.id}/sub-reports")
    assert (answer["campaign_id"], answer["total_items"]) == (subject.id, 1)
    (child,) = answer["reports"]
    remainder = set(design.remainder)
    assert child["id"] == design.winning_campaign_id and child["emails_sent"] == len(remainder)
    assert child["emails_sent"] == len(subject.recipients) - len(design.assignment)
    openers = {a.email for a in subject.activity if a.action == "open" and a.email in remainder and a.ts <= sandbox.now}
    assert child["opens"]["unique_opens"] == len(openers)
    assert get(sandbox, f"/reports/{child['id']}")["emails_sent"] == len(remainder)
    others = [s for s in world.sends if s.id != subject.id and s.send_time <= sandbox.now]
    for send in others:
        assert get(sandbox, f"/reports/{send.id}/sub-reports")["reports"] == []


def test_variate_contents_give_the_utm_content_that_tells_combinations_apart(sandbox, world):
    client = mailchimp(sandbox)
    contents = rows_of(client, "variate_contents", whole(world))
    by_campaign = defaultdict(dict)
    for r in contents:
        by_campaign[r["campaign_id"]][r["content_index"]] = (r["content_label"], json.loads(r["link_utm_contents"]))
    content_id = world.experiment_sends["variate_content"]
    subject_id = next(s.id for s in sends_of(world, "variate") if s.id != content_id)
    assert set(by_campaign) == {content_id, subject_id}
    plan = EXPERIMENTS.variate
    assert by_campaign[content_id] == {i: (label, [u]) for i, (label, u) in enumerate(zip(plan.contents, plan.utm_contents, strict=True))}
    assert by_campaign[subject_id] == {0: ("Content A", [])}  # a subject-line test: the same links for every combination
    # the clicks carry the same utm_content, one per combination of the content test
    clicks = [a for a in rows_of(client, "email_activity", whole(world)) if a["campaign_id"] == content_id and a["action"] == "click"]
    send = next(s for s in world.sends if s.id == content_id)
    expected = Counter(plan.utm_contents[send.variate_design.assignment[a.email]] for a in send.activity if a.action == "click")
    assert Counter(link_utm_contents(f'<a href="{a["url"]}">')[0] for a in clicks) == expected
    assert set(expected) == set(plan.utm_contents)


# --- HubSpot: the holdout property ----------------------------------------------------------
def test_the_holdout_property_round_trips_as_stored(sandbox, world):
    rows = rows_of(hubspot(sandbox), "contacts", whole(world))
    expected = {c.id: c.holdout for c in world.contacts if c.created <= sandbox.now}
    assert {r["id"]: r["holdout"] for r in rows} == expected
    held = {v for v in expected.values() if v}
    assert len(held) >= 3 and any(";" in v for v in held) and "all" in held
    assert any(v != v.strip().lower() for v in held)  # kept as typed: staging trims and lower-cases


def test_the_holdout_property_name_is_configurable_and_reaches_the_client(sandbox, world):
    rows = rows_of(hubspot(sandbox, holdout_property="crm_holdout"), "contacts", whole(world))
    assert rows and all(r["holdout"] is None for r in rows)  # a property the portal lacks reads as null
    env = {**sandbox.env(), "ENGAGEMENT_SOURCES": "hubspot"}
    assert build_client("hubspot", load_settings(env)).holdout_property == "engagement_holdout"
    assert build_client("hubspot", load_settings({**env, "HUBSPOT_HOLDOUT_PROPERTY": "crm_holdout"})).holdout_property == "crm_holdout"
    with pytest.raises(ConfigError, match="HUBSPOT_HOLDOUT_PROPERTY"):
        build_client("hubspot", load_settings({**env, "HUBSPOT_HOLDOUT_PROPERTY": "not a name"}))


# --- GA4: value and experiences per identified user -----------------------------------------
def test_ga4_value_rows_equal_the_world_per_user_and_day(sandbox, world):
    rows = rows_of(ga4(sandbox), "user_value_days", whole(world))
    expected: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0])
    for s in world.sessions:
        figures = expected[(s.date, s.site_user_id or "(not set)")]
        figures[0] += s.key_events
        figures[1] += s.transactions
        figures[2] += s.purchase_revenue
    expected = {k: v for k, v in expected.items() if any(v)}  # GA4 leaves out rows whose metrics are all zero
    got = {(r["date"], r["user_id"]): r for r in rows}
    assert set(got) == set(expected) and len(rows) == len(expected)
    for key, (key_events, transactions, revenue) in expected.items():
        assert (got[key]["key_events"], got[key]["transactions"]) == (key_events, transactions)
        assert got[key]["purchase_revenue"] == pytest.approx(revenue, abs=0.005)
    assert sum(r["transactions"] for r in rows) == sum(s.transactions for s in world.sessions) > 0
    assert {r["property_time_zone"] for r in rows} == {"Europe/Berlin"}


def test_ga4_experience_rows_equal_the_world(sandbox, world):
    rows = rows_of(ga4(sandbox), "user_experiences", whole(world))
    expected = Counter()
    for imp in world.experience_impressions:
        expected[(imp.date, imp.site_user_id or "(not set)", imp.exp_variant_string)] += imp.count
    assert {(r["date"], r["user_id"], r["exp_variant_string"]): r["impressions"] for r in rows} == dict(expected)
    assert len(rows) == len(expected)
    assert {r["exp_variant_string"] for r in rows} == {f"{EXPERIMENTS.web.experiment_id}-{v}" for v in EXPERIMENTS.web.variants}


def test_a_property_without_the_experiment_integration_gives_an_empty_stream(sandbox, world, monkeypatch):
    monkeypatch.setattr(api_ga4, "EXPERIENCE_DIMENSION_REGISTERED", False)
    assert rows_of(ga4(sandbox), "user_experiences", whole(world)) == []
    assert sandbox.requests["ga4.runReport"] == 1


def test_the_experience_report_asks_for_experience_impression_events_only(sandbox, world):
    client = ga4(sandbox)
    seen = []
    original = client.request

    def spy(method, url, **kw):
        seen.append(kw.get("json"))
        return original(method, url, **kw)

    client.request = spy
    rows_of(client, "user_experiences", whole(world))
    body = seen[0]
    assert [d["name"] for d in body["dimensions"]] == ["date", "customUser:site_user_id", "customEvent:exp_variant_string"]
    assert [m["name"] for m in body["metrics"]] == ["eventCount"]
    assert body["dimensionFilter"] == {"filter": {"fieldName": "eventName",
                                                  "stringFilter": {"matchType": "EXACT", "value": "experience_impression"}}}
