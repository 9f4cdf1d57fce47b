"""The provider's servers, as its OpenAPI descriptions publish them (no imports: the settings
read these without loading the HTTP client)."""

DEFAULT_API_URL = "https://one-api.bsg.world"  # the One API
DEFAULT_REST_URL = "https://api.bsg.world"  # the legacy REST API
