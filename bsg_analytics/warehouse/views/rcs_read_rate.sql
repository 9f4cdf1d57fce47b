-- rcs_read_rate: one row per day x sender (the RCS agent), RCS messages only.
-- delivered: RCS messages whose status is one of {{ delivered_statuses }}.
-- read: RCS messages whose status is read (a read message was delivered first).
-- read_rate: read / delivered; null where nothing was delivered.
WITH per_group AS (
    SELECT
        day,
        sender,
        count(*) FILTER (WHERE is_delivered) AS delivered,
        count(*) FILTER (WHERE status = 'read') AS read
    FROM message_facts
    WHERE channel = 'rcs'
    GROUP BY day, sender
)

SELECT
    day,
    sender,
    delivered,
    read,
    CASE WHEN delivered > 0 THEN read / delivered END AS read_rate
FROM per_group
