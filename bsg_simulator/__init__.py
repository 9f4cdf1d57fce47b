"""A faithful local simulator of the BSG messaging API (One API and legacy REST): the
provider's published shapes by default, the older pages' variants as quirks (`QUIRKS`).

    from bsg_simulator import Simulator, SimulatorConfig, create_app
    from bsg_simulator.server import run_in_thread
    from bsg_simulator.testing import make_simulator, inprocess_transport, running_simulator

See `simulator.py` for the interpretations it makes and `data.py` for the id ranges.
"""

from .app import SimulatedDisconnect, SimulatorApp, create_app
from .clock import Clock
from .config import FAULT_KINDS, QUIRKS, SERVER_QUIRKS, QuirkConfig, SimulatorConfig
from .data import CAMPAIGN_ID_BASE, MESSAGE_ID_BASE, TASK_ID_OFFSET
from .simulator import LEGACY_ERRORS, Simulator

__all__ = [
    "CAMPAIGN_ID_BASE",
    "FAULT_KINDS",
    "LEGACY_ERRORS",
    "MESSAGE_ID_BASE",
    "QUIRKS",
    "SERVER_QUIRKS",
    "TASK_ID_OFFSET",
    "Clock",
    "QuirkConfig",
    "SimulatedDisconnect",
    "Simulator",
    "SimulatorApp",
    "SimulatorConfig",
    "create_app",
]
