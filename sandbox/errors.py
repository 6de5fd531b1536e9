"""The one hierarchy of sandbox errors: each class carries its HTTP status and code (B2, B3)."""
from __future__ import annotations


class SandboxError(Exception):
    """An error a client should see; rendered into the envelope by `sandbox.envelope`."""

    status = 500
    code = "internal_error"
    default_message = "The sandbox failed unexpectedly."

    def __init__(self, message: str | None = None, details: list[dict] | None = None):
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


# 400: bad input
class BadRequest(SandboxError):
    status = 400
    code = "invalid_request"
    default_message = "The request is not valid."


class InvalidJson(BadRequest):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class InvalidFixture(BadRequest):
    code = "invalid_fixture"


class InvalidSession(BadRequest):
    code = "invalid_session"


class InvalidPrefer(BadRequest):
    code = "invalid_prefer"


class InvalidFault(BadRequest):
    code = "invalid_fault"


class InvalidSubscription(BadRequest):
    code = "invalid_subscription"


class InvalidEvent(BadRequest):
    code = "invalid_event"


class InvalidPaginationToken(BadRequest):
    code = "invalid_pagination_token"
    default_message = "The pagination token is malformed."


class CorsPreflightRefused(BadRequest):
    code = "cors_preflight_refused"


# 400: state rules refused (B5)
class StateRuleRefused(BadRequest):
    """A lifecycle rule refused the action; the code names the rule."""


class TaskNotReviewing(StateRuleRefused):
    code = "task_not_reviewing"


class TaskNotUnlockable(StateRuleRefused):
    code = "task_not_unlockable"


class TaskExported(StateRuleRefused):
    code = "task_exported"


class UploadProcessed(StateRuleRefused):
    code = "upload_processed"


class TaskProcessing(StateRuleRefused):
    code = "task_processing"


class TaskAlreadyApproved(StateRuleRefused):
    code = "task_already_approved"


class TaskAlreadyDisapproved(StateRuleRefused):
    code = "task_already_disapproved"


class ValidationFailed(StateRuleRefused):
    """Completing a task that lacks a required entity (B7); details name each one."""
    code = "validation_failed"


class UploadIdMismatch(StateRuleRefused):
    """A move's body names another upload than its path (B15)."""
    code = "upload_id_mismatch"


class TooManyFiles(BadRequest):
    code = "too_many_files"




class InvalidMeta(BadRequest):
    code = "invalid_meta"


# 401
class Unauthorized(SandboxError):
    status = 401
    code = "invalid_api_key"
    default_message = "The API key is not valid."


class MissingApiKey(Unauthorized):
    code = "missing_api_key"
    default_message = "No API key was sent; send 'Authorization: Bearer <key>'."


# 403
class Forbidden(SandboxError):
    status = 403
    code = "forbidden"
    default_message = "The API key may not do this."


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class ProjectNotGranted(Forbidden):
    code = "project_not_granted"


# 404 (B4: another team's resource answers exactly like a missing one)
class NotFound(SandboxError):
    status = 404
    code = "route_not_found"
    default_message = "No such resource."


class TeamNotFound(NotFound):
    code = "team_not_found"


class ProjectNotFound(NotFound):
    code = "project_not_found"


class TaskNotFound(NotFound):
    code = "task_not_found"


class UploadNotFound(NotFound):
    code = "upload_not_found"


class FolderNotFound(NotFound):
    code = "folder_not_found"


class UnknownScenario(NotFound):
    code = "scenario_not_found"


class FaultNotFound(NotFound):
    code = "fault_not_found"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"


class ControlForbidden(Forbidden):
    code = "control_plane_forbidden"


class DeliveryInFlight(SandboxError):
    status = 409
    code = "delivery_in_flight"


class WithStatus(SandboxError):
    """An error whose status is only known when it is raised."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class InjectedFault(WithStatus):
    """A status a fault rule or `Prefer: code=` asked for; the body still follows the contract."""
    code = "injected_fault"


class RequestRefused(WithStatus):
    """Any other 4xx of the HTTP layer beneath the sandbox."""
    code = "request_refused"


class MethodNotAllowed(SandboxError):
    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, allow: list[str]):
        super().__init__(message)
        self.allow = allow


class PayloadTooLarge(SandboxError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(SandboxError):
    status = 415
    code = "unsupported_media_type"


# 503: the store behind the sandbox (sandbox/store/redis.py)
class StoreUnavailable(SandboxError):
    status = 503
    code = "store_unavailable"
    default_message = ("The sandbox's state store (Redis) did not answer in time; nothing was changed. "
                       "Retry once it is back.")


class StoreUncertain(StoreUnavailable):
    default_message = ("The sandbox's state store (Redis) did not confirm the change in time: it was "
                       "applied whole or not at all. Read the resource before retrying.")


class StoreBusy(StoreUnavailable):
    default_message = ("Too many concurrent changes to this session; nothing was changed. "
                       "Retry the request.")


class FixtureError(Exception):
    """A fixture record is invalid; the message names file, record and field (B13)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]  # one line each, for counting
