-- campaign_delivery: one row per campaign (known from campaigns, campaign_statistics or
-- messages), comparing the delivery rate the campaign reports about itself with the one its
-- messages give.
-- stats_sent / stats_delivered / stats_delivery_rate: from campaign_statistics, route
-- primary: the messages counts of statuses {{ sent_statuses }} / of {{ delivered_statuses }}.
-- list_sent / list_delivered / list_delivery_rate: the campaign list's own two counts.
-- campaign_delivery_rate: the statistics rate where the detail gave statistics, else the list
-- rate; campaign_rate_source says which ('statistics' or 'list').
-- messages_sent / messages_delivered / messages_delivery_rate: counted from the messages
-- table with the same definitions, over the campaign's primary messages: on its own channel
-- where the campaign's channel is known, and never a message that is another message's
-- fallback (the SMS or Viber messages a campaign fell back to are not its primary route).
-- rate_difference: campaign_delivery_rate - messages_delivery_rate.
-- disagrees: abs(rate_difference) > {{ campaign_rate_tolerance }} (one percentage point);
-- null where either side has nothing sent, so it cannot be compared.
-- Every rate is null where its sent count is 0 or unknown.
WITH stats AS (
    SELECT
        campaign_id,
        sum(messages) FILTER (WHERE status IN {{ sent_statuses }}) AS stats_sent,
        sum(messages) FILTER (WHERE status IN {{ delivered_statuses }}) AS stats_delivered
    FROM campaign_statistics
    WHERE route = 'primary'
    GROUP BY campaign_id
),

fallback_ids AS (
    SELECT unnest(fallback_ids) AS message_id
    FROM message_facts
    WHERE has_fallback
),

from_messages AS (
    SELECT
        message_facts.campaign_id,
        any_value(message_facts.channel) AS channel,
        any_value(message_facts.sender) AS sender,
        count(*) FILTER (WHERE message_facts.is_sent) AS messages_sent,
        count(*) FILTER (WHERE message_facts.is_delivered) AS messages_delivered
    FROM message_facts
    LEFT JOIN campaigns ON message_facts.campaign_id = campaigns.campaign_id
    WHERE
        message_facts.campaign_id IS NOT NULL
        AND (campaigns.channel IS NULL OR message_facts.channel = campaigns.channel)
        AND NOT EXISTS (
            SELECT 1 FROM fallback_ids
            WHERE fallback_ids.message_id = message_facts.message_id
        )
    GROUP BY message_facts.campaign_id
),

ids AS (
    SELECT campaign_id FROM campaigns
    UNION
    SELECT campaign_id FROM stats
    UNION
    SELECT campaign_id FROM from_messages
),

joined AS (
    SELECT
        ids.campaign_id,
        campaigns.name,
        coalesce(campaigns.sender, from_messages.sender) AS sender,
        coalesce(campaigns.channel, from_messages.channel) AS channel,
        campaigns.status,
        campaigns.created_at,
        CAST(stats.stats_sent AS BIGINT) AS stats_sent,
        CAST(stats.stats_delivered AS BIGINT) AS stats_delivered,
        campaigns.list_sent,
        campaigns.list_delivered,
        coalesce(from_messages.messages_sent, 0) AS messages_sent,
        coalesce(from_messages.messages_delivered, 0) AS messages_delivered
    FROM ids
    LEFT JOIN campaigns ON ids.campaign_id = campaigns.campaign_id
    LEFT JOIN stats ON ids.campaign_id = stats.campaign_id
    LEFT JOIN from_messages ON ids.campaign_id = from_messages.campaign_id
    WHERE ids.campaign_id IS NOT NULL
),

rates AS (
    SELECT
        *,
        CASE
            WHEN stats_sent > 0 THEN coalesce(stats_delivered, 0) / stats_sent
        END AS stats_delivery_rate,
        CASE
            WHEN list_sent > 0 THEN coalesce(list_delivered, 0) / list_sent
        END AS list_delivery_rate,
        CASE
            WHEN messages_sent > 0 THEN messages_delivered / messages_sent
        END AS messages_delivery_rate
    FROM joined
),

own AS (
    SELECT
        *,
        CASE
            WHEN stats_sent IS NOT NULL THEN stats_delivery_rate
            ELSE list_delivery_rate
        END AS campaign_delivery_rate,
        CASE
            WHEN stats_sent IS NOT NULL THEN 'statistics'
            WHEN list_sent IS NOT NULL THEN 'list'
        END AS campaign_rate_source
    FROM rates
)

SELECT
    campaign_id,
    name,
    sender,
    channel,
    status,
    created_at,
    stats_sent,
    stats_delivered,
    stats_delivery_rate,
    list_sent,
    list_delivered,
    list_delivery_rate,
    campaign_delivery_rate,
    campaign_rate_source,
    messages_sent,
    messages_delivered,
    messages_delivery_rate,
    campaign_delivery_rate - messages_delivery_rate AS rate_difference,
    abs(campaign_delivery_rate - messages_delivery_rate)
    > {{ campaign_rate_tolerance }} AS disagrees
FROM own
