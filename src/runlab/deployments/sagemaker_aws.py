"""AWS for the SageMaker target: boto3 sessions, AWS's refusals as runlab errors, names.

boto3 is imported here, inside functions, so that ``import runlab.deployments`` stays light and
a missing boto3 says ``pip install 'runlab[sagemaker]'``. Credentials, and the endpoint of each
service, come from boto3's usual sources: ``AWS_*`` environment variables (including
``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_SAGEMAKER``), config files, instance roles. A target
URI naming a role (``sagemaker:/us-west-2/arn:aws:iam::123456789012:role/deployer``) makes every
call with that role's temporary credentials (STS AssumeRole).

Every call to AWS goes through :func:`aws_errors`, which turns a refusal into a
:class:`~runlab.errors.RunlabError` that names the operation, AWS's error code and AWS's own
message, plus what to do about it when runlab knows.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runlab.errors import (
    InvalidParameter,
    NotFound,
    PermissionDenied,
    RunlabError,
    Unavailable,
)

__all__ = [
    "AwsContext",
    "aws_errors",
    "check_resource_name",
    "error_code",
    "is_not_found",
    "new_session",
    "require_boto3",
    "unique_name",
]

logger = logging.getLogger("runlab.deployments.sagemaker")

#: SageMaker's rule for endpoint, model, configuration, variant and job names.
_RESOURCE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")
_ASSUMED_ROLE = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([\w+=,.@-]+)/")
_SUFFIX_LENGTH = 12

_NOT_FOUND_CODES = frozenset(
    {
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchEntity",
        "404",
        "NotFound",
        "ResourceNotFound",
        "ResourceNotFoundException",
        "RepositoryNotFoundException",
        "ImageNotFoundException",
    }
)
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "403",
        "UnauthorizedOperation",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
    }
)
_HINTS = {
    "ResourceLimitExceeded": "Ask AWS for a higher quota (the Service Quotas console), or "
    "deploy on another instance type or fewer instances",
}
_BUSY_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ServiceUnavailable", "InternalFailure", "SlowDown"}
)


def require_boto3() -> Any:
    """The boto3 module, or an ImportError saying ``pip install 'runlab[sagemaker]'``."""
    from runlab.artifacts._optional import require

    return require("boto3", "sagemaker", "The SageMaker deployment target")


_loader_lock = threading.Lock()
_shared_loader: Any = None


def new_session(**kwargs: Any) -> Any:
    """A boto3 session that shares this process's loaded AWS service models.

    Credentials are resolved afresh by each session; only botocore's data loader (which parses
    the services' JSON models, a few hundred milliseconds for SageMaker's) is shared.
    """
    global _shared_loader
    boto3 = require_boto3()
    import botocore.session

    core = botocore.session.get_session()
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = core.get_component("data_loader")
        loader = _shared_loader
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core, **kwargs)
    # boto3 adds its own data folder to the loader's search path on every session.
    with _loader_lock:
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return session


def error_code(exc: BaseException) -> str | None:
    """AWS's error code of a botocore ``ClientError`` (also one wrapped by boto3's uploads)."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            return str(code) if code is not None else None
    return None


def is_not_found(exc: BaseException) -> bool:
    """Whether AWS answered that the thing asked about does not exist.

    SageMaker says so with a ``ValidationException`` whose message starts "Could not find".
    """
    code = error_code(exc)
    if code in _NOT_FOUND_CODES:
        return True
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
    return code == "ValidationException" and message.startswith("Could not find")


