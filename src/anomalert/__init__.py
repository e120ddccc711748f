"""anomalert: anomaly detection for infrastructure metrics, turned into trustworthy alerts.

>>> from anomalert import make
>>> make("default").name
'default'
"""

from __future__ import annotations

from anomalert.alerting import AlertPolicy, Incident
from anomalert.data import validate_frame
from anomalert.detection import Detection, detect
from anomalert.detectors import Detector, available, make
from anomalert.errors import AnomalertError, InputError, NotFittedError, ParameterError
from anomalert.events import Event
from anomalert.monitor import Monitor, Verdict

__all__ = [
    "AlertPolicy",
    "AnomalertError",
    "Detection",
    "Detector",
    "Event",
    "Incident",
    "InputError",
    "Monitor",
    "NotFittedError",
    "ParameterError",
    "Verdict",
    "available",
    "detect",
    "make",
    "validate_frame",
]

__version__ = "0.1.0"
