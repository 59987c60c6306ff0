-- campaign_performance: each campaign's totals over all of its days and creators.
--
-- grain: one row per campaign in campaigns; a campaign with no metrics has zero totals
-- key:   campaign_id
-- order: campaign_id
--
-- Two uses of this one file (docs/contract.md §3a):
--   standalone   DuckDB over views of the raw CSV files, one `?` parameter:
--                [campaign_id] -> that campaign's row (no row for an unknown campaign)
--   batch build  build.py runs the text above the per-campaign marker, then
--                `select * from campaign_performance`: every campaign at once
--
-- inputs: campaigns(campaign_id, campaign_name),
--         campaign_daily_metrics(metric_date, campaign_id, creator_id, impressions, clicks,
--                                conversions, spend, revenue)
--   typed however they come: read_csv_auto may sniff an id as a number, spend as a double
--   and an all-empty revenue column as text; the build gives money as decimals.
--   Ids are compared as text, money is read as decimal(38, 6) (exact for 6 places; a sniffed
--   double such as 99.995 becomes the decimal it prints as), counts as bigint.
--
-- numbers (docs/contract.md §3):
--   *_micros      exact decimal sums turned into integer millionths per group; null revenue is 0
--   total_spend   micros rounded half-up to cents: (micros + 5000) // 10000, then / 100
--   ctr, cvr, roas  computed once from the totals, rounded half-up to 4 places on the exact
--                 ratio with integer arithmetic: (20000 * num + den) // (2 * den), then / 10000;
--                 a zero denominator gives 0.0. The last division is a decimal one, so the
--                 double is the one nearest the rounded decimal (0.0991, never 0.09910000000000001).
--   The rounding expressions repeat in every file (the contract wants each file to stand
--   alone); tests/test_sql_template.py pins every copy to one template.
with

known_campaigns as (
    select
        cast(campaign_id as varchar) as campaign_id,
        cast(campaign_name as varchar) as campaign_name
    from campaigns
),

metric_sums as (
    -- grouped on the id as given (cheap), made text after aggregating
    select
        campaign_id,
        sum(cast(impressions as bigint)) as total_impressions,
        sum(cast(clicks as bigint)) as total_clicks,
        sum(cast(conversions as bigint)) as total_conversions,
        sum(cast(spend as decimal(38, 6))) as total_spend,
        sum(cast(revenue as decimal(38, 6))) as total_revenue
    from campaign_daily_metrics
    group by campaign_id
),

metric_totals as (
    select
        cast(campaign_id as varchar) as campaign_id,
        total_impressions,
        total_clicks,
        total_conversions,
        coalesce(cast(total_spend * 1000000 as bigint), 0) as total_spend_micros,
        coalesce(cast(total_revenue * 1000000 as bigint), 0) as total_revenue_micros
    from metric_sums
),

campaign_totals as (
    -- every known campaign; metrics of unknown campaigns match none and are left out
    select
        known_campaigns.campaign_id,
        known_campaigns.campaign_name,
        coalesce(metric_totals.total_impressions, 0) as total_impressions,
        coalesce(metric_totals.total_clicks, 0) as total_clicks,
        coalesce(metric_totals.total_conversions, 0) as total_conversions,
        coalesce(metric_totals.total_spend_micros, 0) as total_spend_micros,
        coalesce(metric_totals.total_revenue_micros, 0) as total_revenue_micros
    from known_campaigns
    left join metric_totals on metric_totals.campaign_id = known_campaigns.campaign_id
),

campaign_performance as (
    select
        campaign_id,
        campaign_name,
        total_impressions,
        total_clicks,
        total_conversions,
        total_spend_micros,
        total_revenue_micros,
        cast(cast((cast(total_spend_micros as hugeint) + 5000) // 10000 as decimal(38, 0)) / 100 as double) as total_spend,
        cast(cast((cast(total_revenue_micros as hugeint) + 5000) // 10000 as decimal(38, 0)) / 100 as double) as total_revenue,
        case when total_impressions = 0 then 0.0 else cast(cast((20000 * cast(total_clicks as hugeint) + total_impressions) // (2 * cast(total_impressions as hugeint)) as decimal(38, 0)) / 10000 as double) end as ctr,
        case when total_clicks = 0 then 0.0 else cast(cast((20000 * cast(total_conversions as hugeint) + total_clicks) // (2 * cast(total_clicks as hugeint)) as decimal(38, 0)) / 10000 as double) end as cvr,
        case when total_spend_micros = 0 then 0.0 else cast(cast((20000 * cast(total_revenue_micros as hugeint) + total_spend_micros) // (2 * cast(total_spend_micros as hugeint)) as decimal(38, 0)) / 10000 as double) end as roas
    from campaign_totals
)

-- per-campaign select (docs/contract.md §3a): the build runs only the text above this line
select
    campaign_id,
    campaign_name,
    total_impressions,
    total_clicks,
    total_conversions,
    total_spend,
    total_revenue,
    ctr,
    cvr,
    roas
from campaign_performance
where campaign_id = cast(? as varchar)
