"""loadlab: measure Flask against FastAPI on a real PostgreSQL with distributed Locust."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loadlab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
