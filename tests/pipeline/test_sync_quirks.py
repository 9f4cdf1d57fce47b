"""A sync against the simulator in the pages' shapes (every quirk at its page variant, or a mix
per record), with faults, lands the same messages and campaigns as the published shapes."""

from __future__ import annotations

import pytest

from bsg_analytics.pipeline import run_sync
from bsg_simulator import QUIRKS
from bsg_simulator.testing import inprocess_transport, make_simulator

from .e2e import SINCE, TEST_NOW, assert_campaigns_match, assert_messages_match, settings_for


def _sync(tmp_path, quirks):
    sim = make_simulator(messages=2_000, seed=5, fault_rate=0.1, quirks=quirks)
    with inprocess_transport(sim) as transport:
        report = run_sync(settings_for(tmp_path / "d"), SINCE, transport=transport, now=TEST_NOW)
    return sim, report


@pytest.mark.parametrize("mode", ["pages", "mixed"])
def test_the_pages_shapes_land_every_message_and_campaign(tmp_path, mode):
    # (`messages_type_filter` is one behaviour per server: its mixed mode, a different one per
    # request, is no server's; each behaviour alone is below)
    sim, report = _sync(tmp_path, [f"all={mode}", "messages_type_filter=ignored"])
    got = assert_messages_match(tmp_path / "d", sim, TEST_NOW)
    assert set(got["channel"]) == {"sms", "viber", "rcs", "whatsapp", "hlr"}
    assert_campaigns_match(tmp_path / "d", sim, TEST_NOW)
    assert report.quarantined == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "quirk",
    [f"{name}={variant}" for name, (variants, _) in QUIRKS.items() for variant in variants[1:]],
)
def test_each_page_variant_alone_lands_every_message_and_campaign(tmp_path, quirk):
    sim, report = _sync(tmp_path, [quirk])
    assert_messages_match(tmp_path / "d", sim, TEST_NOW)
    assert_campaigns_match(tmp_path / "d", sim, TEST_NOW)
    assert report.quarantined == 0
