"""The export formats AutoStack reads, in the order detection tries them.

One small module per format; a new format is a new module here, added to FORMATS.
"""

from orchestration.ingest.formats.aws_cur2 import AWS_CUR2
from orchestration.ingest.formats.aws_cur_legacy import AWS_CUR_LEGACY, AWS_CUR_LEGACY_ATHENA
from orchestration.ingest.formats.azure import AZURE
from orchestration.ingest.formats.base import ExportFormat
from orchestration.ingest.formats.focus import FOCUS
from orchestration.ingest.formats.gcp import GCP

FORMATS: tuple[ExportFormat, ...] = (AWS_CUR_LEGACY, AWS_CUR_LEGACY_ATHENA, AWS_CUR2, FOCUS, GCP, AZURE)

__all__ = ["FORMATS", "ExportFormat"]
