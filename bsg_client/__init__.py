"""The BSG API client: auth, one paginator, windows, retries, a shared AIMD limiter."""

from bsg_client.client import (
    DEFAULT_API_URL,
    DEFAULT_REST_URL,
    ApiResponse,
    BSGClient,
    ClientStats,
    api_message,
    legacy_error_code,
    parse_retry_after,
)
from bsg_client.errors import (
    BSGAPIError,
    BSGAuthError,
    BSGCancelled,
    BSGError,
    BSGPaginationError,
    BSGRetryError,
    Scrubber,
)
from bsg_client.limiter import AIMDLimiter
from bsg_client.pagination import Page, PageStats, Pagination, page_total, paginate
from bsg_client.windows import (
    API_TIME_FORMAT,
    Window,
    format_api_time,
    parse_api_time,
    split_windows,
)

__all__ = [
    "API_TIME_FORMAT",
    "DEFAULT_API_URL",
    "DEFAULT_REST_URL",
    "AIMDLimiter",
    "ApiResponse",
    "BSGAPIError",
    "BSGAuthError",
    "BSGCancelled",
    "BSGClient",
    "BSGError",
    "BSGPaginationError",
    "BSGRetryError",
    "ClientStats",
    "Page",
    "PageStats",
    "Pagination",
    "Scrubber",
    "Window",
    "api_message",
    "format_api_time",
    "legacy_error_code",
    "page_total",
    "paginate",
    "parse_api_time",
    "parse_retry_after",
    "split_windows",
]
