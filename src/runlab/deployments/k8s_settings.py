"""The ``config`` keys of the ``kubernetes`` and ``kserve`` targets, read and checked in one place.

``config`` comes from Python (``{"replicas": 2, "apply": True}``) or from ``-C key=value``
(:func:`runlab.deployments.config.parse_config` reads values as JSON when they parse, so
``-C replicas=2`` is already an int and ``-C apply=true`` a bool). Both spellings are accepted
here: ``"2"`` and ``2``, ``"true"`` and ``True``. Every key is checked before anything is
written or sent, so a typo or a bad value fails with nothing created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runlab.errors import InvalidParameter

__all__ = [
    "DEFAULT_CONTAINER_PORT",
    "DEFAULT_IMAGE_REPOSITORY",
    "KubeSettings",
    "default_image",
    "read_settings",
    "validate_name",
    "validate_namespace",
]

#: The serving image's repository; the default tag is the running runlab's version. It is the
#: generic image `runlab sagemaker build-and-push-container` builds (runlab with its models
#: extra, no model): the container's command replaces that image's SageMaker entry point.
DEFAULT_IMAGE_REPOSITORY = "runlab-pyfunc"
#: The port ``runlab models serve`` listens on inside the container (as in the Docker image).
DEFAULT_CONTAINER_PORT = 8080

_SHARED_KEYS = frozenset(
    {
        "apply",
        "dry_run",
        "output",
        "namespace",
        "image",
        "image_pull_policy",
        "image_pull_secret",
        "service_account",
        "replicas",
        "port",
        "cpu_request",
        "memory_request",
        "cpu_limit",
        "memory_limit",
        "gpu_limit",
        "env",
        "env_from_secret",
        "tracking_uri",
        "registry_uri",
        "trust_model",
        "workers",
        "startup_timeout",
        "model_in_image",
    }
)
TARGET_KEYS: dict[str, frozenset[str]] = {
    "kubernetes": _SHARED_KEYS | {"service_port", "service_type"},
    "kserve": _SHARED_KEYS | {"max_replicas", "deployment_mode", "storage_initializer"},
}
#: Keys that say what to do with the manifests, not what they hold (never stored with them).
ACTION_KEYS = frozenset({"apply", "dry_run", "output"})

_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
_DEPLOYMENT_MODES = ("Serverless", "RawDeployment")
# An RFC 1035 label: what Kubernetes requires of Service (and so InferenceService) names.
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# An RFC 1123 subdomain: names of namespaces, secrets, service accounts.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# Kubernetes resource quantities: 500m, 2, 1.5, 512Mi, 1G, 1e3.
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][0-9]+)?$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
# Variables the target sets itself; a user's env of the same name would silently fight them.
_RESERVED_ENV = frozenset({"RUNLAB_TRACKING_URI", "RUNLAB_REGISTRY_URI", "STORAGE_URI"})


def default_image() -> str:
    """``runlab-pyfunc:<runlab version>``: the serving image built for this runlab."""
    from runlab import __version__

    return f"{DEFAULT_IMAGE_REPOSITORY}:{__version__}"


@dataclass(frozen=True)
class KubeSettings:
    """The checked ``config`` of one create or update (see ``target_help()`` for each key)."""

    target: str
    apply: bool = False
    dry_run: bool = False
    output: str | None = None
    namespace: str | None = None
    image: str = field(default_factory=default_image)
    image_pull_policy: str | None = None
    image_pull_secret: str | None = None
    service_account: str | None = None
    replicas: int = 1
    max_replicas: int | None = None
    port: int = DEFAULT_CONTAINER_PORT
    service_port: int = 80
    service_type: str = "ClusterIP"
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    env_from_secrets: tuple[str, ...] = ()
    tracking_uri: str | None = None
    registry_uri: str | None = None
    trust_model: bool = False
    workers: int = 1
    startup_timeout: int = 600
    model_in_image: bool = False
    deployment_mode: str | None = None
    storage_initializer: bool | None = None  # None: when the model's location allows it
    #: The config as given, less the action keys: recorded on the objects, so that an update
    #: starts from it.
    stored: dict[str, Any] = field(default_factory=dict, repr=False)


def validate_name(name: object, what: str = "deployment name") -> str:
    """``name`` if it can name a Kubernetes Service: an RFC 1035 label of at most 63 chars."""
    if not isinstance(name, str) or not name:
        raise InvalidParameter(f"The {what} must be a non-empty string, got {name!r}.")
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise InvalidParameter(
            f"{name!r} cannot be a {what} on Kubernetes: use at most 63 lower-case letters, "
            "digits and '-', starting with a letter and ending with a letter or digit "
            "(e.g. churn-model)."
        )
    return name


def validate_namespace(namespace: object) -> str:
    """``namespace`` if it can name a Kubernetes namespace."""
    return _subdomain("namespace", namespace)


def read_settings(target: str, config: Mapping[str, Any] | None) -> KubeSettings:
    """The checked settings of ``config`` for ``target`` (``kubernetes`` or ``kserve``).

    Raises :class:`~runlab.errors.InvalidParameter` naming the first key that is unknown or
    whose value is not allowed.
    """
    given = dict(config or {})
    if not all(isinstance(key, str) for key in given):
        raise InvalidParameter("Config keys must be strings.")
    env = _env(given)
    known = TARGET_KEYS[target]
    unknown = sorted(key for key in given if key not in known and not key.startswith("env."))
    if unknown:
        raise InvalidParameter(
            f"Unknown config key(s) for the {target} target: {', '.join(unknown)}. Known: "
            f"{', '.join(sorted(known))}, env.NAME (see `runlab deployments help -t {target}`)."
        )
    values: dict[str, Any] = {"target": target, "env": env}
    for key in ("apply", "dry_run", "trust_model", "model_in_image"):
        if key in given:
            values[key] = _bool(key, given[key])
    if "storage_initializer" in given and given["storage_initializer"] != "auto":
        values["storage_initializer"] = _bool("storage_initializer", given["storage_initializer"])
    for key in ("output", "image", "tracking_uri", "registry_uri"):
        if given.get(key) is not None:
            values[key] = _text(key, given[key])
    for key in ("namespace", "image_pull_secret", "service_account"):
        if given.get(key) is not None:
            values[key] = _subdomain(key, given[key])
    values.update(_choices(given))
    values.update(_numbers(given))
    values["requests"], values["limits"] = _resources(given)
    if given.get("env_from_secret") is not None:
        values["env_from_secrets"] = _secret_names(given["env_from_secret"])
    values["stored"] = {
        key: value for key, value in given.items() if key not in ACTION_KEYS and value is not None
    }
    return KubeSettings(**values)


def _choices(given: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, allowed in (
        ("image_pull_policy", _PULL_POLICIES),
        ("service_type", _SERVICE_TYPES),
        ("deployment_mode", _DEPLOYMENT_MODES),
    ):
        if given.get(key) is None:
            continue
        value = given[key]
        if value not in allowed:
            raise InvalidParameter(
                f"Config {key} must be one of {', '.join(allowed)}, got {value!r}."
            )
        values[key] = value
    return values


def _numbers(given: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, low, high in (
        ("replicas", 0, 1000),
        ("max_replicas", 1, 1000),
        ("port", 1, 65535),
        ("service_port", 1, 65535),
        ("workers", 1, 256),
        ("startup_timeout", 10, 86400),
    ):
        if given.get(key) is not None:
            values[key] = _int(key, given[key], low, high)
    low_replicas = values.get("replicas", 1)
    if values.get("max_replicas") is not None and values["max_replicas"] < low_replicas:
        raise InvalidParameter(
            f"Config max_replicas ({values['max_replicas']}) must be at least replicas "
            f"({low_replicas})."
        )
    return values


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidParameter(f"Config {key} must be true or false, got {value!r}.")


def _int(key: str, value: Any, low: int, high: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise InvalidParameter(
            f"Config {key} must be a whole number from {low} to {high}, got {value!r}."
        )
    return number


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise InvalidParameter(
            f"Config {key} must be a non-empty string without surrounding spaces, got {value!r}."
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InvalidParameter(f"Config {key} must not contain control characters.")
    return value


def _subdomain(key: str, value: Any) -> str:
    text = _text(key, value)
    if len(text) > 253 or not _DNS_SUBDOMAIN.match(text):
        raise InvalidParameter(
            f"Config {key} must be a Kubernetes name (lower-case letters, digits, '-' and "
            f"'.'), got {value!r}."
        )
    return text


def _quantity(key: str, value: Any) -> str:
    text = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _QUANTITY.match(text):
        raise InvalidParameter(
            f"Config {key} must be a Kubernetes quantity (e.g. 500m or 2 for CPU, 512Mi or 4Gi "
            f"for memory), got {value!r}."
        )
    return text


def _amount(quantity: str) -> float:
    """A quantity's value, to compare a request with its limit."""
    for suffix, scale in _BINARY.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * scale
    match = re.match(r"^([0-9.]+(?:[eE][0-9]+)?)([mkMGTPE]?)$", quantity)
    assert match is not None  # _quantity accepted it
    return float(match.group(1)) * _DECIMAL[match.group(2)]


