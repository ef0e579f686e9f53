"""A model's files as SageMaker takes them: ``model.tar.gz`` in an S3 bucket.

SageMaker downloads a model's ``ModelDataUrl`` and unpacks it into ``/opt/ml/model`` before it
starts the serving container, so the archive holds the model folder's contents at its top
(``MLmodel``, ``model.skops``, …). The archive is built the same way every time (sorted entries,
no owners, fixed times) and its files are world-readable, because the image serves as an
unprivileged user. A symbolic link is stored as the file it points to when that file is inside
the model folder, and refused otherwise: a model must not carry files from elsewhere.
"""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

from runlab.deployments.sagemaker_aws import AwsContext, aws_errors, error_code, logger
from runlab.errors import InvalidParameter

__all__ = [
    "DEFAULT_BUCKET_PREFIX",
    "MODEL_ARCHIVE",
    "default_bucket",
    "delete_model_data",
    "pack_model",
    "upload_model",
]

MODEL_ARCHIVE = "model.tar.gz"
DEFAULT_BUCKET_PREFIX = "runlab-sagemaker"


def _entries(folder: Path) -> list[tuple[Path, str]]:
    """(real path, name in the archive) of every file and folder below ``folder``, sorted."""
    root = folder.resolve()
    found: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in [*dirnames, *sorted(filenames)]:
            path = Path(dirpath) / name
            relative = path.relative_to(folder).as_posix()
            real = path.resolve()
            if path.is_symlink() and not real.is_relative_to(root):
                raise InvalidParameter(
                    f"The model folder {folder} has a symbolic link {relative} to {real}, "
                    "outside the model; copy that file into the model instead."
                )
            if path.is_symlink() and real.is_dir():
                raise InvalidParameter(
                    f"The model folder {folder} has a symbolic link {relative} to a folder; "
                    "SageMaker models are archived without folder links."
                )
            found.append((real, relative))
    return sorted(found, key=lambda entry: entry[1])


def pack_model(model_dir: str | os.PathLike[str], destination: str | os.PathLike[str]) -> Path:
    """Write ``model_dir``'s contents as the gzipped tar ``destination``; its path."""
    folder = Path(model_dir)
    if not (folder / "MLmodel").is_file():
        raise InvalidParameter(f"{os.fspath(folder)!r} is not a model folder (no MLmodel file).")
    target = Path(destination)
    # mtime=0 in the gzip header and the entries keeps the archive the same for the same model.
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for real, name in _entries(folder):
            info = archive.gettarinfo(str(real), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if real.is_dir():
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.mode = 0o644
                with real.open("rb") as data:
                    archive.addfile(info, data)
    return target


def default_bucket(ctx: AwsContext) -> str:
    """``runlab-sagemaker-<region>-<account>``, created in the region unless it exists."""
    from botocore.exceptions import ClientError

    name = f"{DEFAULT_BUCKET_PREFIX}-{ctx.region}-{ctx.account_id}"
    s3 = ctx.client("s3")
    try:
        s3.head_bucket(Bucket=name)
        return name
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            with aws_errors(f"looking up the default bucket {name!r}", "Pass --bucket instead"):
                raise
    logger.info("Creating the default model bucket %s", name)
    request: dict[str, object] = {"Bucket": name}
    if ctx.region != "us-east-1":  # us-east-1 refuses a location constraint naming itself
        request["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    with aws_errors(f"creating the default bucket {name!r}", "Pass --bucket instead"):
        s3.create_bucket(**request)
    return name


def upload_model(ctx: AwsContext, archive: Path, bucket: str, prefix: str) -> str:
    """Upload ``archive`` as ``s3://<bucket>/<prefix>/model.tar.gz``; that URL."""
    key = f"{prefix}/{MODEL_ARCHIVE}"
    url = f"s3://{bucket}/{key}"
    with aws_errors(
        f"uploading the model to {url}",
        "Pass --bucket (config bucket) naming a bucket of this region you may write to",
    ):
        ctx.client("s3").upload_file(str(archive), bucket, key)
    return url


def delete_model_data(ctx: AwsContext, url: str) -> None:
    """Delete the model archive at the S3 URL ``url`` (one a deployment uploaded)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        return
    with aws_errors(f"deleting the model data {url}"):
        ctx.client("s3").delete_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
