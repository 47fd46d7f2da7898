"""Migrating a legacy Contact Recorder installation (seed F36-F40).

:mod:`.legacy_format` reads its files (one XML call-details file beside each recording, and the
connector settings file); :mod:`.importer` turns them into catalogue rows and connectors. The
formats accepted are docs/contact-recorder-migration.md.
"""
