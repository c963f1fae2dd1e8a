"""Domain errors raised by `core`; the CLI, API and pages map them to user messages once."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class for every error the workbench reports to a user as one line."""


class ConfigError(WorkbenchError):
    """The workspace configuration is missing or invalid (the message names file and key)."""


class WorkspaceError(WorkbenchError):
    """The workspace directory is missing, incomplete or not initialised."""


class DataReadError(WorkbenchError):
    """A data file cannot be read as a table (the message names the file and the problem)."""


class ValidationFailed(WorkbenchError):
    """A batch broke at least one rule with severity `fail`."""

    def __init__(self, message: str, report_path: str | None = None) -> None:
        super().__init__(message)
        self.report_path = report_path


class VersioningError(WorkbenchError):
    """A git or DVC operation failed; the previous data version is left untouched."""


class PipelineBusy(WorkbenchError):
    """Another run of the data pipeline holds the workspace lock."""


class TrackingUnavailable(WorkbenchError):
    """The MLflow tracking store cannot be reached or read (the message names the URI)."""


class ModelNotFound(WorkbenchError):
    """The registered model, or the requested version of it, does not exist."""


class PromotionRefused(WorkbenchError):
    """A promotion or rollback was refused (no reason given, nothing to roll back to, ...)."""


class GateFailed(PromotionRefused):
    """The version failed at least one promotion gate; `failed` holds those gates as dicts."""

    def __init__(self, message: str, failed: list[dict] | None = None) -> None:
        super().__init__(message)
        self.failed = failed or []


class NotAnApprover(PromotionRefused):
    """Authentication is configured and the signed-in user lacks the approver role."""


def one_line(exc: BaseException) -> str:
    """An exception as one line: domain errors by message, others with their type."""
    text = str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"
    return (text.strip().splitlines() or [type(exc).__name__])[0][:1000]
