"""Alerting: the policy that turns flags into alerts, and incidents."""

from anomalert.alerting.incidents import Incident
from anomalert.alerting.policy import AlertPolicy

__all__ = ["AlertPolicy", "Incident"]
