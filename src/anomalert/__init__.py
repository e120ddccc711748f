"""anomalert."""
