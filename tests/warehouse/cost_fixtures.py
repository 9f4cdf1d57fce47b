"""Hand-made `message_costs`, `messages`, `campaigns` and `balance_history` for the country,
operator, runway and anomaly views (expected values in test_cost_views.py and
test_alerts.py, each computed by hand from the comments here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.warehouse import wh_fixtures
from tests.warehouse.wh_fixtures import ts

UTC = dt.UTC


def cost(message_id: int, **fields) -> dict:
    """A message_costs row; times as 'YYYY-MM-DD hh:mm:ss' UTC strings, created_date the UTC
    date of time_in."""
    row: dict = {"message_id": message_id, "mcc": None, "mnc": None}
    for key, value in fields.items():
        row[key] = ts(value) if key.startswith("time_") and isinstance(value, str) else value
    row.setdefault("export_status", (row.get("status") or "").capitalize() or None)
    row["created_date"] = row["time_in"].date()
    return row


KYIVSTAR = {"country_name": "Ukraine", "operator": "Kyivstar", "mcc": "255", "mnc": "03"}
VODAFONE_UA = {"country_name": "Ukraine", "operator": "Vodafone", "mcc": "255", "mnc": "01"}
ORANGE_PL = {"country_name": "Poland", "operator": "Orange", "mcc": "260", "mnc": "03"}

# --- the country / operator / runway views (test_cost_views.py) ------------------------------
# 2026-03-01 and 2026-03-02. Status and sender come from `messages` where the id is there.
COSTS = [
    # 1: the export says delivered and ACME; messages (newer) says read, from Acme
    cost(1, channel="sms", **KYIVSTAR, originator="ACME", price="0.0350000", currency="EUR",
         time_in="2026-03-01 09:59:00", time_sent="2026-03-01 10:00:00",
         time_dlr="2026-03-01 10:00:10", status="delivered", sl_clicks=1),
    # 2: the export still says sent; messages says undelivered (final, not delivered)
    cost(2, channel="sms", **KYIVSTAR, originator="ACME", price="0.035", currency="EUR",
         time_in="2026-03-01 10:59:00", time_sent="2026-03-01 11:00:00", status="sent"),
    # 3: not in messages: the export's status and originator
    cost(3, channel="sms", **VODAFONE_UA, originator="ACME", price="0.04", currency="EUR",
         time_in="2026-03-01 12:00:00", time_sent="2026-03-01 12:00:05",
         time_dlr="2026-03-01 12:00:35", status="delivered"),
    # 4: the same operator, priced in USD
    cost(4, channel="sms", **KYIVSTAR, originator="ACME", price="0.0350000", currency="USD",
         time_in="2026-03-01 13:00:00", time_sent="2026-03-01 13:00:00",
         time_dlr="2026-03-01 13:00:20", status="delivered"),
    # 5: Viber, not sent yet (no time_sent: its day is time_in's)
    cost(5, channel="viber", **ORANGE_PL, originator="ShopViber", price="0.02", currency="EUR",
         time_in="2026-03-01 23:30:00", status="scheduled", export_status="Scheduled"),
    # 6: taken in on 03-01, sent on 03-02: its day is 03-02
    cost(6, channel="sms", **KYIVSTAR, originator="ACME", price="0.035", currency="EUR",
         time_in="2026-03-01 23:50:00", time_sent="2026-03-02 00:10:00",
         time_dlr="2026-03-02 00:11:40", status="delivered"),
    # 7: refused (Rejected: failed), costs nothing
    cost(7, channel="sms", **KYIVSTAR, originator="ACME", price="0", currency="EUR",
         time_in="2026-03-02 09:00:00", time_sent="2026-03-02 09:00:00", status="failed",
         export_status="Rejected"),
    # 8: no price
    cost(8, channel="sms", **KYIVSTAR, originator="ACME", currency="EUR",
         time_in="2026-03-02 10:00:00", time_sent="2026-03-02 10:00:00",
         status="undelivered"),
]  # fmt: skip

MESSAGES = [
    wh_fixtures.message(1, campaign_id=100, channel="sms", sender="Acme", status="read",
                        sent_at="2026-03-01 10:00:00", delivered_at="2026-03-01 10:00:10"),
    wh_fixtures.message(2, campaign_id=100, channel="sms", sender="Acme", status="undelivered",
                        sent_at="2026-03-01 11:00:00"),
    wh_fixtures.message(4, campaign_id=100, channel="sms", sender="Acme", status="delivered",
                        sent_at="2026-03-01 13:00:00"),
    wh_fixtures.message(6, campaign_id=100, channel="sms", sender="Acme", status="delivered",
                        created_at="2026-03-01 23:50:00", sent_at="2026-03-02 00:10:00"),
]  # fmt: skip

BALANCES = [
    # nothing was spent in the 7 days up to 02-20
    {"observed_at": ts("2026-02-20 08:00:00"), "balance": "120", "credit": "0", "currency": "EUR"},
    # 03-01: two observations, the day's last counts
    {"observed_at": ts("2026-03-01 08:00:00"), "balance": "100", "credit": "0", "currency": "EUR"},
    {"observed_at": ts("2026-03-01 20:00:00"), "balance": "90", "credit": "10", "currency": "EUR"},
    {"observed_at": ts("2026-03-02 12:00:00"), "balance": "80", "credit": None, "currency": "EUR"},
]  # fmt: skip


def write_cost_fixture(root: Path | str) -> None:
    wh_fixtures.write_table(root, "message_costs", COSTS)
    wh_fixtures.write_table(root, "messages", MESSAGES)
    wh_fixtures.write_table(root, "balance_history", BALANCES)


# --- the anomalies (test_cost_views.py, test_alerts.py) --------------------------------------
# Baseline days 2026-03-01 .. 03-14, judged day 03-15 (TODAY), all SMS unless said.
TODAY = dt.date(2026, 3, 15)
BASE_DAYS = [TODAY - dt.timedelta(days=k) for k in range(14, 0, -1)]


class _Ids:
    def __init__(self) -> None:
        self.next = 10_000

    def take(self) -> int:
        self.next += 1
        return self.next


def _batch(ids: _Ids, day: dt.date, counts: dict[str, int], *, channel="sms", sender: str,
           where: dict, campaign_id=None, price=None, currency=None,
           with_message=True) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """`counts` messages per status on `day` (sent at 10:00 UTC): cost rows, message rows."""
    costs, messages = [], []
    at = dt.datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC)
    for status, n in counts.items():
        for _ in range(n):
            mid = ids.take()
            costs.append({"message_id": mid, "channel": channel, **where, "originator": sender,
                          "price": price, "currency": currency, "time_in": at, "time_sent": at,
                          "status": status, "export_status": status.capitalize(),
                          "created_date": day})  # fmt: skip
            if with_message:
                messages.append({"message_id": mid, "campaign_id": campaign_id,
                                 "channel": channel, "sender": sender, "status": status,
                                 "source": "rest", "phone": "380661234567", "created_at": at,
                                 "sent_at": at})  # fmt: skip
    return costs, messages


def anomaly_rows() -> tuple[list[dict], list[dict]]:
    ids = _Ids()
    costs: list[dict] = []
    messages: list[dict] = []

    def add(batch):
        costs.extend(batch[0])
        messages.extend(batch[1])

    germany = {"country_name": "Germany", "operator": "Telekom", "mcc": "262", "mnc": "01"}
    moldova = {"country_name": "Moldova", "operator": "Moldcell", "mcc": "259", "mnc": "02"}
    lithuania = {"country_name": "Lithuania", "operator": "Telia", "mcc": "246", "mnc": "01"}
    kazakhstan = {"country_name": "Kazakhstan", "operator": "Kcell", "mcc": "401", "mnc": "02"}
    for day in BASE_DAYS:
        # Acme -> Kyivstar: 9 of 10 delivered a day (baseline 126 of 140: 0.9)
        add(_batch(ids, day, {"delivered": 9, "undelivered": 1}, sender="Acme", where=KYIVSTAR))
        # Tiny -> Orange (Poland): 5 of 5 a day (70 of 70)
        add(_batch(ids, day, {"delivered": 5}, sender="Tiny", where=ORANGE_PL))
        # Bulk -> Telia: 475 of 500 a day (6650 of 7000: 0.95)
        add(_batch(ids, day, {"delivered": 475, "failed": 25}, sender="Bulk", where=lithuania))
    # Mid -> Telekom on Viber: 48 of 60 over four days (0.8)
    for day in BASE_DAYS[-4:]:
        add(_batch(ids, day, {"delivered": 12, "expired": 3}, channel="viber", sender="Mid",
                   where=germany))  # fmt: skip
    # Newish -> Moldcell: 40 of 40, on one day only (a baseline of 40 < 50 messages)
    add(_batch(ids, BASE_DAYS[-1], {"delivered": 40}, sender="Newish", where=moldova))

    # the judged day
    # a finding, three times (sender, country, operator): 20 of 100 final delivered; the 30
    # still `sent` are not final and left out
    add(_batch(ids, TODAY, {"delivered": 20, "undelivered": 80, "sent": 30}, sender="Acme",
               where=KYIVSTAR))  # fmt: skip
    # small volume: 10 of 40 (a fall of 0.75 on 40 < 50 messages): no finding
    add(_batch(ids, TODAY, {"delivered": 10, "undelivered": 30}, sender="Tiny", where=ORANGE_PL))
    # large volume, small fall: 1800 of 2000 (0.90 against 0.95: z = -8.2, a fall of 0.05 < 0.10)
    add(_batch(ids, TODAY, {"delivered": 1800, "failed": 200}, sender="Bulk", where=lithuania))
    # a fall of 0.14 (33 of 50 against 0.8) that 50 and 60 messages do not make significant
    add(_batch(ids, TODAY, {"delivered": 33, "undelivered": 17}, channel="viber", sender="Mid",
               where=germany))  # fmt: skip
    # 10 of 100, but the baseline holds 40 messages only
    add(_batch(ids, TODAY, {"delivered": 10, "undelivered": 90}, sender="Newish", where=moldova))

    # spend: campaign 500 estimated 1.00 EUR spends 35 x 0.10 = 3.50 (3.5 x: a spike);
    # 501 estimated 1.00 spends 29 x 0.10 = 2.90 the day before (2.9 x: none at 3.0);
    # 502 has no estimate (not judged); one USD message outside any campaign
    add(_batch(ids, TODAY, {"delivered": 35}, sender="Promo", where=kazakhstan,
               campaign_id=500, price="0.1", currency="EUR"))  # fmt: skip
    add(_batch(ids, BASE_DAYS[-1], {"delivered": 29}, sender="Promo", where=kazakhstan,
               campaign_id=501, price="0.1", currency="EUR"))  # fmt: skip
    add(_batch(ids, TODAY, {"delivered": 20}, sender="Promo", where=kazakhstan,
               campaign_id=502, price="1", currency="EUR"))  # fmt: skip
    add(_batch(ids, TODAY, {"delivered": 1}, sender="Promo", where=kazakhstan, price="1",
               currency="USD", with_message=False))  # fmt: skip
    return costs, messages


ANOMALY_CAMPAIGNS = [
    {"campaign_id": 500, "name": "Spring", "sender": "Promo", "channel": "sms",
     "calculated_price": "1.00", "currency": "EUR", "list_currency": "EUR",
     "created_at": ts("2026-03-14 09:00:00")},
    {"campaign_id": 501, "name": "Teaser", "sender": "Promo", "channel": "sms",
     "calculated_price": "1.00", "currency": "EUR", "created_at": ts("2026-03-13 09:00:00")},
    {"campaign_id": 502, "name": "Open", "sender": "Promo", "channel": "sms",
     "calculated_price": None, "currency": "EUR", "created_at": ts("2026-03-14 09:00:00")},
]  # fmt: skip

# EUR spend in the 7 days up to TODAY: 3.50 + 2.90 + 20.00 = 26.40, 3.7714286 a day: 7.00
# lasts 1.856 days; USD 1.00 has no rate. 03-14 is short too (0.50 at 2.90 / 7 a day), but
# only the latest row is judged.
ANOMALY_BALANCES = [
    {"observed_at": ts("2026-03-14 12:00:00"), "balance": "0.5", "credit": "0", "currency": "EUR"},
    {"observed_at": ts("2026-03-15 12:00:00"), "balance": "5", "credit": "2", "currency": "EUR"},
]  # fmt: skip


def write_anomaly_fixture(root: Path | str, *, balances: bool = True) -> None:
    costs, messages = anomaly_rows()
    wh_fixtures.write_table(root, "message_costs", costs)
    wh_fixtures.write_table(root, "messages", messages)
    wh_fixtures.write_table(root, "campaigns", ANOMALY_CAMPAIGNS)
    if balances:
        wh_fixtures.write_table(root, "balance_history", ANOMALY_BALANCES)
