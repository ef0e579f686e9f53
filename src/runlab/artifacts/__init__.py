"""Artifact storage: the repository protocol, its local and S3 implementations, and path safety.

Importing this package is cheap: boto3, numpy, Pillow, matplotlib, plotly and PyYAML are imported
only by the functions that need them.
"""

from runlab.artifacts.base import ArtifactRepository
from runlab.artifacts.local import LocalArtifactRepository
from runlab.artifacts.path_safety import join_artifact_path, safe_join, validate_artifact_path
from runlab.artifacts.repository_factory import SUPPORTED_SCHEMES, get_artifact_repository
from runlab.artifacts.rich_content import log_dict, log_figure, log_image, log_text
from runlab.artifacts.s3 import S3ArtifactRepository

__all__ = [
    "SUPPORTED_SCHEMES",
    "ArtifactRepository",
    "LocalArtifactRepository",
    "S3ArtifactRepository",
    "get_artifact_repository",
    "join_artifact_path",
    "log_dict",
    "log_figure",
    "log_image",
    "log_text",
    "safe_join",
    "validate_artifact_path",
]
