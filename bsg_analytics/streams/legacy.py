"""The transform the two legacy REST streams share: a lookup's answer is an SMS or a task by
its keys (a task id asked of ``/rest/sms/{id}`` answers as an SMS), so their pages go
through one transform in landing order."""

from __future__ import annotations

from datetime import tzinfo

from bsg_analytics.raw import RawPage
from bsg_analytics.schemas.tables import LEGACY_SMS, LEGACY_TASKS
from bsg_analytics.streams.base import Transform, TransformOutput
from bsg_analytics.transforms.common import TransformReport
from bsg_analytics.transforms.legacy import transform_legacy


def _transform(pages: list[RawPage], zone: tzinfo, report: TransformReport) -> TransformOutput:
    sms, tasks, quarantine = transform_legacy(pages, zone, report)
    return TransformOutput({LEGACY_SMS.name: sms, LEGACY_TASKS.name: tasks}, quarantine)


LEGACY_TRANSFORM = Transform("legacy", _transform, (LEGACY_SMS, LEGACY_TASKS))
