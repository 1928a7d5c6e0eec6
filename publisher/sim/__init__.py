"""Device simulators that speak the real protocols, for tests, benchmarks and the demo."""

from publisher.sim.smsc import FaultMode, SimulatorThread, SmscConfig, SmscSimulator
from publisher.sim.smsc_state import LoggedPart, PartLog, ReassembledMessage, reassemble

__all__ = [
    "FaultMode",
    "LoggedPart",
    "PartLog",
    "ReassembledMessage",
    "SimulatorThread",
    "SmscConfig",
    "SmscSimulator",
    "reassemble",
]
