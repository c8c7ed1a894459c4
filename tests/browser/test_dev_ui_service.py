"""How the service serves the development interface: only when asked, without a token
for the page itself, with a strict Content-Security-Policy, and a clear answer when the
page was not built."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import SERVICE_LOGS, LocalService, start_local_service, stop_local_service

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def _running(
    tmp_path: Path, *args: str, command: list[str] | None = None
) -> Iterator[LocalService]:
    service = start_local_service(tmp_path, *args, command=command)
    SERVICE_LOGS.append(service.log)
    try:
        yield service
    finally:
        SERVICE_LOGS.remove(service.log)
        stop_local_service(service)


@pytest.fixture(scope="module")
def with_dev_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    yield from _running(tmp_path_factory.mktemp("with"), "--dev-ui")


@pytest.fixture
def without_dev_ui(tmp_path: Path) -> Iterator[LocalService]:
    yield from _running(tmp_path)


@pytest.fixture
def not_built(tmp_path: Path) -> Iterator[LocalService]:
    """The service with --dev-ui, its page looked for in an empty folder."""
    empty = tmp_path / "no-page"
    empty.mkdir()
    command = [
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; "
        "from beaker_kernel.service.devui import handlers; "
        "handlers.DevUIHandler.static_dir = Path(sys.argv[1]); "
        "from beaker_kernel.service.app import main; main(sys.argv[2:])",
        str(empty),
    ]
    yield from _running(tmp_path, "--dev-ui", command=command)


def test_off_by_default(without_dev_ui: LocalService) -> None:
    # without the token, an unknown path is refused like any other (nothing is disclosed)
    assert without_dev_ui.http("GET", "/dev/", token=None).status == 403
    assert without_dev_ui.http("GET", "/dev/", token=without_dev_ui.token).status == 404


def test_page_needs_no_token_and_forbids_foreign_scripts(with_dev_ui: LocalService) -> None:
    redirect = with_dev_ui.http("GET", "/dev", token=None)
    # urllib follows the redirect to /dev/
    assert redirect.status == 200
    page = with_dev_ui.http("GET", "/dev/", token=None)
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "Set-Cookie" not in page.headers
    assert b"<title>Beaker" in page.body


def test_assets_are_cached_for_good_and_compressed(with_dev_ui: LocalService) -> None:
    page = with_dev_ui.http("GET", "/dev/", token=None).body.decode()
    script = re.search(r'src="(devui-[0-9a-f]{12}\.js)"', page)
    style = re.search(r'href="(devui-[0-9a-f]{12}\.css)"', page)
    assert script is not None
    assert style is not None
    plain = with_dev_ui.http("GET", f"/dev/{script.group(1)}", token=None)
    assert plain.status == 200
    assert plain.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert b"BeakerSession" in plain.body or len(plain.body) > 100_000
    packed = with_dev_ui.http(
        "GET", f"/dev/{script.group(1)}", token=None, headers={"Accept-Encoding": "gzip"}
    )
    assert packed.headers["Content-Encoding"] == "gzip"
    assert len(packed.body) < len(plain.body) / 2
    assert with_dev_ui.http("GET", f"/dev/{style.group(1)}", token=None).status == 200


def test_only_the_pages_files_are_served(with_dev_ui: LocalService) -> None:
    for name in ("handlers.py", "..%2F__init__.py", "devui-0.js", "web"):
        assert with_dev_ui.http("GET", f"/dev/{name}", token=None).status == 404, name


def test_api_still_needs_the_token(with_dev_ui: LocalService) -> None:
    assert with_dev_ui.http("GET", "/api/kernels", token=None).status == 403
    assert with_dev_ui.http("GET", "/api/kernels").status == 200


def test_missing_build_says_how_to_build(not_built: LocalService) -> None:
    answer = not_built.http("GET", "/dev/", token=None)
    assert answer.status == 503
    message = answer.json()["message"]
    assert "python hatch_build.py" in message
    assert "pip install ." in message
    page = not_built.http("GET", "/dev/", token=None, headers={"Accept": "text/html"})
    assert page.status == 503
    assert b"hatch_build.py" in page.body
