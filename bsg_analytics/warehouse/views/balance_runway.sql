-- balance_runway: one row per UTC day with a balance observation (balance_history): how many
-- days the money left lasts at the recent rate of spend.
-- day: the UTC date of observed_at; observed_at, balance, credit, currency: the day's last
-- observation.
-- spend_7d_per_day: the spend (cost_facts: price by the UTC date of time_sent, else of
-- time_in) of the {{ runway_window_days }} days up to and including day, divided by
-- {{ runway_window_days }}, in the balance's currency, rounded to 7 places (DECIMAL(18,7)):
-- prices in that currency as they are, prices in another one times its rate in the
-- currency_rates setting (BSG_CURRENCY_RATES: one unit of it in the balance's currency).
-- unconverted_currencies: the currencies spent in those days that have no rate, sorted; their
-- spend is left out of spend_7d_per_day (an empty list when there is none).
-- days_left: (balance + credit) / spend_7d_per_day; null where nothing was spent.
WITH observations AS (
    SELECT
        CAST(make_timestamp(epoch_us(observed_at)) AS DATE) AS day,
        observed_at,
        balance,
        credit,
        currency
    FROM balance_history
    WHERE observed_at IS NOT NULL
    QUALIFY
        row_number() OVER (
            PARTITION BY CAST(make_timestamp(epoch_us(observed_at)) AS DATE)
            ORDER BY observed_at DESC
        ) = 1
),

daily_spend AS (
    SELECT
        day,
        currency,
        sum(price) AS spend
    FROM cost_facts
    WHERE price IS NOT NULL AND currency IS NOT NULL AND day IS NOT NULL
    GROUP BY day, currency
),

rates AS (
    SELECT currency, rate
    FROM (VALUES {{ currency_rates }}) AS given (currency, rate)
    WHERE currency IS NOT NULL
),

window_spend AS (
    SELECT
        observations.day,
        daily_spend.currency,
        sum(daily_spend.spend) AS spend
    FROM observations
    INNER JOIN daily_spend
        ON
            daily_spend.day > observations.day - {{ runway_window_days }}
            AND daily_spend.day <= observations.day
    GROUP BY observations.day, daily_spend.currency
),

converted AS (
    SELECT
        window_spend.day,
        window_spend.currency,
        CASE
            WHEN window_spend.currency = observations.currency THEN window_spend.spend
            ELSE window_spend.spend * rates.rate
        END AS spend
    FROM window_spend
    INNER JOIN observations ON window_spend.day = observations.day
    LEFT JOIN rates ON window_spend.currency = rates.currency
),

per_day AS (
    SELECT
        day,
        sum(spend) AS spend,
        list_sort(list(currency) FILTER (WHERE spend IS NULL)) AS unconverted_currencies
    FROM converted
    GROUP BY day
),

runway AS (
    SELECT
        observations.day,
        observations.observed_at,
        observations.balance,
        observations.credit,
        observations.currency,
        CAST(round(per_day.spend / {{ runway_window_days }}, 7) AS DECIMAL(18, 7))
            AS spend_7d_per_day,
        coalesce(per_day.unconverted_currencies, []) AS unconverted_currencies
    FROM observations
    LEFT JOIN per_day ON observations.day = per_day.day
)

SELECT
    day,
    observed_at,
    balance,
    credit,
    currency,
    spend_7d_per_day,
    unconverted_currencies,
    CASE
        WHEN spend_7d_per_day > 0
            THEN CAST(balance + coalesce(credit, 0) AS DOUBLE) / CAST(spend_7d_per_day AS DOUBLE)
    END AS days_left
FROM runway
