"""DVD+RW archiving underneath the ``dvd`` connector (seed F16).

- :mod:`~mm_engine.dvd.drives`: optical drives and their media from udev (pyudev), and a monitor
  that follows disc insertion and removal live.
- :mod:`~mm_engine.dvd.xorriso`: xorriso runs: media state, appending a session, listing,
  extracting, MD5 checks, blanking (only with a confirmation) and ejecting.
- :mod:`~mm_engine.dvd.disc`: which disc is ours (the marker file), blank or foreign.

The Store over one drive is ``mm_engine.storage.dvd.DvdStore``. Nothing here imports pyudev
until a drive is listed or monitored.
"""
