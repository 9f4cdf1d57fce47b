-- anomalies: one row per finding, of three kinds, from cost_facts (the statistics export with
-- each message's latest status; day the UTC date of time_sent, else of time_in), campaigns
-- and balance_runway. The thresholds are settings (BSG_ALERT_*), rendered in with the SQL.
-- delivery_drop (dimension 'sender', 'country' or 'operator': an operator within its
-- country): per channel, dimension value and day, over the final messages only (is_final of
-- cost_facts: sent, and a status that will not change again; messages not final yet are left
-- out): n = the day's final messages, rate (observed) = delivered (status one of
-- {{ delivered_statuses }}) / n, and baseline = the pooled delivered / final messages of
-- the {{ alert_baseline_days }} days before it (the day itself excluded; days without
-- messages add nothing), on m final messages. z = (rate - baseline) / sqrt(p * (1 - p) * (1 / n + 1 / m)), p the pooled rate of
-- both: a two-sample test, because the baseline is a sample too (taking it as exact flagged
-- ordinary days: 52 of 53 delivered in the days before is not a known 98%). A finding when
-- n >= {{ alert_min_messages }}, m >= {{ alert_min_messages }}, baseline - rate >=
-- {{ alert_min_drop }} and z <= -{{ alert_z }}: the fall is large, and far outside what chance
-- does at that volume. A null sender, country or operator is no dimension value.
-- spend_spike (dimension 'campaign'): a campaign (messages.campaign_id) whose spend (observed:
-- the sum of its messages' price in its estimate's currency) is more than
-- {{ alert_spend_factor }} x its own estimate (baseline: campaigns.calculated_price, in
-- list_currency, else currency); campaigns without an estimate are not judged. day: the
-- campaign's last day with spend; messages: its priced messages. Why not a day's spend
-- against the days before: a campaign is a burst somebody planned, and bursts are how
-- campaign traffic spends (in the simulator's clean data a day spends up to thousands of
-- times its trailing mean and even the price of a message varies tenfold between campaigns),
-- so only spend beyond its own plan says something went wrong.
-- short_runway (dimension 'account'): the latest balance_runway row, when its days_left
-- (observed) < {{ alert_runway_days }}; baseline is its spend_7d_per_day.
-- Columns: kind, dimension, subject (a label a person reads), channel, country_name,
-- operator, sender, currency, day, messages, observed, baseline, z (delivery_drop only),
-- detail (one line). Sorted by day, kind, dimension, subject, channel.
WITH final_facts AS (
    SELECT
        day,
        channel,
        country_name,
        operator,
        sender,
        is_delivered
    FROM cost_facts
    WHERE is_final AND day IS NOT NULL AND channel IS NOT NULL
),

per_day AS (
    SELECT
        'sender' AS dimension,
        channel,
        CAST(NULL AS VARCHAR) AS country_name,
        CAST(NULL AS VARCHAR) AS operator,
        sender,
        day,
        count(*) AS n,
        count(*) FILTER (WHERE is_delivered) AS delivered
    FROM final_facts
    WHERE sender IS NOT NULL
    GROUP BY channel, sender, day
    UNION ALL
    SELECT
        'country' AS dimension,
        channel,
        country_name,
        CAST(NULL AS VARCHAR) AS operator,
        CAST(NULL AS VARCHAR) AS sender,
        day,
        count(*) AS n,
        count(*) FILTER (WHERE is_delivered) AS delivered
    FROM final_facts
    WHERE country_name IS NOT NULL
    GROUP BY channel, country_name, day
    UNION ALL
    SELECT
        'operator' AS dimension,
        channel,
        country_name,
        operator,
        CAST(NULL AS VARCHAR) AS sender,
        day,
        count(*) AS n,
        count(*) FILTER (WHERE is_delivered) AS delivered
    FROM final_facts
    WHERE operator IS NOT NULL
    GROUP BY channel, country_name, operator, day
),

with_baseline AS (
    SELECT
        *,
        sum(n) OVER before_day AS baseline_n,
        sum(delivered) OVER before_day AS baseline_delivered
    FROM per_day
    WINDOW before_day AS (
        PARTITION BY dimension, channel, country_name, operator, sender
        ORDER BY day
        RANGE BETWEEN INTERVAL {{ alert_baseline_days }} DAY PRECEDING
        AND INTERVAL 1 DAY PRECEDING
    )
),

rated AS (
    SELECT
        *,
        delivered / n AS rate,
        baseline_delivered / baseline_n AS baseline,
        (delivered + baseline_delivered) / (n + baseline_n) AS pooled
    FROM with_baseline
    WHERE n >= {{ alert_min_messages }} AND baseline_n >= {{ alert_min_messages }}
),

drops AS (
    SELECT
        *,
        CASE
            WHEN pooled > 0 AND pooled < 1
                THEN
                    (rate - baseline)
                    / sqrt(pooled * (1 - pooled) * (1 / n + 1 / baseline_n))
        END AS z,
        CASE dimension
            WHEN 'sender' THEN sender
            WHEN 'country' THEN country_name
            WHEN 'operator' THEN operator || coalesce(' (' || country_name || ')', '')
        END AS subject
    FROM rated
),

