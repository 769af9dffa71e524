"""HTTP layer: handlers parse a request, call one service method and answer JSON; typed
errors become status codes in ``api.base``; request bodies are validated against the same
schemas that build /openapi.json (``api.schemas``, ``api.validation``)."""
