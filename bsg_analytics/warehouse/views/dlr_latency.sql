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
)

SELECT
    day,
    channel,
    count(*) AS delivered,
    quantile_cont(latency_seconds, 0.5) AS p50_seconds,
    quantile_cont(latency_seconds, 0.9) AS p90_seconds,
    quantile_cont(latency_seconds, 0.99) AS p99_seconds
FROM timed
GROUP BY day, channel
