-- delivery_by_operator: one row per day x country_name x operator (with its mcc and mnc), all
-- channels together, from the statistics export (cost_facts: status from messages where the
-- message is there, else the export's; day the UTC date of time_sent, else of time_in).
-- messages: all messages of the group; sent: those whose status is one of
-- {{ sent_statuses }}; delivered: one of {{ delivered_statuses }}.
-- delivery_rate: delivered / sent; null where nothing was sent.
-- dlr_p50_s, dlr_p90_s, dlr_p99_s: percentiles of time_dlr - time_sent in seconds over the
-- delivered messages that have both times (time_dlr not before time_sent), interpolated
-- linearly (DuckDB quantile_cont, numpy's default); null where there is none.
WITH per_group AS (
    SELECT
        day,
        country_name,
        operator,
        mcc,
        mnc,
        count(*) AS messages,
        count(*) FILTER (WHERE is_sent) AS sent,
        count(*) FILTER (WHERE is_delivered) AS delivered,
        quantile_cont(latency_seconds, [0.5, 0.9, 0.99]) AS percentiles
    FROM cost_facts
    GROUP BY day, country_name, operator, mcc, mnc
)

SELECT
    day,
    country_name,
    operator,
    mcc,
    mnc,
    messages,
    sent,
    delivered,
    CASE WHEN sent > 0 THEN delivered / sent END AS delivery_rate,
    percentiles[1] AS dlr_p50_s,
    percentiles[2] AS dlr_p90_s,
    percentiles[3] AS dlr_p99_s
FROM per_group
