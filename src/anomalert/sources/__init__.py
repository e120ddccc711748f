"""Data sources: CSV/Parquet, Prometheus, access logs, the NAB corpus."""
