"""The LINE Messaging API client: messages sent as plain JSON over kept-alive connections (libcurl), the
SDK for the rich menu, and errors the callers can act on."""
from __future__ import annotations

import io
import json
import logging
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import certifi
import orjson
import pycurl
import urllib3

from bot.config import Settings

if TYPE_CHECKING:  # linebot.v3.messaging takes over a second and ~20 MB to import: only the rich menu needs it
    from linebot.v3.messaging import ApiClient, RichMenuResponse

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.line.me"
DEFAULT_DATA_API_BASE_URL = "https://api-data.line.me"
# (connect, read) seconds. A webhook answer must not hang on LINE; what fails is pushed or queued. The
# messages' calls are given `read` for the whole call (their answers are a few bytes), the SDK's for each read.
API_TIMEOUT = (3.05, 10.0)
# The loading animation is a courtesy: never let it delay the answer noticeably.
LOADING_TIMEOUT = (1.0, 2.0)
# Retry a refused connection once; never resend a POST whose response was lost (it may have arrived).
# The SDK's calls (the rich menu) take this policy; the messages' own calls follow it in LineClient._post.
CONNECT_RETRIES = 1
RETRIES = urllib3.Retry(total=2, connect=CONNECT_RETRIES, read=0, status=0, redirect=0, other=0)

REPLY_PATH = "/v2/bot/message/reply"
PUSH_PATH = "/v2/bot/message/push"
LOADING_PATH = "/v2/bot/chat/loading/start"

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


class _SdkApis:
    """The SDK's Messaging API and data API clients (the rich menu operations), each bound to its host."""

    def __init__(self, access_token: str, api_base_url: str, data_api_base_url: str):
        from linebot.v3.messaging import MessagingApi, MessagingApiBlob

        self._clients = (_sdk_client(api_base_url, access_token), _sdk_client(data_api_base_url, access_token))
        self.messaging = MessagingApi(self._clients[0])
        self.blob = MessagingApiBlob(self._clients[1])

    def close(self) -> None:
        """Release the SDK's connection pools."""
        for client in self._clients:
            client.close()


def _sdk_client(host: str, access_token: str) -> ApiClient:
    """Return an SDK API client whose every call goes to `host`, with the retry policy of RETRIES."""
    from linebot.v3.messaging import ApiClient, Configuration

    # Configuration(host=...) makes the SDK ignore the host hard-coded in each operation, so a test or
    # staging server receives every call, including those that would go to api-data.line.me.
    configuration = Configuration(host=host.rstrip("/"), access_token=access_token)
    configuration.retries = RETRIES
    return ApiClient(configuration)


