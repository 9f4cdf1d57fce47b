-- spend_by_country_operator: one row per day x channel x country_name x operator (with its
-- mcc and mnc) x currency, from the statistics export (cost_facts: status from messages where
-- the message is there, else the export's; day the UTC date of time_sent, else of time_in).
-- messages: all messages of the group, sent or not.
-- sent: those whose status is one of {{ sent_statuses }}; delivered: one of
-- {{ delivered_statuses }}.
-- delivery_rate: delivered / sent; null where nothing was sent.
-- spend: the sum of price (what the export says each message cost), exact, DECIMAL(18,7); a
-- group where no message has a price has spend null.
-- cost_per_delivered: spend / delivered, rounded to 7 places (DECIMAL(18,7)); null where
-- nothing was delivered.
WITH per_group AS (
    SELECT
        day,
        channel,
        country_name,
        operator,
        mcc,
        mnc,
        currency,
        count(*) AS messages,
        count(*) FILTER (WHERE is_sent) AS sent,
        count(*) FILTER (WHERE is_delivered) AS delivered,
        CAST(sum(price) AS DECIMAL(18, 7)) AS spend
    FROM cost_facts
    GROUP BY day, channel, country_name, operator, mcc, mnc, currency
)

SELECT
    day,
    channel,
    country_name,
    operator,
    mcc,
    mnc,
    currency,
    messages,
    sent,
    delivered,
    CASE WHEN sent > 0 THEN delivered / sent END AS delivery_rate,
    spend,
    CASE
        WHEN delivered > 0 THEN CAST(round(spend / delivered, 7) AS DECIMAL(18, 7))
    END AS cost_per_delivered
FROM per_group
