"""From a file in the handover folder to a catalogued recording (DESIGN.md section 4)."""
