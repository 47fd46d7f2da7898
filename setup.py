"""Build hook: compile the gettext catalogs (mm_tui/locale/*/LC_MESSAGES/mm.po) into .mo files.

Everything else about the package is in pyproject.toml. A wheel gets the .mo files in its build
tree; an editable install (``pip install -e .``, as scripts/lib/setup.sh does) gets them beside
the .po files, where the installed package reads them.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CATALOGS = "mm_tui/locale/*/LC_MESSAGES/mm.po"


def compile_catalogs(target_root: Path) -> list[str]:
    """Write ``<target_root>/mm_tui/locale/<code>/LC_MESSAGES/mm.mo`` for every catalog."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(ROOT.glob(CATALOGS)):
        with po.open("rb") as fh:
            catalog = read_po(fh)
        mo = target_root / po.relative_to(ROOT).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as fh:
            write_mo(fh, catalog)
        written.append(str(mo))
    return written


class BuildPyWithCatalogs(build_py):
    def run(self) -> None:
        super().run()
        editable = getattr(self, "editable_mode", False)
        self._catalogs = compile_catalogs(ROOT if editable else Path(self.build_lib))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), *getattr(self, "_catalogs", [])]


setup(cmdclass={"build_py": BuildPyWithCatalogs})
