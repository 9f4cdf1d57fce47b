"""The legacy REST API: SMS (`GET /rest/sms/{id}`, `/rest/sms/reference/{reference}`,
`POST /rest/sms/getStatus`), tasks (`GET /rest/sms/task/{taskId}`, and the page's
`/rest/sms/{task_id}` under the `legacy_task_path` quirk) and Viber (`GET /rest/viber/{id}`,
`/rest/viber/reference/{reference}`), with the API's numbered errors.

As published, every answer is HTTP 200, errors included (`{"error": N, "errorDescription"}`):
2 for a missing or refused X-API-KEY (on every endpoint), 20 SMS not found, 24 a bad
payload or id, 27 a malformed reference, 29 a malformed task id, 30 task not found, 40 Viber
message not found.

Statuses are the legacy ones (LEGACY_SMS_STATUSES, LEGACY_VIBER_STATUSES), mapped from the
One API status the message has at the moment (`LEGACY_SMS_STATUS_OF`, `LEGACY_VIBER_STATUS_OF`;
the ground truth uses the same maps):

    scheduled, moderation -> new        accepted, sending -> waiting      sent -> sent
    delivered, read -> delivered        failed -> failed                  expired -> expired
    unknown -> unknown                  undelivered -> rejected (SMS) / undeliverable (Viber)
    not_viber_user -> not_viber_user (Viber; an SMS never has it)

`getStatus` takes `{"ids": [...]}`: 1..100 integers >= 1 (else error 24); it answers
`{"result": [...]}`, one item per distinct id asked that is a visible SMS, in the order asked;
ids not found are left out. A Viber message's `alt_route` / `alt_route_messages` describe its
SMS fallback once that exists (keys absent otherwise; a time not reached yet is left out of
`alt_route_messages`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bsg_analytics.schemas.statuses import LEGACY_SMS_STATUSES, LEGACY_VIBER_STATUSES

from . import data as D
from .common import REF_RE, ApiError, hash_key, reference_of
from .state import SimulatorState

LEGACY_ERRORS: dict[int, str] = {
    2: "Invalid API key",
    4: "Account blocked",
    20: "SMS not found",
    21: "Incorrect phone number",
    22: "External ID of the SMS request is missing",
    23: "SMS with this ID is already present",
    24: "Invalid query payload",
    25: "Invalid originator",
    26: "Empty or too long SMS text",
    27: "Incorrect external SMS ID",
    28: "Incorrect value of SMS validity",
    29: "The task id is incorrect",
    30: "Task not found",
    31: "The phone is already in the messaging list",
    32: "Sender not allowed",
    33: "Unresolved direction",
    34: "Invalid OTP, code generation error",
    35: "2WAY service is not activated",
    36: "Incorrect sender for 2WAY",
    40: "Message not found",
}
GET_STATUS_MAX_IDS = 100

LEGACY_SMS_STATUS_OF: dict[str, str] = {
    "scheduled": "new",
    "moderation": "new",
    "accepted": "waiting",
    "sending": "waiting",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "failed": "failed",
    "undelivered": "rejected",
    "expired": "expired",
    "unknown": "unknown",
    "not_rcs_user": "rejected",
    "not_viber_user": "rejected",
    "not_service_user": "rejected",
}
LEGACY_VIBER_STATUS_OF: dict[str, str] = {
    **LEGACY_SMS_STATUS_OF,
    "undelivered": "undeliverable",
    "not_viber_user": "not_viber_user",
    "not_rcs_user": "undeliverable",
    "not_service_user": "undeliverable",
}
assert set(LEGACY_SMS_STATUS_OF.values()) <= set(LEGACY_SMS_STATUSES)
assert set(LEGACY_VIBER_STATUS_OF.values()) <= set(LEGACY_VIBER_STATUSES)
# by status code
LEGACY_SMS_NAMES = np.array([LEGACY_SMS_STATUS_OF[s] for s in D.STATUS_NAMES], dtype=object)
LEGACY_VIBER_NAMES = np.array([LEGACY_VIBER_STATUS_OF[s] for s in D.STATUS_NAMES], dtype=object)


def _price(units: int) -> float:
    return round(units / D.UNITS, 7)


class LegacyMixin(SimulatorState):
    """The legacy REST bodies: `legacy_lookup`, `legacy_by_reference`, `legacy_get_status`,
    `legacy_task`, `viber_lookup`, `viber_by_reference`."""

    def legacy_error(self, code: int, key: int | str = "") -> ApiError:
        """An error answer (HTTP 200, as published); the code a number or a string as the
        `legacy_error_type` quirk says for this lookup."""
        as_num = self.quirks.pick1("legacy_error_type", hash_key(f"{code}:{key}"))
        return ApiError(
            200,
            {"error": code if as_num else str(code), "errorDescription": LEGACY_ERRORS[code]},
        )

    def key_error(self, key: str | None) -> ApiError | None:
        """Error 2 unless `key` is an accepted X-API-KEY (test_/live_, and the configured
        one when set)."""
        want = self.config.api_key
        if not key or not key.startswith(("test_", "live_")) or (want is not None and key != want):
            return self.legacy_error(2, key or "")
        return None

    def _id(self, value: int, mid: int) -> int | str:
        return str(value) if self.quirks.pick1("legacy_id_type", mid) else value

    # ------------------------------------------------------------------ SMS
    def legacy_lookup(
        self, raw_id: str, now: int | None = None, task_path: bool = False
    ) -> dict[str, Any]:
        """`/rest/sms/{id}` (task_path False: an SMS or, by its id range and when the
        `legacy_task_path` quirk lets the page's path answer, a task) and
        `/rest/sms/task/{taskId}`."""
        now = self.now_s(now)
        if not raw_id.isdigit():
            raise self.legacy_error(29 if task_path else 24, raw_id)
        value = int(raw_id)
        if task_path:
            return self.legacy_task(value, now)
        if D.TASK_ID_OFFSET <= value < D.MESSAGE_ID_BASE:
            if self.quirks.variant1("legacy_task_path", value) == "plain":
                return self.legacy_task(value, now)
            raise self.legacy_error(20, raw_id)
        return self.legacy_sms(value - D.MESSAGE_ID_BASE, now, key=raw_id)

    def legacy_by_reference(self, ref: str, now: int | None = None) -> dict[str, Any]:
        now = self.now_s(now)
        if not REF_RE.match(ref):
            raise self.legacy_error(27, ref)
        mid = self.message_of_reference(ref)
        if mid is None:
            raise self.legacy_error(20, ref)
        return self.legacy_sms(mid - D.MESSAGE_ID_BASE, now, key=ref)

    def _visible_of(self, j: int, now: int, channel: int) -> bool:
        ds = self.data
        return 0 <= j < self.visible_count(now) and ds.m_channel[j] == channel

    def legacy_sms(self, j: int, now: int, key: int | str = "") -> dict[str, Any]:
        if not self._visible_of(j, now, D.CH["sms"]):
            raise self.legacy_error(20, key)
        return {"error": 0, "errorDescription": "No errors", **self._sms_fields(j, now)}

    def _sms_fields(self, j: int, now: int, viber: bool = False) -> dict[str, Any]:
        """id, msisdn, reference (when the message has one), time_in, time_sent, time_dr,
        status, price, currency of message `j` at `now`."""
        ds = self.data
        st, sent_at, _, dr_at = self._trajectory(np.array([j]), now)
        mid = D.MESSAGE_ID_BASE + j
        c = int(ds.m_campaign[j])
        times = self.tz.fmt(np.array([ds.m_created[j], sent_at[0], dr_at[0]]))
        body: dict[str, Any] = {
            "id": self._id(mid, mid),
            "msisdn": self._id(int(ds.m_phone[j]), mid),
        }
        if self.m_has_ref[j]:
            body["reference"] = reference_of(mid)
        names = LEGACY_VIBER_NAMES if viber else LEGACY_SMS_NAMES
        body.update(
            time_in=times[0],
            time_sent=times[1],
            time_dr=times[2],
            status=str(names[int(st[0])]),
            price=_price(int(ds.m_amount[j])),
            currency=D.CURRENCIES[ds.c_currency[c]],
        )
        return body

    def legacy_get_status(self, payload: Any, now: int | None = None) -> dict[str, Any]:
        """`POST /rest/sms/getStatus` for a decoded JSON body."""
        now = self.now_s(now)
        ids = payload.get("ids") if isinstance(payload, dict) else None
        if (
            not isinstance(ids, list)
            or not 1 <= len(ids) <= GET_STATUS_MAX_IDS
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in ids)
        ):
            raise self.legacy_error(24, "getStatus")
        out = []
        for mid in dict.fromkeys(ids):
            j = mid - D.MESSAGE_ID_BASE
            if not self._visible_of(j, now, D.CH["sms"]):
                continue
            f = self._sms_fields(j, now)
            item: dict[str, Any] = {"id": f["id"]}
            if "reference" in f:
                item["external_id"] = f["reference"]
            for k in ("msisdn", "time_sent", "time_dr", "status", "price", "currency"):
                item[k] = f[k]
            out.append(item)
        return {"result": out}

    # ----------------------------------------------------------------- tasks
    def legacy_task(self, task_id: int, now: int) -> dict[str, Any]:
        ds = self.data
        ci = task_id - D.TASK_ID_OFFSET - D.CAMPAIGN_ID_BASE
        if (
            not (0 <= ci < ds.n_campaigns)
            or ds.c_channel[ci] != D.CH["sms"]
            or ds.c_created[ci] > now
        ):
            raise self.legacy_error(30, task_id)
        return {"error": 0, "errorDescription": "No errors", **self._task_body(ci, now)}

    def _task_body(self, ci: int, now: int) -> dict[str, Any]:
        """A task's fields. Over the campaign's messages: total = all; queued = not yet
        sent (scheduled, moderation); sent = total - queued (the provider's SENT statuses);
        enroute = accepted + sending + sent; delivered = delivered + read; accepted =
        delivered + enroute (taken by the operator, not refused); expired; undeliverable =
        undelivered + failed; unknown."""
        ds = self.data
        stats = self.campaign_stats(ci, now)
        p = stats["primary"]
        queued = p["scheduled"] + p["moderation"]
        enroute = p["accepted"] + p["sending"] + p["sent"]
        delivered = p["delivered"] + p["read"]
        return {
            "originator": ds.c_sender[ci],
            "body": ds.c_text[ci],
            "validity": int(ds.c_validity[ci]),
            "totalprice": _price(stats["total_units"]),
            "currency": D.CURRENCIES[ds.c_currency[ci]],
            "sent": self._sent_delivered(p)["sent"],
            "total": stats["total_messages"],
            "queued": queued,
            "accepted": delivered + enroute,
            "enroute": enroute,
            "delivered": delivered,
            "expired": p["expired"],
            "undeliverable": p["undelivered"] + p["failed"],
            "unknown": p["unknown"],
        }

    def task_ids(self) -> np.ndarray:
        """The legacy task ids: one per SMS campaign."""
        ds = self.data
        return D.TASK_ID_OFFSET + D.CAMPAIGN_ID_BASE + np.flatnonzero(ds.c_channel == D.CH["sms"])

    # ----------------------------------------------------------------- Viber
    def viber_lookup(self, raw_id: str, now: int | None = None) -> dict[str, Any]:
        """`GET /rest/viber/{id}`."""
        now = self.now_s(now)
        if not raw_id.isdigit():
            raise self.legacy_error(40, raw_id)
        return self.legacy_viber(int(raw_id) - D.MESSAGE_ID_BASE, now, key=raw_id)

    def viber_by_reference(self, ref: str, now: int | None = None) -> dict[str, Any]:
        """`GET /rest/viber/reference/{reference}`."""
        now = self.now_s(now)
        mid = self.message_of_reference(ref) if REF_RE.match(ref) else None
        if mid is None:
            raise self.legacy_error(40, ref)
        return self.legacy_viber(mid - D.MESSAGE_ID_BASE, now, key=ref)

    def legacy_viber(self, j: int, now: int, key: int | str = "") -> dict[str, Any]:
        ds = self.data
        if not self._visible_of(j, now, D.CH["viber"]):
            raise self.legacy_error(40, key)
        body = {"error": 0, "errorDescription": "No errors", **self._sms_fields(j, now, True)}
        f = int(ds.m_fallback[j])
        if f >= 0 and ds.m_created[f] <= now:
            alt = self._sms_fields(f, now)
            fid = self._id(D.MESSAGE_ID_BASE + f, D.MESSAGE_ID_BASE + j)
            c = int(ds.m_campaign[f])
            body["alt_route"] = [
                {"channel": "sms", "id": fid, "status": alt["status"], "price": alt["price"]}
            ]
            msg: dict[str, Any] = {"id": fid}
            for k in ("time_in", "time_sent", "time_dr"):
                if alt[k] is not None:
                    msg[k] = alt[k]
            msg.update(status=alt["status"], price=alt["price"], currency=alt["currency"],
                       message=ds.c_text[c], sender=ds.c_sender[c])  # fmt: skip
            body["alt_route_messages"] = [msg]
        return body
