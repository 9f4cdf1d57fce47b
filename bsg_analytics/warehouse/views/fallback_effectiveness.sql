-- fallback_effectiveness: one row per day x channel x sender x fallback_channel.
-- How often messages of any channel fell back (to SMS or Viber), and whether the fallback
-- delivered them.
-- day, channel, sender: the primary message's (day as in message_facts). Primary messages are
-- all messages but those that are another message's fallback (listed in its fallback_ids): a
-- fallback counts once, with the message that fell back to it.
-- fallback_channel: where the group's messages fall back to, one of {{ fallback_channels }}; null
-- for the messages without an alternative channel (their row has fell_back = 0).
-- messages: the group's primary messages.
-- fell_back: those that fell back (fallback_ids is not empty).
-- fallback_found: those whose fallback ids are all found in messages.
-- fallback_delivered: those whose fallback ids are all found and all delivered (status one of
-- {{ delivered_statuses }}); a fallback split into parts counts once, when every part arrived.
-- fallback_delivery_rate: fallback_delivered / fell_back; null where nothing fell back.
-- Fallbacks not (yet) in the messages table count as not delivered: compare fallback_found
-- to fell_back.
WITH fallback_of AS (
    SELECT
        message_id,
        unnest(fallback_ids) AS fallback_id
    FROM message_facts
    WHERE has_fallback
),

primaries AS (
    SELECT
        facts.message_id,
        facts.day,
        facts.channel,
        facts.sender,
        facts.fallback_channel,
        facts.has_fallback
    FROM message_facts AS facts
    WHERE NOT EXISTS (
        SELECT 1 FROM fallback_of
        WHERE fallback_of.fallback_id = facts.message_id
    )
),

fallback_outcome AS (
    SELECT
        fallback_of.message_id,
        bool_and(fallback.message_id IS NOT NULL) AS all_found,
        bool_and(coalesce(fallback.is_delivered, false)) AS all_delivered
    FROM fallback_of
    LEFT JOIN message_facts AS fallback ON fallback_of.fallback_id = fallback.message_id
    GROUP BY fallback_of.message_id
),

per_group AS (
    SELECT
        primaries.day,
        primaries.channel,
        primaries.sender,
        primaries.fallback_channel,
        count(*) AS messages,
        count(*) FILTER (WHERE primaries.has_fallback) AS fell_back,
        count(*) FILTER (WHERE fallback_outcome.all_found) AS fallback_found,
        count(*) FILTER (WHERE fallback_outcome.all_delivered) AS fallback_delivered
    FROM primaries
    LEFT JOIN fallback_outcome ON primaries.message_id = fallback_outcome.message_id
    GROUP BY primaries.day, primaries.channel, primaries.sender, primaries.fallback_channel
)

SELECT
    day,
    channel,
    sender,
    fallback_channel,
    messages,
    fell_back,
    fallback_found,
    fallback_delivered,
    CASE WHEN fell_back > 0 THEN fallback_delivered / fell_back END AS fallback_delivery_rate
FROM per_group
