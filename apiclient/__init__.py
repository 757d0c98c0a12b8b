"""The one HTTP client for the linkage server's API.

Shared by every party that talks to the server — a department's upload, the
coordinator's commands and dashboard, the operator's project creation — so that none of
them imports another's package. It knows the API's paths and error format, nothing of
encodings, signals or the database behind the server.
"""

from apiclient.client import API, ApiClient, ApiError, read_credential

__all__ = ["API", "ApiClient", "ApiError", "read_credential"]
