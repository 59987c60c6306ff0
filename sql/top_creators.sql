-- top_creators: each creator's totals within each campaign, ranked.
--
-- grain: one row per (campaign, creator) pair with at least one metrics row
-- key:   campaign_id, creator_id
-- order: campaign_id, rank
--
-- rank: 1 is the best creator of the campaign: total_conversions desc, then total_clicks desc,
--       then creator_id ascending in byte order, so every tie has one answer; (campaign_id,
--       rank) is unique too. A creator missing from creators still counts, with a null name.
--
-- Two uses of this one file (docs/contract.md §3a):
--   standalone   DuckDB over views of the raw CSV files, two `?` parameters:
--                [campaign_id, limit] -> that campaign's best `limit` creators, best first
--   batch build  build.py runs the text above the per-campaign marker, then
--                `select * from top_creators`: every campaign at once
--
-- inputs, types and numbers: as in campaign_performance.sql (ids compared as text, money read
-- as decimal(38, 6), exact micros per group, half-up rounding on the exact value).
with

known_campaigns as (
    select
        cast(campaign_id as varchar) as campaign_id,
        cast(campaign_name as varchar) as campaign_name
    from campaigns
),

metric_sums as (
    -- grouped on the ids as given (cheap), made text after aggregating
    select
        campaign_id,
        creator_id,
        sum(cast(impressions as bigint)) as total_impressions,
        sum(cast(clicks as bigint)) as total_clicks,
        sum(cast(conversions as bigint)) as total_conversions,
        sum(cast(spend as decimal(38, 6))) as total_spend,
        sum(cast(revenue as decimal(38, 6))) as total_revenue
    from campaign_daily_metrics
    group by campaign_id, creator_id
),

metric_totals as (
    select
        cast(campaign_id as varchar) as campaign_id,
        cast(creator_id as varchar) as creator_id,
        total_impressions,
        total_clicks,
        total_conversions,
        coalesce(cast(total_spend * 1000000 as bigint), 0) as total_spend_micros,
        coalesce(cast(total_revenue * 1000000 as bigint), 0) as total_revenue_micros
    from metric_sums
),

creator_names as (
    select
        cast(creator_id as varchar) as creator_id,
        cast(creator_name as varchar) as creator_name
    from creators
),

creator_totals as (
    -- metrics of unknown campaigns match no known campaign and are left out
    select
        metric_totals.campaign_id,
        metric_totals.creator_id,
        creator_names.creator_name,
        metric_totals.total_impressions,
        metric_totals.total_clicks,
        metric_totals.total_conversions,
        metric_totals.total_spend_micros,
        metric_totals.total_revenue_micros
    from metric_totals
    inner join known_campaigns on known_campaigns.campaign_id = metric_totals.campaign_id
    left join creator_names on creator_names.creator_id = metric_totals.creator_id
),

top_creators as (
    select
        campaign_id,
        creator_id,
        creator_name,
        total_impressions,
        total_clicks,
        total_conversions,
        total_spend_micros,
        total_revenue_micros,
        cast(cast((cast(total_spend_micros as hugeint) + 5000) // 10000 as decimal(38, 0)) / 100 as double) as total_spend,
        case when total_impressions = 0 then 0.0 else cast(cast((20000 * cast(total_clicks as hugeint) + total_impressions) // (2 * cast(total_impressions as hugeint)) as decimal(38, 0)) / 10000 as double) end as ctr,
        row_number() over (
            partition by campaign_id
            order by total_conversions desc, total_clicks desc, creator_id asc
        ) as rank
    from creator_totals
)

-- per-campaign select (docs/contract.md §3a): the build runs only the text above this line
select
    campaign_id,
    creator_id,
    creator_name,
    total_impressions,
    total_clicks,
    total_conversions,
    total_spend,
    ctr
from top_creators
where campaign_id = cast(? as varchar)
order by rank
limit ?
