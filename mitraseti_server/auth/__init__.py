"""Identity: API keys (``keys``) and bearer tokens, local JWTs or OIDC id_tokens
(``tokens``); ``tokens.authenticate_request`` finds the user behind a request."""