def _resources(given: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    for key, bucket, resource in (
        ("cpu_request", requests, "cpu"),
        ("memory_request", requests, "memory"),
        ("cpu_limit", limits, "cpu"),
        ("memory_limit", limits, "memory"),
        ("gpu_limit", limits, "nvidia.com/gpu"),
    ):
        if given.get(key) is not None:
            bucket[resource] = _quantity(key, given[key])
    if "nvidia.com/gpu" in limits and not limits["nvidia.com/gpu"].isdigit():
        raise InvalidParameter(
            f"Config gpu_limit must be a whole number of GPUs, got {limits['nvidia.com/gpu']!r}."
        )
    for resource in ("cpu", "memory"):
        both = resource in requests and resource in limits
        if both and _amount(requests[resource]) > _amount(limits[resource]):
            raise InvalidParameter(
                f"Config {resource}_request ({requests[resource]}) is more than "
                f"{resource}_limit ({limits[resource]}); Kubernetes refuses that."
            )
    return requests, limits


def _env(given: dict[str, Any]) -> dict[str, str]:
    """``env`` (an object, or its JSON text) merged with the ``env.NAME`` keys."""
    raw = given.get("env")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            raise InvalidParameter(
                'Config env must be a JSON object of names to values (-C \'env={"NAME": '
                '"value"}\'), or give each variable as -C env.NAME=value.'
            )
    if raw is not None and not isinstance(raw, Mapping):
        raise InvalidParameter(f"Config env must be a mapping of names to values, got {raw!r}.")
    pairs = dict(raw or {})
    pairs.update({key[4:]: value for key, value in given.items() if key.startswith("env.")})
    env: dict[str, str] = {}
    for name, value in pairs.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise InvalidParameter(f"{name!r} is not an environment variable name.")
        if name in _RESERVED_ENV:
            raise InvalidParameter(
                f"The target sets {name} itself (from config tracking_uri, registry_uri or "
                "the model's location); do not give it in env."
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidParameter(
                f"The value of environment variable {name} must be text or a number, got {value!r}."
            )
        env[name] = str(value)
    return env


def _secret_names(value: Any) -> tuple[str, ...]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise InvalidParameter(
            f"Config env_from_secret must name one or more Secrets (comma-separated), got "
            f"{value!r}."
        )
    return tuple(_subdomain("env_from_secret", name.strip()) for name in names)
