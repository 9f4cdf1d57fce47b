"""The legacy REST API (SMS only): `GET /rest/sms/{id}` (a message or, by its id range, a
task), `/rest/sms/task/{task_id}` and `/rest/sms/reference/{reference}`, with the API's
numbered errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import data as D
from .common import REF_RE, ApiError, hash_key, message_id_of_reference, reference_of
from .state import SimulatorState

LEGACY_ERRORS: dict[int, str] = {
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
}


class LegacyMixin(SimulatorState):
    """`legacy_lookup`, `legacy_by_reference` and the bodies behind them."""

    def legacy_error(self, code: int, status: int, key: int | str) -> ApiError:
        as_str = self.quirks.pick1("legacy_error_type", hash_key(f"{code}:{key}"))
        return ApiError(
            status,
            {"error": str(code) if as_str else code, "errorDescription": LEGACY_ERRORS[code]},
        )

    def legacy_lookup(
        self, raw_id: str, now: int | None = None, task_path: bool = False
    ) -> dict[str, Any]:
        """`/rest/sms/{id}` (task_path False: a message or, by its id range, a task) and
        `/rest/sms/task/{task_id}`."""
        now = self.now_s(now)
        if not raw_id.isdigit():
            raise self.legacy_error(29 if task_path else 24, 400, raw_id)
        value = int(raw_id)
        if task_path or (value >= D.TASK_ID_OFFSET and value < D.MESSAGE_ID_BASE):
            return self.legacy_task(value, now)
        return self.legacy_sms(value - D.MESSAGE_ID_BASE, now, key=raw_id)

    def legacy_by_reference(self, ref: str, now: int | None = None) -> dict[str, Any]:
        now = self.now_s(now)
        if not REF_RE.match(ref):
            raise self.legacy_error(27, 400, ref)
        mid = message_id_of_reference(ref)
        if mid is None:
            raise self.legacy_error(20, 404, ref)
        return self.legacy_sms(mid - D.MESSAGE_ID_BASE, now, key=ref)

    def legacy_sms(self, j: int, now: int, key: int | str = "") -> dict[str, Any]:
        ds = self.data
        if not (0 <= j < self.visible_count(now)) or ds.m_channel[j] != 0:
            raise self.legacy_error(20, 404, key)
        idx = np.array([j])
        st, sent_at, _, dr_at = self._trajectory(idx, now)
        mid = D.MESSAGE_ID_BASE + j
        as_str = self.quirks.pick1("legacy_id_type", mid)
        c = int(ds.m_campaign[j])
        times = self.tz.fmt(np.array([ds.m_created[j], sent_at[0], dr_at[0]]))
        return {
            "error": 0,
            "errorDescription": "No errors",
            "id": str(mid) if as_str else mid,
            "msisdn": str(int(ds.m_phone[j])) if as_str else int(ds.m_phone[j]),
            "reference": reference_of(mid),
            "time_in": times[0],
            "time_sent": times[1],
            "time_dr": times[2],
            "status": D.STATUS_NAMES[int(st[0])],
            "price": int(ds.m_amount[j]) / 1e7,
            "currency": D.CURRENCIES[ds.c_currency[c]],
        }

    def legacy_task(self, task_id: int, now: int) -> dict[str, Any]:
        ds = self.data
        ci = task_id - D.TASK_ID_OFFSET - D.CAMPAIGN_ID_BASE
        if not (0 <= ci < ds.n_campaigns) or ds.c_channel[ci] != 0 or ds.c_created[ci] > now:
            raise self.legacy_error(30, 404, task_id)
        return self._task_body(ci, now)

    def _task_body(self, ci: int, now: int) -> dict[str, Any]:
        ds = self.data
        stats = self.campaign_stats(ci, now)
        p = stats["primary"]
        return {
            "originator": ds.c_sender[ci],
            "body": ds.c_text[ci],
            "validity": int(ds.c_validity[ci]),
            "totalprice": stats["total_units"] / 1e7,
            "currency": D.CURRENCIES[ds.c_currency[ci]],
            "sent": self._sent_delivered(p)["sent"],
            "delivered": p["delivered"] + p["read"],
            "expired": p["expired"],
            "undeliverable": p["undelivered"] + p["failed"],
            "unknown": p["unknown"],
        }

    def task_ids(self) -> np.ndarray:
        """The legacy task ids: one per SMS campaign."""
        ds = self.data
        return D.TASK_ID_OFFSET + D.CAMPAIGN_ID_BASE + np.flatnonzero(ds.c_channel == 0)
