"""Real servers on 127.0.0.1 and a Store fixture per storage type, for the conformance suite.

Each module ``tests/stores/<kind>.py`` defines three fixtures:

- ``<kind>_store``: a fresh, empty Store of that type against a real server (function scope; the
  server itself is session-scoped and started by the fixture on a free port);
- ``<kind>_denied_store``: the same server with wrong credentials (only for kinds in DENIABLE);
- ``<kind>_unreachable_store``: settings pointing at a port where nothing listens
  (only for kinds in REMOTE).
"""

# every storage type the conformance suite runs against
KINDS = ["local", "smb", "s3", "gdrive", "gcs", "azure"]
# types with a server whose credentials can be wrong
DENIABLE: list[str] = ["smb", "s3", "gdrive", "azure"]  # not gcs: its emulator takes any key
# types reached over the network
REMOTE: list[str] = ["smb", "s3", "gdrive", "gcs", "azure"]
