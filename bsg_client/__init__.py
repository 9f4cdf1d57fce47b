"""The BSG API client: auth, one paginator, windows, retries, a shared AIMD limiter.

Its names load on first use (PEP 562), so a module that needs only `servers` or `windows`
does not pay for importing httpx."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bsg_client.client import (
        ApiResponse,
        BSGClient,
        ClientStats,
        api_message,
        jwt_times,
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
    from bsg_client.servers import DEFAULT_API_URL, DEFAULT_REST_URL, PAGE_LIMITS
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
    "PAGE_LIMITS",
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
    "jwt_times",
    "legacy_error_code",
    "page_total",
    "paginate",
    "parse_api_time",
    "parse_retry_after",
    "split_windows",
]


_MODULES = {
    "DEFAULT_API_URL": "servers",
    "DEFAULT_REST_URL": "servers",
    "PAGE_LIMITS": "servers",
    "ApiResponse": "client",
    "BSGClient": "client",
    "ClientStats": "client",
    "api_message": "client",
    "jwt_times": "client",
    "legacy_error_code": "client",
    "parse_retry_after": "client",
    "BSGAPIError": "errors",
    "BSGAuthError": "errors",
    "BSGCancelled": "errors",
    "BSGError": "errors",
    "BSGPaginationError": "errors",
    "BSGRetryError": "errors",
    "Scrubber": "errors",
    "AIMDLimiter": "limiter",
    "Page": "pagination",
    "PageStats": "pagination",
    "Pagination": "pagination",
    "page_total": "pagination",
    "paginate": "pagination",
    "API_TIME_FORMAT": "windows",
    "Window": "windows",
    "format_api_time": "windows",
    "parse_api_time": "windows",
    "split_windows": "windows",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'bsg_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bsg_client.{_MODULES[name]}"), name)
    globals()[name] = value
    return value
