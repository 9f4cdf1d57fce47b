-- message_facts: one row per message, with the facts every message metric counts by.
-- day: the UTC date of sent_at, or of created_at where the message has no sent_at.
-- is_sent: status is one of {{ sent_statuses }} (scheduled and moderation are not sent yet).
-- is_delivered: status is one of {{ delivered_statuses }}.
-- is_final: sent, and status is one that will not change again: {{ final_statuses }}.
-- latency_seconds: delivered_at - sent_at in seconds, for delivered messages that have both
-- times and were not delivered before they were sent (else null).
-- fallback_channel: where the message falls back to, one of {{ fallback_channels }}; null when
-- it has no alternative channel; fallback_ids: the fallback's message ids. Rows written
-- before these columns existed take them from a non-empty fallback_sms_ids (an SMS fallback).
-- has_fallback: a message of any channel that fell back (fallback_ids is not empty).
WITH typed AS (
    -- set membership as list_position(...) IS NOT NULL (false for a null status), not IN:
    -- DuckDB turns an IN list into a join, which runs, and reads status, even for a view that
    -- never uses the flag, and is slower than the list lookup
    SELECT
        *,
        list_position(list_value{{ sent_statuses }}, status) IS NOT NULL AS is_sent,
        list_position(list_value{{ delivered_statuses }}, status) IS NOT NULL AS is_delivered,
        coalesce(
            fallback_ids, CASE WHEN len(fallback_sms_ids) > 0 THEN fallback_sms_ids END
        ) AS fallback_ids_any
    FROM messages
)

SELECT
    message_id,
    campaign_id,
    channel,
    sender,
    status,
    created_at,
    sent_at,
    delivered_at,
    amount_value,
    amount_currency,
    fallback_sms_ids,
    coalesce(
        fallback_channel, CASE WHEN len(fallback_sms_ids) > 0 THEN 'sms' END
    ) AS fallback_channel,
    fallback_ids_any AS fallback_ids,
    -- the UTC date, whatever the session's TimeZone: epoch microseconds read back as a plain
    -- TIMESTAMP are the UTC wall clock (the same date as timezone('UTC', ...), ~6x cheaper)
    CAST(make_timestamp(epoch_us(coalesce(sent_at, created_at))) AS DATE) AS day,
    is_sent,
    is_delivered,
    is_sent AND list_position(list_value{{ final_statuses }}, status) IS NOT NULL AS is_final,
    CASE
        WHEN is_delivered AND delivered_at >= sent_at
            THEN epoch(delivered_at) - epoch(sent_at)
    END AS latency_seconds,
    coalesce(len(fallback_ids_any), 0) > 0 AS has_fallback
FROM typed
