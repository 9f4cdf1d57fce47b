"""Reliability suite: tests that try to break the pipeline (faults, kills, drift, bad input,
hostile values, secrets, TLS and redirects).

Every test here uses the distinctive secrets of `rel_helpers` and, once it is done, has its
data directory (``tmp_path``), its captured logs and its captured output scanned for them.
"""

from __future__ import annotations

import logging

import pytest

from bsg_simulator.testing import inprocess_transport
from tests.reliability.rel_helpers import leaks_in_files, leaks_in_text


@pytest.fixture(autouse=True)
def no_secret_leaks(request, tmp_path, caplog, capsys):
    """After each test: no secret in any file under tmp_path, in the log records, or in
    what the test printed."""
    caplog.set_level(logging.DEBUG)
    yield
    out, err = capsys.readouterr()
    leaks = leaks_in_files(tmp_path)
    leaks += [f"log: {s}" for s in leaks_in_text(caplog.text)]
    leaks += [f"stdout/stderr: {s}" for s in leaks_in_text(out + err)]
    # exception texts attached to records (exc_info) are part of caplog.text already
    assert not leaks, f"secrets leaked: {leaks}"
    # give the output back so a failing test still shows it
    print(out, end="")


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
