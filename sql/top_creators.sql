-- top_creators: each creator's totals within each campaign, ranked.
--
-- grain: one row per (campaign, creator) pair that has at least one metrics row
-- key:   (campaign_id, creator_id); (campaign_id, rank) is unique too
--
-- rank: 1 is the best creator of the campaign: total_conversions desc, then total_clicks desc,
--       then creator_id ascending in byte order, so every tie has one answer.
-- A creator missing from creators.csv still counts; its creator_name is null.
-- The API's `campaign_id` filter and `limit` are applied at lookup time, on this rollup.
-- numbers: as in campaign_performance.sql (exact micros, half-up rounding on the exact ratio).
with

known_metrics as (
    select metrics.*
    from metrics
    inner join campaigns on campaigns.campaign_id = metrics.campaign_id
),

creator_totals as (
    select
        campaign_id,
        creator_id,
        sum(impressions) as total_impressions,
        sum(clicks) as total_clicks,
        sum(conversions) as total_conversions,
        sum(spend_micros) as total_spend_micros,
        sum(coalesce(revenue_micros, 0)) as total_revenue_micros
    from known_metrics
    group by campaign_id, creator_id
),

ranked as (
    select
        creator_totals.*,
        creators.creator_name,
        row_number() over (
            partition by creator_totals.campaign_id
            order by
                creator_totals.total_conversions desc,
                creator_totals.total_clicks desc,
                creator_totals.creator_id asc
        ) as rank
    from creator_totals
    left join creators on creators.creator_id = creator_totals.creator_id
)

select
    campaign_id,
    creator_id,
    creator_name,
    total_impressions,
    total_clicks,
    total_conversions,
    total_spend_micros,
    total_revenue_micros,
    cast(cast(div(cast(total_spend_micros as hugeint) + 5000, 10000) as decimal(38, 0)) / 100 as double) as total_spend,
    case
        when total_impressions = 0 then 0.0
        else cast(cast(div(20000 * cast(total_clicks as hugeint) + total_impressions, 2 * cast(total_impressions as hugeint)) as decimal(38, 0)) / 10000 as double)
    end as ctr,
    rank
from ranked
order by campaign_id, rank