class LineClient:
    """The Messaging API (api.line.me) and its data API (api-data.line.me) behind one token.

    Replies, pushes and the loading animation are sent as the JSON render() made, by libcurl
    (pycurl): the SDK would validate and re-serialise every message (~5 ms a call), and urllib3's
    Python costs a reply ~0.19 ms of CPU where libcurl's C takes ~0.08 ms, JSON encoding included,
    outside the GIL while it waits (`python3 bench/line_client.py`).
    A libcurl handle may be used by one thread at a time, so each thread has its own, which keeps
    its connection to LINE alive. The handles share DNS answers and TLS sessions (a new thread's
    first connection resumes a session), not connections: libcurl does not support sharing those
    between concurrent threads (CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT), and a test with 50 users
    at once saw a shared connection hang. The rich menu operations, rare and run from the command
    line, use the SDK, loaded on first use.
    """

    def __init__(self, access_token: str, api_base_url: str = DEFAULT_API_BASE_URL,
                 data_api_base_url: str = DEFAULT_DATA_API_BASE_URL):
        self._access_token = access_token
        self._api_base_url = api_base_url.rstrip("/")
        self._data_api_base_url = data_api_base_url
        # "Expect:" turns off libcurl's 100-continue wait before a large body: LINE answers at once.
        self._headers = [f"Authorization: Bearer {access_token}", "Content-Type: application/json", "Expect:"]
        self._share = pycurl.CurlShare()
        for data in (pycurl.LOCK_DATA_DNS, pycurl.LOCK_DATA_SSL_SESSION):
            self._share.setopt(pycurl.SH_SHARE, data)
        self._local = threading.local()  # .handle: this thread's libcurl handle, created on its first call
        self._sdk: _SdkApis | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "LineClient":
        """Build the client from settings; LineNotConfigured if there is no access token."""
        if not settings.line_channel_access_token:
            raise LineNotConfigured("LINE_CHANNEL_ACCESS_TOKEN is not set")
        return cls(settings.line_channel_access_token, settings.line_api_base_url, data_api_base_url(settings))

    def close(self) -> None:
        """Close this thread's connections and the SDK's pools (other threads' handles close as their threads end)."""
        handle = getattr(self._local, "handle", None)
        if handle is not None:
            handle.close()
            del self._local.handle
        if self._sdk is not None:
            self._sdk.close()

    def __enter__(self) -> "LineClient":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> None:
        """Answer with the event's reply token (free of charge, valid once and for a short time)."""
        self._post("reply", REPLY_PATH, {"replyToken": reply_token, "messages": messages}, API_TIMEOUT)

    def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> None:
        """Send by push; the retry key makes LINE accept the same push only once."""
        try:
            self._post("push", PUSH_PATH, {"to": to, "messages": messages}, API_TIMEOUT,
                       {"X-Line-Retry-Key": retry_key})
        except LineRejected as exc:
            # 409: a push with this retry key was already accepted, so the message is on its way.
            # https://developers.line.biz/en/reference/messaging-api/#retry-api-request
            if exc.status != 409:
                raise
            log.info("push already accepted by LINE (same retry key); not sent again")

    def show_loading(self, chat_id: str, seconds: int = 5) -> None:
        """Show the typing indicator in a 1:1 chat until the answer arrives (or `seconds` pass)."""
        self._post("loading", LOADING_PATH, {"chatId": chat_id, "loadingSeconds": seconds}, LOADING_TIMEOUT)

    def _post(self, what: str, path: str, body: dict[str, Any], timeout: tuple[float, float],
              headers: dict[str, str] | None = None) -> None:
        """POST a JSON body to the Messaging API; raise LineUnavailable / LineRejected if it fails."""
        handle = self._handle()
        response = io.BytesIO()
        header_lines: list[bytes] = []  # read only when the call failed (Retry-After)
        handle.setopt(pycurl.URL, self._api_base_url + path)
        handle.setopt(pycurl.HTTPHEADER, self._headers + [f"{k}: {v}" for k, v in (headers or {}).items()])
        handle.setopt(pycurl.POSTFIELDS, orjson.dumps(body))  # compact UTF-8, as json.dumps(ensure_ascii=False) but faster
        handle.setopt(pycurl.WRITEDATA, response)
        handle.setopt(pycurl.HEADERFUNCTION, header_lines.append)
        connect, read = timeout
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, int(connect * 1000))
        handle.setopt(pycurl.TIMEOUT_MS, int(read * 1000))
        for attempt in range(1 + CONNECT_RETRIES):
            try:
                handle.perform()
                break
            except pycurl.error as exc:  # timeouts, refused connections, broken responses
                code, message = exc.args
                if code == pycurl.E_COULDNT_CONNECT and attempt < CONNECT_RETRIES:
                    continue  # nothing was sent: trying again cannot send the message twice
                raise LineUnavailable(f"LINE {what} failed: libcurl error {code}: {message}") from exc
        status = handle.getinfo(pycurl.RESPONSE_CODE)
        if not 200 <= status < 300:
            raise _error(what, status, response.getvalue(), _headers_of(header_lines))

    def _handle(self) -> pycurl.Curl:
        """Return this thread's libcurl handle."""
        handle: pycurl.Curl | None = getattr(self._local, "handle", None)
        if handle is None:
            handle = pycurl.Curl()
            handle.setopt(pycurl.SHARE, self._share)
            # No SIGALRM for timeouts: signals would reach whichever thread, and gunicorn's (libcurl, CURLOPT_NOSIGNAL).
            handle.setopt(pycurl.NOSIGNAL, 1)
            handle.setopt(pycurl.CAINFO, certifi.where())
            handle.setopt(pycurl.POST, 1)
            self._local.handle = handle
        return handle

    def rich_menus(self) -> list[RichMenuResponse]:
        """Return every rich menu of the channel."""
        response = self._sdk_call("rich menu list",
                                  lambda sdk: sdk.messaging.get_rich_menu_list(_request_timeout=API_TIMEOUT))
        return list(response.richmenus or [])

    def create_rich_menu(self, menu: dict[str, Any]) -> str:
        """Create a rich menu (without its image) and return its id."""
        from linebot.v3.messaging import RichMenuRequest

        request = RichMenuRequest.from_dict(menu)
        response = self._sdk_call("rich menu create",
                                  lambda sdk: sdk.messaging.create_rich_menu(request, _request_timeout=API_TIMEOUT))
        return str(response.rich_menu_id)

    def has_rich_menu_image(self, rich_menu_id: str) -> bool:
        """Tell whether the rich menu's image was uploaded."""
        try:
            self._sdk_call("rich menu image get",
                           lambda sdk: sdk.blob.get_rich_menu_image(rich_menu_id, _request_timeout=API_TIMEOUT))
        except LineRejected as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def upload_rich_menu_image(self, rich_menu_id: str, png: bytes) -> None:
        """Upload the rich menu's image (PNG) to the data API."""
        self._sdk_call("rich menu image upload",
                       lambda sdk: sdk.blob.set_rich_menu_image(rich_menu_id, png, _headers={"Content-Type": "image/png"},
                                                                _request_timeout=API_TIMEOUT))

    def set_default_rich_menu(self, rich_menu_id: str) -> None:
        """Show this rich menu to every user without a menu of their own."""
        self._sdk_call("rich menu default",
                       lambda sdk: sdk.messaging.set_default_rich_menu(rich_menu_id, _request_timeout=API_TIMEOUT))

    def delete_rich_menu(self, rich_menu_id: str) -> None:
        """Delete a rich menu."""
        self._sdk_call("rich menu delete",
                       lambda sdk: sdk.messaging.delete_rich_menu(rich_menu_id, _request_timeout=API_TIMEOUT))

    def _sdk_call(self, what: str, request: Callable[[_SdkApis], T]) -> T:
        """Run one SDK call (creating the SDK clients on first use), its errors as LineUnavailable / LineRejected."""
        from linebot.v3.messaging import ApiException

        if self._sdk is None:
            self._sdk = _SdkApis(self._access_token, self._api_base_url, self._data_api_base_url)
        try:
            return request(self._sdk)
        except ApiException as exc:
            raise _error(what, int(exc.status or 0), exc.body, exc.headers) from exc
        except urllib3.exceptions.HTTPError as exc:  # timeouts, refused connections, broken responses
            raise LineUnavailable(f"LINE {what} failed: {type(exc).__name__}") from exc


def _error(what: str, status: int, body: Any, headers: Any) -> LineError:
    """Return the error for an HTTP failure: LineUnavailable (429, 5xx), ReplyTokenInvalid or LineRejected."""
    detail = _error_message(body)
    message = f"LINE {what} failed: HTTP {status} {detail}".strip()
    if status == 429 or status >= 500 or status == 0:
        return LineUnavailable(message, status, _retry_after(headers))
    if status == 400 and "reply token" in detail.lower():
        return ReplyTokenInvalid(message, status)
    return LineRejected(message, status)


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


def _headers_of(lines: list[bytes]) -> urllib3.HTTPHeaderDict:
    """Return the headers of the last response among these lines (a 100 Continue's come before a status line)."""
    headers = urllib3.HTTPHeaderDict()
    for line in lines:
        text = line.decode("latin-1").strip()
        if text.startswith("HTTP/"):
            headers.clear()
        elif ":" in text:
            name, _, value = text.partition(":")
            headers.add(name.strip(), value.strip())
    return headers


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
