"""What a provider can say no with, as shared domain errors (the mapping is in docs/providers.md).

Each provider client maps its own codes onto these types, so nothing above the clients knows a
provider's codes. Each carries the plain-words message a member sees and the provider's own code.
"""

from __future__ import annotations

from ..errors import BotError

# Also how a failure notice recognises a refusal, to add advice fitting what the member did.
GENERATION_REFUSED = "The provider refused to make this image (often its moderation filter)."


class ProviderError(BotError):
    """A provider said no, or could not be reached. `code` is the provider's own code when known."""

    default_message = "The image provider returned an error."

    def __init__(
        self,
        detail: str = "",
        *,
        provider: str = "",
        code: str | None = None,
        retry_after: float | None = None,
        user_message: str | None = None,
    ) -> None:
        self.provider = provider
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        # The provider's code is kept apart (`code`): members see it only in /task, next to the reason.
        message = user_message or self.default_message
        super().__init__(message, detail=f"{type(self).__name__} {provider} {code or '-'}: {detail}")


class InvalidRequest(ProviderError):
    default_message = "The provider rejected the request as invalid."


class NotFound(ProviderError):
    default_message = (
        "The provider no longer knows that image (results expire after about 15 days). "
        "Start from a new grid with /imagine."
    )


class AuthError(ProviderError):
    default_message = (
        "The bot is misconfigured: the provider refused its API key. This is the server's setup, "
        "not you; an admin has been told in the log."
    )


class OutOfCredits(ProviderError):
    default_message = "The server's provider account is out of credits. Ask an admin to top it up."


class RateLimited(ProviderError):
    default_message = "The provider is busy right now; your request is queued and will go through."


class ProviderUnavailable(ProviderError):
    default_message = "The provider is unavailable (maintenance or an outage); it will be retried."


class OutcomeUnknown(ProviderUnavailable):
    """The request was sent but no answer came (timeout, dropped connection, HTTP 5xx).

    For a create this means the provider may have charged for it: never re-send blindly.
    """

    default_message = "The provider did not answer in time."


class GenerationFailed(ProviderError):
    # What to try instead depends on what the member did, so the advice is added where it is shown.
    default_message = GENERATION_REFUSED


class FeatureDisabled(ProviderError):
    default_message = "This provider has that feature switched off right now."


class MalformedResponse(ProviderError):
    default_message = "The provider sent an answer the bot could not read; it will be retried."


class ProviderFailed(ProviderError):
    """The provider answered a create with a server error: nothing was made, and it is not re-sent."""

    default_message = "The provider is unavailable and failed this request; it was not sent again."
