"""A local emulator of Entra ID, AD FS and the Dataverse Web API (F&O later under /data/).

Public surface: :class:`EmulatorConfig`, :func:`build_app`, :func:`running_emulator`.
"""

from __future__ import annotations

from emulator.app import build_app
from emulator.config import EmulatorConfig
from emulator.server import RunningEmulator, running_emulator

__all__ = ["EmulatorConfig", "RunningEmulator", "build_app", "running_emulator"]
