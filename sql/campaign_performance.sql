-- campaign_performance: each campaign's totals over all of its days and creators.
--
-- grain: one row per campaign in campaigns.csv; a campaign with no metrics has zero totals
-- key:   campaign_id
--
-- inputs (registered by build.py, already validated and typed by sources.py):
--   campaigns(campaign_id, campaign_name)
--   metrics(metric_date, campaign_id, creator_id, impressions, clicks, conversions,
--           spend_micros, revenue_micros)      money in exact integer millionths; revenue may be null
--
-- numbers (SPEC §3):
--   *_micros      exact sums; null revenue counts as 0. Sums are bigint: before trusting
--                 them the build checks that each column's grand total fits, so no
--                 group's can wrap. The rounding arithmetic below is done in hugeint.
--   total_spend   total_spend_micros rounded half-up to cents: (micros + 5000) div 10000, / 100
--                 (the division is done in decimal: polars turns a float division by a
--                 constant into a multiplication, which prints 0.0991 as 0.09910000000000001)
--   ctr, cvr, roas  computed once from the totals, rounded half-up to 4 places on the exact
--                 ratio with integer arithmetic: (20000 * num + den) div (2 * den), / 10000;
--                 a zero denominator gives 0.0
with

known_metrics as (
    -- metrics of campaigns that exist; rows of unknown campaigns are only counted (data quality)
    select metrics.*
    from metrics
    inner join campaigns on campaigns.campaign_id = metrics.campaign_id
),

metric_totals as (
    select
        campaign_id,
        sum(impressions) as total_impressions,
        sum(clicks) as total_clicks,
        sum(conversions) as total_conversions,
        sum(spend_micros) as total_spend_micros,
        sum(coalesce(revenue_micros, 0)) as total_revenue_micros
    from known_metrics
    group by campaign_id
),

campaign_totals as (
    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        coalesce(metric_totals.total_impressions, 0) as total_impressions,
        coalesce(metric_totals.total_clicks, 0) as total_clicks,
        coalesce(metric_totals.total_conversions, 0) as total_conversions,
        coalesce(metric_totals.total_spend_micros, 0) as total_spend_micros,
        coalesce(metric_totals.total_revenue_micros, 0) as total_revenue_micros
    from campaigns
    left join metric_totals on metric_totals.campaign_id = campaigns.campaign_id
)

select
    campaign_id,
    campaign_name,
    total_impressions,
    total_clicks,
    total_conversions,
    total_spend_micros,
    total_revenue_micros,
    cast(cast(div(cast(total_spend_micros as hugeint) + 5000, 10000) as decimal(38, 0)) / 100 as double) as total_spend,
    cast(cast(div(cast(total_revenue_micros as hugeint) + 5000, 10000) as decimal(38, 0)) / 100 as double) as total_revenue,
    case
        when total_impressions = 0 then 0.0
        else cast(cast(div(20000 * cast(total_clicks as hugeint) + total_impressions, 2 * cast(total_impressions as hugeint)) as decimal(38, 0)) / 10000 as double)
    end as ctr,
    case
        when total_clicks = 0 then 0.0
        else cast(cast(div(20000 * cast(total_conversions as hugeint) + total_clicks, 2 * cast(total_clicks as hugeint)) as decimal(38, 0)) / 10000 as double)
    end as cvr,
    case
        when total_spend_micros = 0 then 0.0
        else cast(cast(div(20000 * cast(total_revenue_micros as hugeint) + total_spend_micros, 2 * cast(total_spend_micros as hugeint)) as decimal(38, 0)) / 10000 as double)
    end as roas
from campaign_totals
order by campaign_id
