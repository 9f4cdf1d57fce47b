"""End-to-end fixtures: a simulator and in-process transports to it."""

from __future__ import annotations

import pytest

from bsg_simulator.testing import inprocess_transport, make_simulator


@pytest.fixture
def sim():
    return make_simulator(messages=6_000, seed=11)


@pytest.fixture
def transport_for():
    made = []

    def factory(sim):
        t = inprocess_transport(sim)
        made.append(t)
        return t

    yield factory
    for t in made:
        t.close()
