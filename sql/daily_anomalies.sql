-- daily_anomalies: each campaign's days, all creators of a day rolled up together; the rows
-- the anomaly rules compare with the live benchmark thresholds at request time.
--
-- grain: one row per (campaign, metric_date) with at least one metrics row
-- key:   campaign_id, metric_date
-- order: campaign_id, metric_date
--
-- ctr and roas are the day's rates rounded half-up to 4 places, as shown in an alert; the
-- rules themselves compare the exact ratios (total_clicks / total_impressions and
-- total_revenue_micros / total_spend_micros) with the thresholds, in anomalies.py.
--
-- Two uses of this one file (docs/contract.md §3a):
--   standalone   DuckDB over views of the raw CSV files, one `?` parameter:
--                [campaign_id] -> that campaign's days, by date, with money rounded to cents
--   batch build  build.py runs the text above the per-campaign marker, then
--                `select * from daily_anomalies`: every campaign at once (money as micros)
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
    -- grouped on the values as given (cheap), made text and dates after aggregating
    select
        campaign_id,
        metric_date,
        sum(cast(impressions as bigint)) as total_impressions,
        sum(cast(clicks as bigint)) as total_clicks,
        sum(cast(conversions as bigint)) as total_conversions,
        sum(cast(spend as decimal(38, 6))) as total_spend,
        sum(cast(revenue as decimal(38, 6))) as total_revenue
    from campaign_daily_metrics
    group by campaign_id, metric_date
),

metric_totals as (
    select
        cast(campaign_id as varchar) as campaign_id,
        cast(metric_date as date) as metric_date,
        total_impressions,
        total_clicks,
        total_conversions,
        coalesce(cast(total_spend * 1000000 as bigint), 0) as total_spend_micros,
        coalesce(cast(total_revenue * 1000000 as bigint), 0) as total_revenue_micros
    from metric_sums
),

day_totals as (
    -- metrics of unknown campaigns match no known campaign and are left out
    select
        metric_totals.campaign_id,
        metric_totals.metric_date,
        metric_totals.total_impressions,
        metric_totals.total_clicks,
        metric_totals.total_conversions,
        metric_totals.total_spend_micros,
        metric_totals.total_revenue_micros
    from metric_totals
    inner join known_campaigns on known_campaigns.campaign_id = metric_totals.campaign_id
),

daily_anomalies as (
    select
        campaign_id,
        metric_date,
        total_impressions,
        total_clicks,
        total_conversions,
        total_spend_micros,
        total_revenue_micros,
        cast(cast((cast(total_spend_micros as hugeint) + 5000) // 10000 as decimal(38, 0)) / 100 as double) as total_spend,
        cast(cast((cast(total_revenue_micros as hugeint) + 5000) // 10000 as decimal(38, 0)) / 100 as double) as total_revenue,
        case when total_impressions = 0 then 0.0 else cast(cast((20000 * cast(total_clicks as hugeint) + total_impressions) // (2 * cast(total_impressions as hugeint)) as decimal(38, 0)) / 10000 as double) end as ctr,
        case when total_spend_micros = 0 then 0.0 else cast(cast((20000 * cast(total_revenue_micros as hugeint) + total_spend_micros) // (2 * cast(total_spend_micros as hugeint)) as decimal(38, 0)) / 10000 as double) end as roas
    from day_totals
)

-- per-campaign select (docs/contract.md §3a): the build runs only the text above this line
select
    metric_date,
    total_impressions,
    total_clicks,
    total_conversions,
    total_spend,
    total_revenue,
    ctr,
    roas
from daily_anomalies
where campaign_id = cast(? as varchar)
order by metric_date
