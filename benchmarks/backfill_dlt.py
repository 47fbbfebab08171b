"""dlt's side of the backfill benchmark: every stream as dlt `rest_api` resources, in one source.

Each resource asks for what our connector asks for (same paths, parameters, windows and page sizes
where dlt lets us choose them); per-item streams are dependent resources of a listing. Every resource
is `parallelized`, the load is Parquet and `append` into a fresh dataset (no merge to pay for). What
dlt cannot express the same way is said where it happens. `STREAMS` maps each of our tables to the dlt
table holding one row per record of it (nested lists become child tables in dlt).
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb

# our table -> the dlt table with one row per record of our stream
STREAMS: dict[str, str] = {
    "raw_ga4.campaign_daily": "ga4_campaign_daily", "raw_ga4.user_daily": "ga4_user_daily",
    "raw_ga4.user_value_days": "ga4_user_value_days", "raw_ga4.user_experiences": "ga4_user_experiences",
    "raw_mailchimp.campaigns": "mailchimp_campaigns", "raw_mailchimp.reports": "mailchimp_reports",
    "raw_mailchimp.email_activity": "mailchimp_email_activity__activity",  # each recipient's activity list
    "raw_mailchimp.recipients": "mailchimp_recipients", "raw_mailchimp.list_members": "mailchimp_list_members",
    # one row per content of a variate campaign, or one for its own html when it tests no content
    "raw_mailchimp.variate_contents": """select coalesce(sum(greatest(1, coalesce(c.n, 0))), 0)
        from raw.mailchimp_variate_contents p left join (select _dlt_parent_id, count(*) n
        from raw.mailchimp_variate_contents__variate_contents group by 1) c on c._dlt_parent_id = p._dlt_id""",
    "raw_x.posts": "x_posts", "raw_x.mentions": "x_mentions", "raw_x.replies": "x_replies",
    "raw_x.liking_users": "x_liking_users", "raw_x.reposted_by": "x_reposted_by",
    "raw_facebook.posts": "facebook_posts", "raw_facebook.comments": "facebook_comments",
    "raw_facebook.reactions": "facebook_reactions", "raw_facebook.post_insights": "facebook_post_insights",
    "raw_facebook.tags": "facebook_tags",
    "raw_linkedin.posts": "linkedin_posts", "raw_linkedin.reactions": "linkedin_reactions",
    "raw_linkedin.comments": "linkedin_comments", "raw_linkedin.mentions": "linkedin_mentions",
    "raw_hubspot.contacts": "hubspot_contacts",
}
DATASET = "raw"


def _iso(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=timezone.utc).isoformat()


def _epoch(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=timezone.utc).timestamp())


def _ms(day: date) -> int:
    return _epoch(day) * 1000


def _in_window(start: date, end: date, key: str, parse) -> Any:
    lo, hi = datetime.combine(start, time(), tzinfo=timezone.utc), datetime.combine(end, time(), tzinfo=timezone.utc)
    return lambda r: lo <= parse(r[key]) < hi


def _fb_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")


def _x_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _li_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def configs(env: dict[str, str], start: date, end: date) -> list[dict]:
    """One rest_api config per API for a backfill of [start, end): start is the first day with the
    lookback, as our run reads it (every stream of a 90-day backfill reads from start on)."""
    last = end - timedelta(days=1)
    offset = {"type": "offset", "limit": 1000, "limit_param": "count", "total_path": "total_items"}

    def mailchimp_listing(name: str, records: str, **params: Any) -> dict:
        return {"name": name, "selected": False, "parallelized": True,
                "endpoint": {"path": "campaigns", "data_selector": records, "paginator": offset,
                             "params": {"status": "sent", "since_send_time": _iso(start), "before_send_time": _iso(end),
                                        "sort_field": "send_time", "sort_dir": "ASC", "exclude_fields": "_links", **params}}}

    sent = {"status": "sent", "since_send_time": _iso(start), "before_send_time": _iso(end),
            "sort_field": "send_time", "sort_dir": "ASC"}
    mailchimp = {
        "client": {"base_url": env["MAILCHIMP_API_URL"] + "/",
                   "auth": {"type": "http_basic", "username": "anystring", "password": env["MAILCHIMP_API_KEY"]}},
        "resource_defaults": {"write_disposition": "append", "parallelized": True},
        "resources": [
            {"name": "mailchimp_campaigns", "endpoint": {"path": "campaigns", "data_selector": "campaigns", "paginator": offset,
                                                          "params": {**sent, "exclude_fields": "_links,campaigns._links"}}},
            {"name": "mailchimp_reports", "endpoint": {"path": "reports", "data_selector": "reports", "paginator": offset,
                                                        "params": {k: v for k, v in sent.items() if k != "status"}}},
            mailchimp_listing("mc_campaigns_activity", "campaigns"),
            {"name": "mailchimp_email_activity", "endpoint": {
                "path": "reports/{resources.mc_campaigns_activity.id}/email-activity", "data_selector": "emails",
                "paginator": offset, "params": {"since": _iso(start), "filter_bots": "true",
                                                "exclude_fields": "_links,emails._links"}}},
            mailchimp_listing("mc_campaigns_sent_to", "campaigns"),
            {"name": "mailchimp_recipients", "endpoint": {
                "path": "reports/{resources.mc_campaigns_sent_to.id}/sent-to", "data_selector": "sent_to",
                "paginator": offset, "params": {"exclude_fields": "_links,sent_to._links,sent_to.merge_fields"}}},
            {**mailchimp_listing("mc_campaigns_variate", "campaigns"),
             "processing_steps": [{"filter": lambda c: c.get("type") == "variate"}]},
            {"name": "mailchimp_variate_contents", "endpoint": {
                "path": "campaigns/{resources.mc_campaigns_variate.id}/content", "paginator": "single_page",
                "params": {"exclude_fields": "_links,plain_text,archive_html,variate_contents.plain_text"}}},
            {"name": "mc_lists", "selected": False, "endpoint": {"path": "lists", "data_selector": "lists", "paginator": offset,
                                                                 "params": {"exclude_fields": "_links,lists._links"}}},
            {"name": "mailchimp_list_members", "endpoint": {
                "path": "lists/{resources.mc_lists.id}/members", "data_selector": "members", "paginator": offset,
                "params": {"exclude_fields": "_links,members._links"}}},
        ],
    }

    def ga4(name: str, dimensions: list[str], metrics: list[str], dimension_filter: dict | None = None) -> dict:
        body: dict = {"dateRanges": [{"startDate": start.isoformat(), "endDate": last.isoformat()}],
                      "dimensions": [{"name": d} for d in dimensions], "metrics": [{"name": m} for m in metrics],
                      "orderBys": [{"dimension": {"dimensionName": d}} for d in dimensions], "keepEmptyRows": False}
        if dimension_filter:
            body["dimensionFilter"] = dimension_filter

        def flat(row: dict) -> dict:  # what a dlt user writes for GA4: the positional value lists as columns
            values = [v["value"] for v in row["dimensionValues"]] + [v["value"] for v in row["metricValues"]]
            return dict(zip([*dimensions, *metrics], values, strict=True))

        return {"name": name, "endpoint": {
            "path": f"properties/{env['GA4_PROPERTY_ID']}:runReport", "method": "POST", "json": body, "data_selector": "rows",
            "paginator": {"type": "offset", "limit": 100_000, "offset_body_path": "offset", "limit_body_path": "limit",
                          "total_path": "rowCount"}},
            "processing_steps": [{"map": flat}]}

    user = env["GA4_USER_ID_DIMENSION"]
    session_metrics = ["sessions", "engagedSessions", "screenPageViews", "userEngagementDuration", "activeUsers"]
    ga4_config = {
        "client": {"base_url": env["GA4_API_URL"] + "/", "auth": {"type": "bearer", "token": env["GA4_ACCESS_TOKEN"]}},
        "resource_defaults": {"write_disposition": "append", "parallelized": True},
        "resources": [
            ga4("ga4_campaign_daily", ["date", "sessionCampaignName", "newVsReturning"], session_metrics),
            ga4("ga4_user_daily", ["date", "sessionCampaignName", user], session_metrics),
            ga4("ga4_user_value_days", ["date", user], ["keyEvents", "transactions", "purchaseRevenue"]),
            ga4("ga4_user_experiences", ["date", user, "customEvent:exp_variant_string"], ["eventCount"],
                {"filter": {"fieldName": "eventName", "stringFilter": {"matchType": "EXACT", "value": "experience_impression"}}}),
        ],
    }

    x_user = env["X_USER_ID"]
    timeline = {"start_time": _iso(start).replace("+00:00", "Z"), "end_time": _iso(end).replace("+00:00", "Z"),
                "max_results": 100}
    token = {"type": "cursor", "cursor_path": "meta.next_token", "cursor_param": "pagination_token"}
    x_posts_in_window = _in_window(start, end, "created_at", _x_time)

    def x_listing(name: str) -> dict:
        return {"name": name, "selected": False, "processing_steps": [{"filter": x_posts_in_window}],
                "endpoint": {"path": f"users/{x_user}/tweets", "data_selector": "data", "paginator": token,
                             "params": {**timeline, "tweet.fields": "created_at"}}}

    x_config = {
        # X's user-context token reads every endpoint; the app-only one is refused on liking_users
        "client": {"base_url": env["X_API_URL"] + "/", "auth": {"type": "bearer", "token": env["X_USER_ACCESS_TOKEN"]}},
        "resource_defaults": {"write_disposition": "append", "parallelized": True},
        "resources": [
            {"name": "x_posts", "processing_steps": [{"filter": x_posts_in_window}], "endpoint": {
                "path": f"users/{x_user}/tweets", "data_selector": "data", "paginator": token,
                "params": {**timeline, "tweet.fields": "created_at,public_metrics,entities,conversation_id"}}},
            {"name": "x_mentions", "processing_steps": [{"filter": x_posts_in_window}], "endpoint": {
                "path": f"users/{x_user}/mentions", "data_selector": "data", "paginator": token,
                "params": {**timeline, "tweet.fields": "created_at,entities,conversation_id,author_id,in_reply_to_user_id,"
                           "referenced_tweets", "expansions": "author_id", "user.fields": "username"}}},
            x_listing("x_posts_replies"),
            {"name": "x_replies", "include_from_parent": ["id"],
             "processing_steps": [{"filter": lambda r: r["id"] != r["_x_posts_replies_id"]}],  # the root post itself
             "endpoint": {"path": "tweets/search/recent", "data_selector": "data",
                          "paginator": {"type": "cursor", "cursor_path": "meta.next_token", "cursor_param": "next_token"},
                          "params": {"query": "conversation_id:{resources.x_posts_replies.id}", "max_results": 100,
                                     "tweet.fields": "created_at,author_id,conversation_id,in_reply_to_user_id",
                                     "expansions": "author_id", "user.fields": "username"}}},
            x_listing("x_posts_likers"),
            {"name": "x_liking_users", "endpoint": {"path": "tweets/{resources.x_posts_likers.id}/liking_users",
                                                    "data_selector": "data", "paginator": token,
                                                    "params": {"max_results": 100, "user.fields": "username"}}},
            x_listing("x_posts_reposters"),
            {"name": "x_reposted_by", "endpoint": {"path": "tweets/{resources.x_posts_reposters.id}/retweeted_by",
                                                   "data_selector": "data", "paginator": token,
                                                   "params": {"max_results": 100, "user.fields": "username"}}},
        ],
    }

    page = env["FACEBOOK_PAGE_ID"]
    fb_window = {"since": _epoch(start), "until": _epoch(end), "limit": 100}
    next_url = {"type": "json_link", "next_url_path": "paging.next"}
    fb_in_window = _in_window(start, end, "created_time", _fb_time)

    def fb_listing(name: str) -> dict:
        return {"name": name, "selected": False, "processing_steps": [{"filter": fb_in_window}],
                "endpoint": {"path": f"{page}/published_posts", "data_selector": "data", "paginator": next_url,
                             "params": {**fb_window, "fields": "id,created_time"}}}

    facebook = {
        "client": {"base_url": env["FACEBOOK_GRAPH_URL"] + "/", "auth": {"type": "bearer", "token": env["FACEBOOK_ACCESS_TOKEN"]}},
        "resource_defaults": {"write_disposition": "append", "parallelized": True},
        "resources": [
            {"name": "facebook_posts", "processing_steps": [{"filter": fb_in_window}], "endpoint": {
                "path": f"{page}/published_posts", "data_selector": "data", "paginator": next_url,
                "params": {**fb_window, "fields": "id,created_time,message,permalink_url,attachments{{unshimmed_url,url,type}},"
                           "shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"}}},
            {"name": "facebook_tags", "processing_steps": [{"filter": fb_in_window}], "endpoint": {
                "path": f"{page}/tagged", "data_selector": "data", "paginator": next_url,
                "params": {**fb_window, "fields": "id,created_time,message,permalink_url"}}},
            fb_listing("fb_posts_comments"),
            {"name": "facebook_comments", "endpoint": {
                "path": "{resources.fb_posts_comments.id}/comments", "data_selector": "data", "paginator": next_url,
                "params": {"filter": "stream", "order": "chronological", "limit": 100,
                           "fields": "id,created_time,message,from{{id,name}},parent{{id}}"}}},
            fb_listing("fb_posts_reactions"),
            {"name": "facebook_reactions", "endpoint": {
                "path": "{resources.fb_posts_reactions.id}/reactions", "data_selector": "data", "paginator": next_url,
                "params": {"limit": 100, "fields": "id,name,type"}}},
            fb_listing("fb_posts_insights"),
            {"name": "facebook_post_insights", "endpoint": {
                "path": "{resources.fb_posts_insights.id}/insights", "data_selector": "data", "paginator": "single_page",
                "params": {"metric": "post_media_view"}}},
        ],
    }

    org = f"urn:li:organization:{env['LINKEDIN_ORGANIZATION_ID']}"
    restli = {"type": "offset", "limit": 50, "offset_param": "start", "limit_param": "count", "total_path": None,
              "stop_after_empty_page": True}
    li_in_window = _in_window(start, end, "createdAt", _li_time)

    def li_listing(name: str) -> dict:
        return {"name": name, "selected": False, "processing_steps": [{"filter": li_in_window}],
                "endpoint": {"path": "posts", "data_selector": "elements", "paginator": {**restli, "total_path": "paging.total"},
                             "params": {"q": "author", "author": org, "sortBy": "CREATED"}}}

    linkedin = {
        "client": {"base_url": env["LINKEDIN_API_URL"] + "/", "auth": {"type": "bearer", "token": env["LINKEDIN_ACCESS_TOKEN"]},
                   "headers": {"LinkedIn-Version": "202611", "X-Restli-Protocol-Version": "2.0.0"}},
        "resource_defaults": {"write_disposition": "append", "parallelized": True},
        "resources": [
            {**li_listing("linkedin_posts"), "selected": True},
            li_listing("li_posts_metadata"),
            # the counters ours stores with each post: one socialMetadata call per post (ours batches the
            # share statistics per page of posts; dlt has no batching, so it is left out here)
            {"name": "li_social_metadata", "endpoint": {"path": "socialMetadata/{resources.li_posts_metadata.id}",
                                                        "paginator": "single_page"}},
            li_listing("li_posts_reactions"),
            {"name": "linkedin_reactions", "endpoint": {
                "path": "reactions/(entity:{resources.li_posts_reactions.id})", "data_selector": "elements",
                "paginator": restli, "params": {"q": "entity", "sort": "(value:REVERSE_CHRONOLOGICAL)"}}},
            li_listing("li_posts_comments"),
            {"name": "linkedin_comments", "endpoint": {
                "path": "socialActions/{resources.li_posts_comments.id}/comments", "data_selector": "elements",
                "paginator": {**restli, "total_path": "paging.total"}}},
            {"name": "linkedin_mentions", "processing_steps": [{"filter": lambda r: r.get("action") in (None, "SHARE_MENTION")}],
             "endpoint": {"path": "organizationalEntityNotifications", "data_selector": "elements", "paginator": restli,
                          "params": {"q": "criteria", "organizationalEntity": org, "actions": "List(SHARE_MENTION)",
                                     "timeRange": f"(start:{_ms(start)},end:{_ms(end)})"}}},
        ],
    }

    hubspot = {
        "client": {"base_url": env["HUBSPOT_API_URL"] + "/", "auth": {"type": "bearer", "token": env["HUBSPOT_ACCESS_TOKEN"]}},
        "resource_defaults": {"write_disposition": "append", "parallelized": True},
        "resources": [{"name": "hubspot_contacts", "endpoint": {
            "path": "crm/v3/objects/contacts", "data_selector": "results",
            "paginator": {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after"},
            "params": {"limit": 100, "properties": "email,site_user_id,twitterhandle,facebook_user_id,engagement_holdout,"
                       "createdate,lastmodifieddate"}}}],
    }
    return [ga4_config, mailchimp, x_config, facebook, linkedin, hubspot]


def run_dlt(env: dict[str, str], db: Path, work: Path, start: date, end: date, workers: int) -> dict[str, int]:
    """Every stream through one dlt pipeline (Parquet, append) into `db`; rows per our table."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ["EXTRACT__WORKERS"] = str(workers)  # dlt's pool for parallelized resources (its default is 5)
    import dlt
    from dlt.sources.rest_api import rest_api_resources

    resources = [r for config in configs(env, start, end) for r in rest_api_resources(config)]

    @dlt.source(name="backfill", max_table_nesting=1)
    def everything():
        return resources

    pipeline = dlt.pipeline(pipeline_name="bench_backfill", pipelines_dir=str(work / "dlt"),
                            destination=dlt.destinations.duckdb(str(db)), dataset_name=DATASET)
    pipeline.run(everything(), loader_file_format="parquet")
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {t for (t,) in con.execute("select table_name from information_schema.tables where table_schema = ?",
                                            [DATASET]).fetchall()}
        counts = {}
        for ours, theirs in STREAMS.items():
            if theirs.lstrip().startswith("select"):
                try:
                    counts[ours] = con.execute(theirs).fetchone()[0]
                except duckdb.CatalogException:  # dlt makes no table for a list that was always empty
                    counts[ours] = con.execute(theirs.split(" left join")[0].replace(
                        "coalesce(sum(greatest(1, coalesce(c.n, 0))), 0)", "count(*)")).fetchone()[0]
            else:
                counts[ours] = con.execute(f"select count(*) from {DATASET}.{theirs}").fetchone()[0] if theirs in tables else 0
        return counts
    finally:
        con.close()
