"""The one hierarchy of sandbox errors: each class carries its HTTP status and code (B2, B3)."""
from __future__ import annotations


class SandboxError(Exception):
    """An error a client should see; rendered into the envelope by `sandbox.http.envelope`."""

    status = 500
    code = "internal_error"
    default_message = "The sandbox failed unexpectedly."
    # What the client did wrong to meet this error, for its contract report
    # (sandbox/control/report.py): a kind of contract violation, "state_rule" for a lifecycle
    # rule's refusal, or None when the client is not to blame (a missing task, an injected fault).
    blame: str | None = None

    def __init__(self, message: str | None = None, details: list[dict] | None = None):
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


# 400: bad input
class BadRequest(SandboxError):
    status = 400
    code = "invalid_request"
    default_message = "The request is not valid."
    blame = "invalid_request"


class InvalidJson(BadRequest):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class SandboxUsage(BadRequest):
    """A 400 about the sandbox's own controls (its headers, the control plane), not the contract."""
    blame = None


class InvalidFixture(SandboxUsage):
    code = "invalid_fixture"


class InvalidSession(SandboxUsage):
    code = "invalid_session"


class SessionFull(SandboxUsage):
    """A session's own state is bounded, like everything a request can grow: the sandbox's limit, not the contract's."""
    code = "session_full"


class InvalidPrefer(SandboxUsage):
    code = "invalid_prefer"


class InvalidFault(SandboxUsage):
    code = "invalid_fault"


class InvalidSubscription(SandboxUsage):
    code = "invalid_subscription"


class InvalidEvent(SandboxUsage):
    code = "invalid_event"


class InvalidPaginationToken(BadRequest):
    code = "invalid_pagination_token"
    default_message = "The pagination token is malformed."


class CorsPreflightRefused(SandboxUsage):
    code = "cors_preflight_refused"


class HostNotAllowed(SandboxUsage):
    code = "host_not_allowed"


# 400: state rules refused (B5)
class StateRuleRefused(BadRequest):
    """A lifecycle rule refused the action; the code names the rule."""
    blame = "state_rule"


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
    """A move's body names another upload than its path (B15): a named rule for the gate, but
    no state the client lost track of; the request itself is wrong."""
    code = "upload_id_mismatch"
    blame = "invalid_request"


class TooManyFiles(BadRequest):
    code = "too_many_files"




class InvalidMeta(BadRequest):
    code = "invalid_meta"


# 401
class Unauthorized(SandboxError):
    status = 401
    code = "invalid_api_key"
    default_message = "The API key is not valid."
    blame = "auth"


class MissingApiKey(Unauthorized):
    code = "missing_api_key"
    default_message = "No API key was sent; send 'Authorization: Bearer <key>'."


# 403
class Forbidden(SandboxError):
    status = 403
    code = "forbidden"
    default_message = "The API key may not do this."
    blame = "auth"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"


class ProjectNotGranted(Forbidden):
    code = "project_not_granted"


# 404 (B4: another team's resource answers exactly like a missing one)
class NotFound(SandboxError):
    status = 404
    code = "not_found"
    default_message = "No such resource."


class RouteNotFound(NotFound):
    """No operation of the contract at this path."""
    code = "route_not_found"
    blame = "unknown_route"


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


class SessionNotFound(NotFound):
    code = "session_not_found"


class ControlForbidden(Forbidden):
    code = "control_plane_forbidden"
    blame = None


class ControlCallUnmarked(Forbidden):
    """A state-changing control call a web page's form could have sent."""
    code = "control_call_unmarked"
    blame = None


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
    blame = "invalid_request"


class MethodNotAllowed(SandboxError):
    status = 405
    code = "method_not_allowed"
    blame = "wrong_method"

    def __init__(self, message: str, allow: list[str]):
        super().__init__(message)
        self.allow = allow


class PayloadTooLarge(SandboxError):
    status = 413
    code = "payload_too_large"
    blame = "invalid_request"


class UnsupportedMediaType(SandboxError):
    status = 415
    code = "unsupported_media_type"
    blame = "invalid_request"


class TooManyStreams(SandboxError):
    """A live channel past its bound (sandbox/control/live.py): held connections are a resource too."""
    status = 429
    code = "too_many_streams"


# Answered by the HTTP server itself (sandbox/http/limits.py), before a request reaches the app.
class RequestTimeout(SandboxError):
    status = 408
    code = "request_timeout"


class RequestHeaderFieldsTooLarge(SandboxError):
    status = 431
    code = "request_header_fields_too_large"
    blame = "invalid_request"


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


class SessionMoved(StoreBusy):
    """Never an answer: a request that read its session without a round trip met a newer
    version of it, and runs again whole (sandbox/control/layers.py JournalRecorder)."""
    code = "session_moved"


# 502 and 504: the platform behind `task-sandbox proxy` (sandbox/proxy/upstream.py)
class UpstreamUnreachable(SandboxError):
    status = 502
    code = "upstream_unreachable"
    default_message = "The proxy could not reach the upstream API; nothing was forwarded. Retry once it is back."


class UpstreamBadAnswer(SandboxError):
    status = 502
    code = "upstream_bad_answer"
    default_message = "The upstream API answered in a way HTTP cannot carry on; the proxy answers for it."


class UpstreamTimeout(SandboxError):
    status = 504
    code = "upstream_timeout"
    default_message = ("The upstream API did not answer within the proxy's --upstream-timeout; the request may "
                       "or may not have taken effect there. Read the resource before retrying.")


def _kinds(cls) -> list[type[SandboxError]]:
    return [cls] + [k for sub in cls.__subclasses__() for k in _kinds(sub)]


# Each code as the class that names it answers it: what a client is to blame for, by code.
BLAME_BY_CODE = {cls.code: cls.blame for cls in _kinds(SandboxError) if "code" in vars(cls)}


class FixtureError(Exception):
    """A fixture record is invalid; the message names file, record and field (B13)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]  # one line each, for counting
