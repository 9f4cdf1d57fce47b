-- delivery_rate_daily: one row per day x channel x sender.
-- day: the UTC date of sent_at, or of created_at where the message has no sent_at.
-- sent: messages whose status is one of {{ sent_statuses }}.
-- delivered: messages whose status is one of {{ delivered_statuses }}.
-- delivery_rate: delivered / sent; null where nothing was sent (a group of messages that are
-- all still scheduled or in moderation has sent = 0 and a null rate).
WITH per_group AS (
    SELECT
        day,
        channel,
        sender,
        count(*) FILTER (WHERE is_sent) AS sent,
        count(*) FILTER (WHERE is_delivered) AS delivered
    FROM message_facts
    GROUP BY day, channel, sender
)

SELECT
    day,
    channel,
    sender,
    sent,
    delivered,
    CASE WHEN sent > 0 THEN delivered / sent END AS delivery_rate
FROM per_group
