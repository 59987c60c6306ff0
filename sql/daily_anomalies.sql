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
        sum(cast(impressions as hugeint)) as total_impressions,
        sum(cast(clicks as hugeint)) as total_clicks,
        sum(cast(conversions as hugeint)) as total_conversions,
        sum(cast(spend_micros as hugeint)) as total_spend_micros,
        sum(cast(coalesce(revenue_micros, 0) as hugeint)) as total_revenue_micros
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
        else cast(cast(div(20000 * total_clicks + total_impressions, 2 * total_impressions) as decimal(38, 0)) / 10000 as double)
    end as ctr,
    case
        when total_spend_micros = 0 then 0.0
        else cast(cast(div(20000 * total_revenue_micros + total_spend_micros, 2 * total_spend_micros) as decimal(38, 0)) / 10000 as double)
    end as roas
from day_totals
order by campaign_id, metric_date
