"""HTTP API of the linkage server."""

API_PREFIX = "/api/v1"