def _client_error(exc: BaseException) -> tuple[str, str, str] | None:
    """(operation, code, message) of a ClientError, or of the one a boto3 upload wraps."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict) and "Error" in response:
            error = response["Error"]
            operation = getattr(candidate, "operation_name", "") or ""
            return operation, str(error.get("Code", "")), str(error.get("Message", "")).strip()
    return None


@contextlib.contextmanager
def aws_errors(what: str, hint: str = "") -> Iterator[None]:
    """Turn botocore's errors inside the block into runlab errors about ``what``.

    ``what`` completes "AWS refused ..." ("creating the SageMaker model churn-model-…");
    ``hint`` is added to the message (what the user can do).
    """
    from botocore import exceptions as boto_errors

    try:
        yield
    except RunlabError:
        raise
    except (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError) as exc:
        raise PermissionDenied(
            f"No usable AWS credentials for {what} ({exc}). Configure them as for the AWS CLI "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance role)."
        ) from None
    except boto_errors.EndpointConnectionError as exc:
        raise Unavailable(f"Cannot reach AWS for {what}: {exc}.") from None
    except boto_errors.ParamValidationError as exc:
        # botocore checks a request against the service's model before sending it.
        raise InvalidParameter(f"Invalid request for {what}: {exc}") from None
    except Exception as exc:
        found = _client_error(exc)
        if found is None:
            raise
        operation, code, message = found
        text = f"AWS refused {what}" + (f" ({operation})" if operation else "")
        text += f": {code}: {message}" if message else f": {code}"
        hint = hint or _HINTS.get(code, "")
        if hint:
            text += f". {hint}"
        if not text.endswith("."):
            text += "."
        if is_not_found(exc):
            raise NotFound(text) from None
        if code in _DENIED_CODES:
            raise PermissionDenied(text) from None
        if code in _BUSY_CODES:
            raise Unavailable(text) from None
        raise InvalidParameter(text) from None


def check_resource_name(name: object, what: str) -> str:
    """``name`` if SageMaker accepts it as a resource name, else a clear InvalidParameter."""
    if not isinstance(name, str) or not _RESOURCE_NAME.match(name):
        raise InvalidParameter(
            f"{what} {name!r} is not a valid SageMaker name: 1 to 63 letters, digits and "
            "hyphens, starting with a letter or digit, with no hyphen at the end."
        )
    return name


def unique_name(base: str, kind: str) -> str:
    """``<base>-<kind>-<random>``, shortened to SageMaker's 63 characters (base is cut)."""
    suffix = secrets.token_hex(_SUFFIX_LENGTH // 2)
    room = 63 - len(kind) - len(suffix) - 2
    return f"{base[:room].rstrip('-')}-{kind}-{suffix}"


def _parse_role_arn(arn: str) -> tuple[str, str]:
    match = _ROLE_ARN.match(arn)
    if match is None:
        raise InvalidParameter(
            f"{arn!r} is not an IAM role ARN (expected arn:aws:iam::<account>:role/<name>)."
        )
    return match.group(1), match.group(2)


@dataclass
class AwsContext:
    """One region's AWS clients, with the target URI's assumed role if it names one."""

    region: str
    assume_role_arn: str | None = None
    _session: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _account: str | None = field(default=None, repr=False)

    @property
    def session(self) -> Any:
        """The boto3 session: the default credential chain, or the assumed role's."""
        if self._session is None:
            if self.assume_role_arn:
                _parse_role_arn(self.assume_role_arn)
                sts = new_session().client("sts", region_name=self.region)
                with aws_errors(f"assuming the role {self.assume_role_arn}"):
                    credentials = sts.assume_role(
                        RoleArn=self.assume_role_arn, RoleSessionName="runlab-sagemaker"
                    )["Credentials"]
                self._session = new_session(
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                    region_name=self.region,
                )
            else:
                self._session = new_session(region_name=self.region)
        return self._session

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` in this region (one per service, reused)."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, region_name=self.region)
        return self._clients[service]

    @property
    def account_id(self) -> str:
        """The AWS account the calls act in (STS GetCallerIdentity, asked once)."""
        if self._account is None:
            with aws_errors("telling who the caller is"):
                self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account

    def execution_role(self, given: str | None) -> str:
        """The role SageMaker runs the model with: ``given`` (checked), or the caller's role.

        A given role of this account must exist (IAM GetRole); when the caller may not ask IAM,
        the check is left to SageMaker. Without one, the caller must itself be acting as a role
        (an assumed-role identity), which is then used, as MLflow does.
        """
        if given:
            account, name = _parse_role_arn(given)
            if account == self.account_id:
                self._check_role_exists(given, name)
            return given
        with aws_errors("telling who the caller is"):
            arn = str(self.client("sts").get_caller_identity()["Arn"])
        match = _ASSUMED_ROLE.match(arn)
        if match is None:
            raise InvalidParameter(
                f"No execution role given, and the current AWS identity ({arn}) is not a role "
                "SageMaker could use. Pass --execution-role-arn (config execution_role_arn) "
                "with a role SageMaker may assume."
            )
        with aws_errors(
            f"looking up the role {match.group(2)!r} of the current identity",
            "Pass --execution-role-arn (config execution_role_arn) instead",
        ):
            return str(self.client("iam").get_role(RoleName=match.group(2))["Role"]["Arn"])

    def _check_role_exists(self, arn: str, name: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client("iam").get_role(RoleName=name)
        except ClientError as exc:
            if error_code(exc) in _DENIED_CODES:
                logger.info("Not allowed to look up the role %s; SageMaker will check it.", arn)
                return
            with aws_errors(
                f"the execution role {arn}",
                "Pass an existing role SageMaker may assume with --execution-role-arn",
            ):
                raise

    def ecr_registry(self) -> str:
        """This account's ECR registry host in this region."""
        domain = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"{self.account_id}.dkr.ecr.{self.region}.{domain}"
