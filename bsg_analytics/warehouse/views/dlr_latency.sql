-- dlr_latency: one row per day x channel: how long delivery reports take.
-- Counts delivered messages (status one of {{ delivered_statuses }}) that have both sent_at
-- and delivered_at, with delivered_at not before sent_at.
-- day: the UTC date of sent_at.
-- delivered: how many such messages; p50_seconds, p90_seconds, p99_seconds: percentiles of
-- delivered_at - sent_at in seconds, interpolated linearly between the nearest two values
-- (DuckDB quantile_cont, the same as numpy's default).
WITH timed AS (
    SELECT day, channel, latency_seconds
    FROM message_facts
    WHERE latency_seconds IS NOT NULL
),

-- the three percentiles from one quantile_cont over a list of them: each group's latencies
-- are collected and sorted once, not once per percentile (same values)
per_group AS (
    SELECT
        day,
        channel,
        count(*) AS delivered,
        quantile_cont(latency_seconds, [0.5, 0.9, 0.99]) AS percentiles
    FROM timed
    GROUP BY day, channel
)

SELECT
    day,
    channel,
    delivered,
    percentiles[1] AS p50_seconds,
    percentiles[2] AS p90_seconds,
    percentiles[3] AS p99_seconds
FROM per_group
