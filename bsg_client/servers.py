"""The provider's servers and list endpoints' page sizes, as its OpenAPI descriptions publish
them (no imports: the settings read these without loading the HTTP client)."""

DEFAULT_API_URL = "https://one-api.bsg.world"  # the One API
DEFAULT_REST_URL = "https://api.bsg.world"  # the legacy REST API

# `page[limit]` each One API list endpoint accepts, (lowest, highest), by path: the client
# clamps the configured page_limit into its path's range (`BSGClient.page_limit_for`).
# `/api/campaign` is the older pages' spelling of the campaign list.
PAGE_LIMITS: dict[str, tuple[int, int]] = {
    "/api/messages": (15, 500),
    "/api/campaigns": (30, 500),
    "/api/campaign": (30, 500),
}
