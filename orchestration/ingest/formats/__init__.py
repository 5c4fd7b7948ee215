"""The export formats AutoStack reads, in the order detection tries them.

One small module per format; a new format is a new module here, added to FORMATS.
"""

from orchestration.ingest.formats.base import ExportFormat
from orchestration.ingest.formats.focus import FOCUS

FORMATS: tuple[ExportFormat, ...] = (FOCUS,)

__all__ = ["FORMATS", "ExportFormat"]
