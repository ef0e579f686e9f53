"""The SageMaker target's settings: its URI, and the ``config`` keys of each operation.

The keys are MLflow's (``execution_role_arn``, ``bucket``, ``image_url``, ``region_name``,
``mode``, ``archive``, ``instance_type``, ``instance_count``, ``vpc_config``,
``data_capture_config``, ``synchronous``, ``timeout_seconds``, ``variant_name``, ``env``,
``tags``, ``async_inference_config``, ``serverless_config``, ``assume_role_arn``) plus runlab's
``trust_model``. Values may come typed from Python or as text from ``-C key=value`` (``"2"``,
``"true"``, a JSON object); each is converted to its key's type, and an unknown key or a value
that does not fit is refused with a message naming it, before anything is sent to AWS.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "DEFAULT_INSTANCE_COUNT",
    "DEFAULT_INSTANCE_TYPE",
    "DEFAULT_REGION",
    "DEFAULT_TIMEOUT_SECONDS",
    "MODES",
    "DeleteSettings",
    "DeploySettings",
    "parse_target_uri",
    "settings_from_config",
]

DEFAULT_REGION = "us-west-2"
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_INSTANCE_COUNT = 1
DEFAULT_TIMEOUT_SECONDS = 1200
MODES = ("create", "add", "replace")


def parse_target_uri(target_uri: str) -> tuple[str, str | None]:
    """(region, role ARN to assume) of ``sagemaker``, ``sagemaker:/REGION`` or
    ``sagemaker:/REGION/ROLE_ARN``."""
    _, _, rest = target_uri.partition(":")
    rest = rest.strip().strip("/")
    if not rest:
        return DEFAULT_REGION, None
    region, _, role = rest.partition("/")
    role = role.strip("/")
    if region.startswith("arn:"):
        raise InvalidParameter(
            f"The target URI {target_uri!r} names a role without a region: write "
            "sagemaker:/<region>/<role ARN>, e.g. sagemaker:/us-west-2/arn:aws:iam::"
            "123456789012:role/deployer."
        )
    if not region.replace("-", "").isalnum():
        raise InvalidParameter(f"{region!r} in {target_uri!r} is not an AWS region name.")
    return region, role or None


@dataclass(frozen=True)
class DeploySettings:
    """Everything a deployment (or transform job, or pushed model) is made with."""

    region_name: str = DEFAULT_REGION
    assume_role_arn: str | None = None
    mode: str = "create"
    execution_role_arn: str | None = None
    bucket: str | None = None
    image_url: str | None = None
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = DEFAULT_INSTANCE_COUNT
    vpc_config: dict[str, Any] | None = None
    data_capture_config: dict[str, Any] | None = None
    async_inference_config: dict[str, Any] = field(default_factory=dict)
    serverless_config: dict[str, Any] = field(default_factory=dict)
    variant_name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    archive: bool = False
    synchronous: bool = True
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    trust_model: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidParameter(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}.")
        if self.instance_count < 1:
            raise InvalidParameter(f"instance_count must be 1 or more, got {self.instance_count}.")
        if self.timeout_seconds < 0:
            raise InvalidParameter(
                f"timeout_seconds must be 0 or more, got {self.timeout_seconds}."
            )


@dataclass(frozen=True)
class DeleteSettings:
    """How a deployment is deleted."""

    region_name: str = DEFAULT_REGION
    assume_role_arn: str | None = None
    archive: bool = False
    synchronous: bool = True
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidParameter(f"Config {key} must be a whole number, got {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise InvalidParameter(f"Config {key} must be a whole number, got {value!r}.")


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise InvalidParameter(f"Config {key} must be true or false, got {value!r}.")


def _as_dict(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidParameter(f"Config {key} must be a JSON object, got {value!r}.") from None
    if not isinstance(value, Mapping):
        raise InvalidParameter(f"Config {key} must be a JSON object, got {value!r}.")
    return dict(value)


def _as_str_dict(key: str, value: Any) -> dict[str, str]:
    found = _as_dict(key, value)
    if not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in found.values()
    ):
        raise InvalidParameter(f"Config {key} must map names to text values, got {value!r}.")
    return {str(k): str(v) for k, v in found.items()}


def _as_str(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # -C reads digits as a number; a bucket may be named 2024
    if not isinstance(value, str):
        raise InvalidParameter(f"Config {key} must be text, got {value!r}.")
    return value.strip() or None


def _convert(key: str, value: Any, kind: Any) -> Any:
    text = str(kind)
    if text == "int":
        return _as_int(key, value)
    if text == "bool":
        return _as_bool(key, value)
    if "dict[str, str]" in text:
        return _as_str_dict(key, value)
    if "dict" in text:
        return None if value is None and "None" in text else _as_dict(key, value)
    if key in ("mode", "region_name", "instance_type"):
        converted = _as_str(key, value)
        if converted is None:
            raise InvalidParameter(f"Config {key} must not be empty.")
        return converted
    return _as_str(key, value)


def settings_from_config(cls: type[Any], config: Mapping[str, Any] | None, **defaults: Any) -> Any:
    """``cls`` (:class:`DeploySettings` or :class:`DeleteSettings`) from a ``config`` dict.

    ``defaults`` (the target URI's region and role, the operation's mode) apply where
    ``config`` says nothing.
    """
    if config is not None and not isinstance(config, Mapping):
        raise InvalidParameter(f"config must be a dict, got {type(config).__name__}.")
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    given = dict(config or {})
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise InvalidParameter(
            f"Unknown SageMaker config key(s): {', '.join(unknown)}. Known keys: "
            f"{', '.join(sorted(fields))}."
        )
    values = {key: value for key, value in defaults.items() if value is not None}
    for key, value in given.items():
        values[key] = _convert(key, value, fields[key])
    return cls(**values)
