"""The checks behind ``avatarify doctor`` and Help -> Diagnostics, one module per area.

Each check function returns ``Check`` records and never raises for what it is checking: a missing
package or device is a finding. ``avatarify_app.diagnostics.doctor.run_checks`` runs them all in order.
"""

from avatarify_app.diagnostics.check import Check, Status

__all__ = ["Check", "Status"]
