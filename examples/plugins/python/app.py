"""A docker-credential-wasm plugin in Python: the user name from the operator's settings,
the token from the registry's token endpoint (the `token_url` setting), fetched through the
host's `wasi:http` with the plugin's network grant.

Build: `componentize-py -d ../../../wit -w plugin componentize -p . app -o python-plugin.wasm`
(see ../build)."""

import json

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import log, outgoing_handler, poll, settings, streams
from wit_world.imports.docker_credential_wasm_plugin_types import (
    Credentials,
    Error_InvalidInput,
    Error_NotFound,
    Error_Unsupported,
    Error_Upstream,
)
from wit_world.imports.wasi_http_types import Fields, Method_Get, OutgoingRequest, Scheme_Http, Scheme_Https


def fetch(url: str) -> tuple[int, bytes]:
    """GETs `url` through the host: (status, body). Raises `Err(Error_Upstream)` when the
    host refuses the request or it fails."""
    scheme, _, rest = url.partition("://")
    authority, _, path = rest.partition("/")
    request = OutgoingRequest(Fields.from_list([("accept", b"application/json")]))
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if scheme == "https" else Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query("/" + path)
    # Resources are closed child first (a body's stream before the body, the body before
    # the response), as the host requires.
    try:
        with outgoing_handler.handle(request, None) as future:
            with future.subscribe() as ready:
                poll.poll([ready])
            answer = future.get().value  # ready after the poll: Ok(response) or Err(error code)
    except Err as e:
        answer = e
    if not isinstance(answer, Ok):
        reason = type(answer.value).__name__.removeprefix("ErrorCode_")
        raise Err(Error_Upstream(f"{url}: the request failed: {reason}"))
    with answer.value as response:
        with response.consume() as body:
            with body.stream() as stream:
                received = b""
                while True:
                    try:
                        received += stream.blocking_read(65536)
                    except Err as e:
                        if isinstance(e.value, streams.StreamError_Closed):
                            break
                        raise
        return response.status(), received


class Helper(exports.Helper):
    def get(self, registry: str) -> Credentials:
        username = settings.get("username")
        token_url = settings.get("token_url")
        if not username or not token_url:
            raise Err(Error_InvalidInput("the settings `username` and `token_url` are required"))
        log.log(log.Level.INFO, f"{registry}: asking {token_url} for {username}'s token")
        status, body = fetch(token_url)
        if status == 404:
            raise Err(Error_NotFound(f"{token_url} has no token for {username}"))
        if status != 200:
            raise Err(Error_Upstream(f"{token_url} answered HTTP {status}"))
        answer = json.loads(body)
        return Credentials(username=username, secret=answer["token"], expires_at=answer.get("expires_at"))

    def save(self, registry: str, credentials: Credentials) -> None:
        raise Err(Error_Unsupported("store"))

    def erase(self, registry: str) -> None:
        raise Err(Error_Unsupported("erase"))

    def list(self, routed: list[str]) -> list:
        raise Err(Error_Unsupported("list"))
