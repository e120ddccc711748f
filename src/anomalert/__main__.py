"""``python -m anomalert`` runs the command line (the same as ``anomalert``)."""

from anomalert.cli import main

raise SystemExit(main())
