-- A single-session user-day that meets the documented engaged-session definition (longer than
-- var('engaged_session_min_seconds') or var('engaged_session_min_page_views')+ page views) is
-- one GA4 counted as engaged. A failure means the property's engaged-session timer differs from
-- the var: set the var to the property's setting. Warns, does not block publishing.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'int_web__user_days'}}}) }}

select report_date, session_campaign, site_user_id, page_views, engagement_seconds, engaged_sessions
from {{ ref('int_web__user_days') }}
where meets_engaged_session_definition and engaged_sessions = 0
