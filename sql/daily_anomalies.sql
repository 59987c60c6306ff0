-- daily_anomalies: each campaign's days, all creators of a day rolled up together; the rows
-- the anomaly rules compare with the live benchmark thresholds at request time.
--
-- grain: one row per (campaign, metric_date) that has at least one metrics row
-- key:   (campaign_id, metric_date)
--
-- ctr and roas are the day's rates rounded half-up to 4 places, as shown in an alert; the
-- rules themselves compare the exact ratios (total_clicks / total_impressions and
-- total_revenue_micros / total_spend_micros) with the thresholds, in anomalies.py.
-- numbers: as in campaign_performance.sql (exact micros, half-up rounding on the exact ratio).
with

known_metrics as (
    select metrics.*
    from metrics
    inner join campaigns on campaigns.campaign_id = metrics.campaign_id
),

day_totals as (
    select
        campaign_id,
        metric_date,
        sum(impressions) as total_impressions,
        sum(clicks) as total_clicks,
        sum(conversions) as total_conversions,
        sum(spend_micros) as total_spend_micros,
        sum(coalesce(revenue_micros, 0)) as total_revenue_micros
    from known_metrics
    group by campaign_id, metric_date
)

select
    campaign_id,
    metric_date,
    total_impressions,
    total_clicks,
    total_conversions,
    total_spend_micros,
    total_revenue_micros,
    case
        when total_impressions = 0 then 0.0
        else cast(cast(div(20000 * cast(total_clicks as hugeint) + total_impressions, 2 * cast(total_impressions as hugeint)) as decimal(38, 0)) / 10000 as double)
    end as ctr,
    case
        when total_spend_micros = 0 then 0.0
        else cast(cast(div(20000 * cast(total_revenue_micros as hugeint) + total_spend_micros, 2 * cast(total_spend_micros as hugeint)) as decimal(38, 0)) / 10000 as double)
    end as roas
from day_totals
order by campaign_id, metric_date
