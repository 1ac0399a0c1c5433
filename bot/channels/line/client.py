"""The LINE Messaging API client: SDK set-up for both API hosts and errors the callers can act on."""
from __future__ import annotations

import json
import logging
from types import TracebackType
from typing import Any, Callable, TypeVar

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    PushMessageRequest,
    ReplyMessageRequest,
    RichMenuRequest,
    RichMenuResponse,
    ShowLoadingAnimationRequest,
)

from bot.config import Settings

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.line.me"
DEFAULT_DATA_API_BASE_URL = "https://api-data.line.me"
# (connect, read) seconds. A webhook answer must not hang on LINE; what fails is pushed or queued.
API_TIMEOUT = (3.05, 10.0)
# The loading animation is a courtesy: never let it delay the answer noticeably.
LOADING_TIMEOUT = (1.0, 2.0)

T = TypeVar("T")


class LineError(Exception):
    """A call to the LINE API failed."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class LineUnavailable(LineError):
    """LINE is busy or unreachable (429, 5xx, timeout): try again later, after retry_after if given."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class LineNotConfigured(LineUnavailable):
    """LINE_CHANNEL_ACCESS_TOKEN is not set: nothing can be sent until it is."""


class LineRejected(LineError):
    """LINE refused the request (a 4xx other than 429): sending it again will not help."""


class ReplyTokenInvalid(LineRejected):
    """The reply token expired or was already used; the answer must go by push."""


def data_api_base_url(settings: Settings) -> str:
    """Return the data API host (rich menu images): its own setting, else the overridden API host, else LINE's."""
    if settings.line_data_api_base_url:
        return settings.line_data_api_base_url
    if settings.line_api_base_url.rstrip("/") != DEFAULT_API_BASE_URL:
        return settings.line_api_base_url
    return DEFAULT_DATA_API_BASE_URL


def _configuration(host: str, access_token: str) -> Configuration:
    # Configuration(host=...) makes the SDK ignore the host hard-coded in each operation, so a test or
    # staging server receives every call, including those that would go to api-data.line.me.
    configuration = Configuration(host=host.rstrip("/"), access_token=access_token)
    # Retry a refused connection once; never resend a POST whose response was lost (it may have arrived).
    configuration.retries = urllib3.Retry(total=2, connect=1, read=0, status=0, redirect=0, other=0)
    return configuration


