"""The control plane under /_sandbox (B12): sessions, scenarios, clock, forced states, faults, journal."""
