"""The Hokodo API key, read from Secrets Manager through Powertools Parameters (cached per container)."""

from __future__ import annotations

import logging
import threading

from aws_lambda_powertools.utilities import parameters

from .. import observability
from ..settings import Settings
from .client import HokodoClient

# botocore.parsers logs every response body at DEBUG, GetSecretValue's included: with the root logger at
# DEBUG (e.g. Lambda's AWS_LAMBDA_LOG_LEVEL=DEBUG) the API key would reach CloudWatch. Pinned to INFO.
logging.getLogger("botocore.parsers").setLevel(logging.INFO)


class HokodoClientProvider:
    """Builds the pooled client once, and again only when the cached secret's value changes."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._client: HokodoClient | None = None
        self._api_key: str | None = None
        self._force_fetch = False
        self._lock = threading.Lock()

    def client(self) -> HokodoClient:
        with self._lock:
            api_key = parameters.get_secret(
                self._settings.hokodo_api_key_secret,
                max_age=self._settings.secret_max_age_seconds,
                force_fetch=self._force_fetch,
            )
            self._force_fetch = False
            if self._client is None or api_key != self._api_key:
                if self._client is not None:
                    self._client.close()
                self._client = HokodoClient(
                    self._settings.hokodo_base_url,
                    api_key,
                    timeout_seconds=self._settings.hokodo_timeout_seconds,
                    max_attempts=self._settings.hokodo_max_attempts,
                )
                self._client.on_attempt = observability.hokodo_attempt
                self._client.on_tolerated = observability.shape_tolerated
                self._api_key = api_key
            return self._client

    def refresh(self) -> None:
        """After a 401, read the secret again on the next use (it may have been rotated)."""
        self._force_fetch = True
