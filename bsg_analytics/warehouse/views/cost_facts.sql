-- cost_facts: one row per message of message_costs (the statistics export), with what the
-- country, operator, spend and runway views count by.
-- status, sender: the message's latest state: from messages where its id is there (status,
-- sender), else the export's own (message_costs.status, originator); status_source says which
-- ('messages' or 'export'). campaign_id: from messages (null where the id is not there).
-- channel, country_name, operator, mcc, mnc, price, currency and the times are the export's.
-- day: the UTC date of time_sent, or of time_in where the export has no time_sent.
-- is_sent: status is one of {{ sent_statuses }}; is_delivered: one of {{ delivered_statuses }};
-- is_final: sent, and one that will not change again: {{ final_statuses }}.
-- latency_seconds: time_dlr - time_sent in seconds, for delivered messages that have both
-- times and were not reported before they were sent (else null).
WITH joined AS (
    SELECT
        costs.message_id,
        messages.campaign_id,
        costs.channel,
        costs.country_name,
        costs.operator,
        costs.mcc,
        costs.mnc,
        coalesce(messages.sender, costs.originator) AS sender,
        CASE WHEN messages.message_id IS NOT NULL THEN messages.status ELSE costs.status END
            AS status,
        CASE WHEN messages.message_id IS NOT NULL THEN 'messages' ELSE 'export' END
            AS status_source,
        costs.price,
        costs.currency,
        costs.time_in,
        costs.time_sent,
        costs.time_dlr,
        costs.sl_clicks
    FROM message_costs AS costs
    LEFT JOIN messages ON costs.message_id = messages.message_id
),

typed AS (
    -- set membership as list_position (false for a null status): see message_facts
    SELECT
        *,
        list_position(list_value{{ sent_statuses }}, status) IS NOT NULL AS is_sent,
        list_position(list_value{{ delivered_statuses }}, status) IS NOT NULL AS is_delivered
    FROM joined
)

SELECT
    message_id,
    campaign_id,
    -- the UTC date whatever the session's TimeZone (see message_facts)
    CAST(make_timestamp(epoch_us(coalesce(time_sent, time_in))) AS DATE) AS day,
    channel,
    country_name,
    operator,
    mcc,
    mnc,
    sender,
    status,
    status_source,
    price,
    currency,
    time_in,
    time_sent,
    time_dlr,
    sl_clicks,
    is_sent,
    is_delivered,
    is_sent AND list_position(list_value{{ final_statuses }}, status) IS NOT NULL AS is_final,
    CASE
        WHEN is_delivered AND time_dlr >= time_sent THEN epoch(time_dlr) - epoch(time_sent)
    END AS latency_seconds
FROM typed