class LineClient:
    """The Messaging API (api.line.me) and its data API (api-data.line.me) behind one token."""

    def __init__(self, access_token: str, api_base_url: str = DEFAULT_API_BASE_URL,
                 data_api_base_url: str = DEFAULT_DATA_API_BASE_URL):
        self._api_client = ApiClient(_configuration(api_base_url, access_token))
        self._data_client = ApiClient(_configuration(data_api_base_url, access_token))
        self.messaging = MessagingApi(self._api_client)
        self.blob = MessagingApiBlob(self._data_client)

    @classmethod
    def from_settings(cls, settings: Settings) -> "LineClient":
        """Build the client from settings; LineNotConfigured if there is no access token."""
        if not settings.line_channel_access_token:
            raise LineNotConfigured("LINE_CHANNEL_ACCESS_TOKEN is not set")
        return cls(settings.line_channel_access_token, settings.line_api_base_url, data_api_base_url(settings))

    def close(self) -> None:
        """Release the connection pools."""
        self._api_client.close()
        self._data_client.close()

    def __enter__(self) -> "LineClient":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> None:
        """Answer with the event's reply token (free of charge, valid once and for a short time)."""
        request = ReplyMessageRequest.from_dict({"replyToken": reply_token, "messages": messages})
        _call("reply", lambda: self.messaging.reply_message(request, _request_timeout=API_TIMEOUT))

    def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> None:
        """Send by push; the retry key makes LINE accept the same push only once."""
        request = PushMessageRequest.from_dict({"to": to, "messages": messages})
        try:
            _call("push", lambda: self.messaging.push_message(request, x_line_retry_key=retry_key,
                                                               _request_timeout=API_TIMEOUT))
        except LineRejected as exc:
            # 409: a push with this retry key was already accepted, so the message is on its way.
            # https://developers.line.biz/en/reference/messaging-api/#retry-api-request
            if exc.status != 409:
                raise
            log.info("push already accepted by LINE (same retry key); not sent again")

    def show_loading(self, chat_id: str, seconds: int = 5) -> None:
        """Show the typing indicator in a 1:1 chat until the answer arrives (or `seconds` pass)."""
        request = ShowLoadingAnimationRequest(chatId=chat_id, loadingSeconds=seconds)
        _call("loading", lambda: self.messaging.show_loading_animation(request, _request_timeout=LOADING_TIMEOUT))

    def rich_menus(self) -> list[RichMenuResponse]:
        """Return every rich menu of the channel."""
        response = _call("rich menu list", lambda: self.messaging.get_rich_menu_list(_request_timeout=API_TIMEOUT))
        return list(response.richmenus or [])

    def create_rich_menu(self, menu: dict[str, Any]) -> str:
        """Create a rich menu (without its image) and return its id."""
        request = RichMenuRequest.from_dict(menu)
        response = _call("rich menu create",
                         lambda: self.messaging.create_rich_menu(request, _request_timeout=API_TIMEOUT))
        return str(response.rich_menu_id)

    def has_rich_menu_image(self, rich_menu_id: str) -> bool:
        """Tell whether the rich menu's image was uploaded."""
        try:
            _call("rich menu image get",
                  lambda: self.blob.get_rich_menu_image(rich_menu_id, _request_timeout=API_TIMEOUT))
        except LineRejected as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def upload_rich_menu_image(self, rich_menu_id: str, png: bytes) -> None:
        """Upload the rich menu's image (PNG) to the data API."""
        _call("rich menu image upload",
              lambda: self.blob.set_rich_menu_image(rich_menu_id, png, _headers={"Content-Type": "image/png"},
                                                    _request_timeout=API_TIMEOUT))

    def set_default_rich_menu(self, rich_menu_id: str) -> None:
        """Show this rich menu to every user without a menu of their own."""
        _call("rich menu default", lambda: self.messaging.set_default_rich_menu(rich_menu_id, _request_timeout=API_TIMEOUT))

    def delete_rich_menu(self, rich_menu_id: str) -> None:
        """Delete a rich menu."""
        _call("rich menu delete", lambda: self.messaging.delete_rich_menu(rich_menu_id, _request_timeout=API_TIMEOUT))


def _call(what: str, request: Callable[[], T]) -> T:
    """Run one API call, turning SDK and network errors into LineUnavailable / LineRejected."""
    try:
        return request()
    except ApiException as exc:
        status = int(exc.status or 0)
        detail = _error_message(exc.body)
        message = f"LINE {what} failed: HTTP {status} {detail}".strip()
        if status == 429 or status >= 500 or status == 0:
            raise LineUnavailable(message, status, _retry_after(exc.headers)) from exc
        if status == 400 and "reply token" in detail.lower():
            raise ReplyTokenInvalid(message, status) from exc
        raise LineRejected(message, status) from exc
    except urllib3.exceptions.HTTPError as exc:  # timeouts, refused connections, broken responses
        raise LineUnavailable(f"LINE {what} failed: {type(exc).__name__}") from exc


def _error_message(body: Any) -> str:
    """Return LINE's error message and details (they name the offending property, never user data)."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not body:
        return ""
    try:
        parsed = json.loads(body)
    except ValueError:
        return str(body)[:200]
    if not isinstance(parsed, dict):
        return str(body)[:200]
    message = str(parsed.get("message", ""))
    details = parsed.get("details") or []
    if isinstance(details, list) and details:
        message += " " + "; ".join(f"{d.get('property', '')}: {d.get('message', '')}" for d in details if isinstance(d, dict))
    return message[:500]


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
