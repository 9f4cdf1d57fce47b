-- spend_daily: one row per day x channel x sender x currency.
-- messages: all messages of the group, sent or not; delivered: those whose status is one of
-- {{ delivered_statuses }}.
-- spend: the sum of amount_value (what the API says each message cost), exact decimal
-- (DECIMAL(38,7)); messages without an amount add nothing, and a group where no message has
-- one has spend null and currency null.
-- cost_per_delivered: spend / delivered, rounded to 7 places (DECIMAL(18,7)); null where
-- nothing was delivered.
WITH per_group AS (
    SELECT
        day,
        channel,
        sender,
        amount_currency AS currency,
        count(*) AS messages,
        count(*) FILTER (WHERE is_delivered) AS delivered,
        sum(amount_value) AS spend
    FROM message_facts
    GROUP BY day, channel, sender, amount_currency
)

SELECT
    day,
    channel,
    sender,
    currency,
    messages,
    delivered,
    spend,
    CASE
        WHEN delivered > 0 THEN CAST(round(spend / delivered, 7) AS DECIMAL(18, 7))
    END AS cost_per_delivered
FROM per_group