delivery_drop AS (
    SELECT
        'delivery_drop' AS kind,
        dimension,
        subject,
        channel,
        country_name,
        operator,
        sender,
        CAST(NULL AS VARCHAR) AS currency,
        day,
        n AS messages,
        rate AS observed,
        baseline,
        z,
        printf(
            '%s %s %s on %s: %d of %d final messages delivered (%.1f%%), against %.1f%% '
            || 'of %d in the %d days before; z = %.1f',
            channel, CASE WHEN dimension = 'sender' THEN 'from' ELSE 'to' END, subject,
            strftime(day, '%Y-%m-%d'), delivered, n, 100 * rate, 100 * baseline,
            baseline_n, {{ alert_baseline_days }}, z
        ) AS detail
    FROM drops
    WHERE
        round(baseline - rate, 9) >= {{ alert_min_drop }}
        AND z <= -{{ alert_z }}
),

estimates AS (
    SELECT
        campaign_id,
        name,
        sender,
        channel,
        calculated_price AS estimate,
        coalesce(list_currency, currency) AS currency
    FROM campaigns
    WHERE calculated_price > 0 AND coalesce(list_currency, currency) IS NOT NULL
),

campaign_spend AS (
    SELECT
        cost_facts.campaign_id,
        count(*) AS messages,
        sum(cost_facts.price) AS spend,
        max(cost_facts.day) AS day
    FROM cost_facts
    INNER JOIN estimates
        ON
            cost_facts.campaign_id = estimates.campaign_id
            AND cost_facts.currency = estimates.currency
    WHERE cost_facts.price IS NOT NULL
    GROUP BY cost_facts.campaign_id
),

spend_spike AS (
    SELECT
        'spend_spike' AS kind,
        'campaign' AS dimension,
        'campaign ' || estimates.campaign_id
        || coalesce(' "' || estimates.name || '"', '')
        || coalesce(' (' || estimates.sender || ')', '') AS subject,
        estimates.channel,
        CAST(NULL AS VARCHAR) AS country_name,
        CAST(NULL AS VARCHAR) AS operator,
        estimates.sender,
        estimates.currency,
        campaign_spend.day,
        campaign_spend.messages,
        CAST(campaign_spend.spend AS DOUBLE) AS observed,
        CAST(estimates.estimate AS DOUBLE) AS baseline,
        CAST(NULL AS DOUBLE) AS z,
        printf(
            'campaign %d spent %s %s on %d messages by %s: %.1f x its estimate of %s',
            estimates.campaign_id, CAST(campaign_spend.spend AS VARCHAR), estimates.currency,
            campaign_spend.messages, strftime(campaign_spend.day, '%Y-%m-%d'),
            CAST(campaign_spend.spend AS DOUBLE) / CAST(estimates.estimate AS DOUBLE),
            CAST(estimates.estimate AS VARCHAR)
        ) AS detail
    FROM campaign_spend
    INNER JOIN estimates ON campaign_spend.campaign_id = estimates.campaign_id
    WHERE campaign_spend.spend > {{ alert_spend_factor }} * estimates.estimate
),

latest_runway AS (
    SELECT *
    FROM balance_runway
    ORDER BY day DESC
    LIMIT 1
),

short_runway AS (
    SELECT
        'short_runway' AS kind,
        'account' AS dimension,
        'balance in ' || currency AS subject,
        CAST(NULL AS VARCHAR) AS channel,
        CAST(NULL AS VARCHAR) AS country_name,
        CAST(NULL AS VARCHAR) AS operator,
        CAST(NULL AS VARCHAR) AS sender,
        currency,
        day,
        CAST(NULL AS BIGINT) AS messages,
        days_left AS observed,
        CAST(spend_7d_per_day AS DOUBLE) AS baseline,
        CAST(NULL AS DOUBLE) AS z,
        printf(
            'balance on %s: %s %s (credit %s) lasts %.1f days at %s %s a day, the mean '
            || 'spend of the %d days up to it (under %s days)%s',
            strftime(day, '%Y-%m-%d'), CAST(balance AS VARCHAR), currency,
            CAST(coalesce(credit, 0) AS VARCHAR), days_left, CAST(spend_7d_per_day AS VARCHAR),
            currency, {{ runway_window_days }}, '{{ alert_runway_days }}',
            CASE
                WHEN len(unconverted_currencies) > 0
                    THEN
                        '; spend in ' || array_to_string(unconverted_currencies, ', ')
                        || ' left out (no rate in BSG_CURRENCY_RATES)'
                ELSE ''
            END
        ) AS detail
    FROM latest_runway
    WHERE days_left < {{ alert_runway_days }}
)

SELECT * FROM delivery_drop
UNION ALL
SELECT * FROM spend_spike
UNION ALL
SELECT * FROM short_runway
ORDER BY day, kind, dimension, subject, channel
