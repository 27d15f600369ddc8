"""A loopback Kimi: a second, independent implementation of Kimi's coding endpoint.

It imports nothing else of kimibridge on purpose: it is the oracle the product is tested
against, and sharing code with the thing it checks would let a bug agree with itself.
"""

from kimibridge.emulator.app import Emulator, EmulatorConfig, build_app
from kimibridge.emulator.faults import Fault, FaultKind

__all__ = ["Emulator", "EmulatorConfig", "Fault", "FaultKind", "build_app"]
