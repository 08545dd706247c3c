"""Static files that come from installed packages rather than from this repository.

plotly.js is served from the `plotly` Python package (a dependency in
pyproject.toml), so no minified file is ever committed: in development the
finder serves it straight from site-packages, and `collectstatic` copies it
into STATIC_ROOT with everything else.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

#: static path -> (package, file inside the package)
PACKAGE_FILES = {"vendor/plotly.min.js": ("plotly", "package_data/plotly.min.js")}


def _package_file(package: str, relative: str) -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


class PackageFileFinder(BaseFinder):
    def check(self, **kwargs):
        from django.core.checks import Warning

        return [
            Warning(f"{package} is not installed: {name} cannot be served (pip install {package}).",
                    id="frontend.W001")
            for name, (package, relative) in PACKAGE_FILES.items() if _package_file(package, relative) is None
        ]

    def find(self, path, find_all=False, **kwargs):
        found = PACKAGE_FILES.get(path)
        file = _package_file(*found) if found else None
        if file is None:
            return [] if find_all else None
        return [str(file)] if find_all else str(file)

    def list(self, ignore_patterns):
        for name, (package, relative) in PACKAGE_FILES.items():
            file = _package_file(package, relative)
            if file is not None:
                storage = FileSystemStorage(location=str(file.parent))
                storage.prefix = str(Path(name).parent)
                yield file.name, storage
