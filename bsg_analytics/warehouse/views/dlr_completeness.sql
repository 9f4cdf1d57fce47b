-- dlr_completeness: one row per day x channel: how many sent messages already have their
-- final delivery report.
-- sent: messages whose status is one of {{ sent_statuses }}.
-- final: those of them whose status will not change again: {{ final_statuses }}.
-- final_share: final / sent; null where nothing was sent.
WITH per_group AS (
    SELECT
        day,
        channel,
        count(*) FILTER (WHERE is_sent) AS sent,
        count(*) FILTER (WHERE is_final) AS final
    FROM message_facts
    GROUP BY day, channel
)

SELECT
    day,
    channel,
    sent,
    final,
    CASE WHEN sent > 0 THEN final / sent END AS final_share
FROM per_group
