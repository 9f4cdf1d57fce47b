-- fallback_effectiveness: one row per day x sender (the RCS agent), RCS messages only.
-- rcs_messages: RCS messages of the group.
-- fell_back: those that fell back to SMS (fallback_sms_ids is not empty).
-- sms_found: those whose fallback SMS ids are all found in messages.
-- sms_delivered: those whose fallback SMS ids are all found and all delivered (status one of
-- {{ delivered_statuses }}); a fallback split into parts counts once, when every part arrived.
-- sms_delivery_rate: sms_delivered / fell_back; null where nothing fell back. Fallback SMS
-- not (yet) in the messages table count as not delivered: compare sms_found to fell_back.
WITH rcs AS (
    SELECT message_id, day, sender, has_fallback, fallback_sms_ids
    FROM message_facts
    WHERE channel = 'rcs'
),

fallback_ids AS (
    SELECT
        rcs.message_id,
        unnest(rcs.fallback_sms_ids) AS sms_id
    FROM rcs
    WHERE rcs.has_fallback
),

fallback_outcome AS (
    SELECT
        fallback_ids.message_id,
        bool_and(sms.message_id IS NOT NULL) AS all_found,
        bool_and(coalesce(sms.is_delivered, false)) AS all_delivered
    FROM fallback_ids
    LEFT JOIN message_facts AS sms ON fallback_ids.sms_id = sms.message_id
    GROUP BY fallback_ids.message_id
),

per_group AS (
    SELECT
        rcs.day,
        rcs.sender,
        count(*) AS rcs_messages,
        count(*) FILTER (WHERE rcs.has_fallback) AS fell_back,
        count(*) FILTER (WHERE fallback_outcome.all_found) AS sms_found,
        count(*) FILTER (WHERE fallback_outcome.all_delivered) AS sms_delivered
    FROM rcs
    LEFT JOIN fallback_outcome ON rcs.message_id = fallback_outcome.message_id
    GROUP BY rcs.day, rcs.sender
)

SELECT
    day,
    sender,
    rcs_messages,
    fell_back,
    sms_found,
    sms_delivered,
    CASE WHEN fell_back > 0 THEN sms_delivered / fell_back END AS sms_delivery_rate
FROM per_group
