"""Sign-in in a real browser: a real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock),
the real app server with `[auth]` secrets, and headless Chromium.

Sign-in redirects to the provider and returns; each role sees exactly its pages; a direct URL to
the ops page as exec says "Page not found"; sign-out works; a forged or expired identity cookie
is refused; no secret reaches the page or the server log.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pages._text import WORD_JOINER
from tests.appserver import free_port, running_app
from tests.e2e.conftest import wait_for_app

if importlib.util.find_spec("oidc_provider_mock") is None:
    pytest.skip(
        "oidc-provider-mock is not installed (requirements-dev.txt)", allow_module_level=True
    )

CLIENT_SECRET = "FAKE-CLIENT-SECRET-e2e-91c4"
COOKIE_SECRET = "FAKE-COOKIE-SECRET-e2e-6b0f-long-enough-for-signing"
USER_COOKIE = "_streamlit_user"
REVIEW = {"Scorecard", "Pipeline flow", "Handoffs", "Forecast", "Campaigns & sourcing"}
REVIEW |= {"Data trust", "Deal", "Decisions", "Leaders' answers"}
# A name from the identity provider holding markup: bold, an image (a request to that host).
MARKUP_NAME = "**x** ![pixel](http://127.0.0.1:9/pixel.png)"
USERS = {  # email -> ID-token claims beyond the email (the role claim is "groups")
    "cro@example.com": {"groups": ["Sales-Leadership"]},
    "emea.lead@example.com": {},  # lead of EMEA by the [access.users] table
    "revops@example.com": {"groups": ["Scorecard-Admins", "Everyone"]},
    # an unverified email is not used: the sidebar names this user by name
    "pixel@example.com": {
        "groups": ["Sales-Leadership"], "email_verified": False, "name": MARKUP_NAME,
    },
}  # fmt: skip
ACCESS = """
[access]
role_claim = "groups"
[access.claim_roles]
"Scorecard-Admins" = "ops"
"Sales-Leadership" = "exec"
[access.users]
"emea.lead@example.com" = { role = "lead", team = "EMEA" }
"""


@contextmanager
def oidc_provider(log: Path) -> Iterator[str]:
    """A real OIDC provider process on 127.0.0.1 with the users above; yields its base URL."""
    port = free_port()
    users = [
        arg
        for email, claims in USERS.items()
        for arg in ("--user-claims", json.dumps({"sub": email, "email": email, **claims}))
    ]
    cmd = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen([*cmd, *users], stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(f"{url}/.well-known/openid-configuration")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def signed_app(e2e_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The app with sign-in on, against a copy of the demo store (the audit log is written)."""
    folder = tmp_path_factory.mktemp("auth")
    data = folder / "data"
    shutil.copytree(e2e_store, data)
    (folder / "scorecard.toml").write_text(ACCESS)
    port = free_port()
    with oidc_provider(folder / "idp.log") as idp:
        secrets = folder / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{COOKIE_SECRET}"\n'
            'client_id = "scorecard"\n'
            f'client_secret = "{CLIENT_SECRET}"\n'
            f'server_metadata_url = "{idp}/.well-known/openid-configuration"\n'
        )
        env = {
            "SCORECARD_CONFIG": str(folder / "scorecard.toml"),
            "AUTHLIB_INSECURE_TRANSPORT": "1",
        }
        with running_app(data, port=port, secrets=secrets, **env) as url:
            yield {"url": url, "idp": idp, "data": data, "log": folder / f"app-{port}.log"}


@pytest.fixture
def tab(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # the provider's pages link a stylesheet on a CDN: no network here, so do not wait for it
    context.route("**/cdn.jsdelivr.net/**", lambda route: route.abort())
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def nav_titles(tab) -> set[str]:
    links = tab.locator("[data-testid='stSidebarNav'] [data-testid='stSidebarNavLink']")
    return {t.strip().splitlines()[-1] for t in links.all_inner_texts()}  # text after the icon


def sign_in(tab, app: dict, email: str, shown: str | None = None) -> None:
    """Sign in as `email` at the provider; the sidebar then says "Signed in as" `shown`
    (default: the email)."""
    tab.goto(app["url"])
    wait_for_app(tab)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{app['idp']}/oauth2/authorize**")  # redirected to the provider
    tab.get_by_role("button", name=email).click()
    tab.wait_for_url(f"{app['url']}/**")  # and back
    wait_for_app(tab)
    assert (shown or email) in signed_in_as(tab)


def signed_in_as(tab) -> str:
    """The sidebar's "Signed in as ..." line as a reader sees it (without the invisible word
    joiners `md_text` puts after "@" and ":" to stop autolinks)."""
    line = tab.get_by_text("Signed in as").first
    line.wait_for()
    return line.inner_text().replace(WORD_JOINER, "")


def cookie(tab, name: str) -> str | None:
    return next((c["value"] for c in tab.context.cookies() if c["name"] == name), None)


def test_signed_out_visitor_sees_only_sign_in(tab, signed_app):
    tab.goto(signed_app["url"])
    wait_for_app(tab)
    tab.get_by_role("button", name="Sign in").wait_for()
    assert nav_titles(tab) <= {"Sign in"}
    assert tab.get_by_text("Scorecard", exact=True).count() == 0


@pytest.mark.parametrize(
    ("email", "pages"),
    [
        ("emea.lead@example.com", REVIEW),
        ("revops@example.com", REVIEW | {"Data & refresh"}),
    ],
)
def test_each_role_sees_exactly_its_pages(tab, signed_app, email, pages):
    sign_in(tab, signed_app, email)
    assert nav_titles(tab) == pages
    teams = tab.locator("[data-testid='stMultiSelect']").inner_text()
    assert ("EMEA" in teams) is email.startswith("emea")  # a lead starts on their team
    html = tab.content()
    assert CLIENT_SECRET not in html and COOKIE_SECRET not in html


def test_a_name_with_markup_shows_as_text(tab, signed_app):
    # the literal characters show: no bold, no image (nothing fetched from that host)
    sign_in(tab, signed_app, "pixel@example.com", shown=f"Signed in as {MARKUP_NAME} (exec)")
    assert signed_in_as(tab) == f"Signed in as {MARKUP_NAME} (exec)"
    sidebar = tab.get_by_test_id("stSidebar")
    assert sidebar.locator("img[src*='pixel']").count() == 0
    assert sidebar.locator("strong", has_text="x").inner_text().startswith("**x**")
    assert nav_titles(tab) == REVIEW


def test_exec_pages_direct_url_to_ops_page_is_not_found_and_sign_out(tab, signed_app):
    sign_in(tab, signed_app, "cro@example.com")
    assert nav_titles(tab) == REVIEW
    tab.goto(f"{signed_app['url']}/refresh")
    tab.get_by_text("Page not found").wait_for()
    wait_for_app(tab)
    assert tab.get_by_text("Refresh now").count() == 0
    tab.keyboard.press("Escape")  # close the dialog
    tab.get_by_text("Page not found").wait_for(state="hidden")
    sign_out(tab, signed_app)


def sign_out(tab, app: dict) -> None:
    """Sign out from the sidebar, through the provider's logout page, back to "Sign in"."""
    tab.get_by_role("button", name="Sign out").click()
    tab.get_by_role("button", name="End session").click()  # the provider's logout page
    tab.wait_for_url(f"{app['url']}/**")
    wait_for_app(tab)
    tab.get_by_role("button", name="Sign in").wait_for()
    assert cookie(tab, USER_COOKIE) is None


def _identity(app: dict, email: str, **claims) -> str:
    """The identity cookie's content as Streamlit writes it after a sign-in."""
    now = int(time.time())
    return json.dumps(
        {"email": email, "iat": now - 7200, "exp": now + 3600, **claims}
        | {"origin": app["url"], "is_logged_in": True, "provider": "default", "sub": email}
    )


def _set_identity(tab, app: dict, signed: bytes) -> None:
    tab.context.add_cookies(
        [{"name": USER_COOKIE, "value": signed.decode(), "url": app["url"] + "/"}]
    )


def test_forged_identity_cookie_is_refused(tab, signed_app):
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    forged = _identity(signed_app, "mallory@example.com", groups=["Scorecard-Admins"])
    _set_identity(tab, signed_app, create_signed_value("not-the-secret", USER_COOKIE, forged))
    tab.goto(signed_app["url"])
    wait_for_app(tab)
    tab.get_by_role("button", name="Sign in").wait_for()
    assert tab.get_by_text("mallory@example.com").count() == 0


def test_expired_identity_is_signed_out(tab, signed_app):
    expire_identity(tab, signed_app)


def expire_identity(tab, signed_app: dict) -> None:
    """Present a correctly signed identity whose ID token has expired: signed out."""
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    # correctly signed (the server's own secret) but the ID token expired a minute ago
    expired = _identity(signed_app, "revops@example.com", groups=["Scorecard-Admins"])
    expired = json.dumps(json.loads(expired) | {"exp": int(time.time()) - 60})
    _set_identity(tab, signed_app, create_signed_value(COOKIE_SECRET, USER_COOKIE, expired))
    tab.goto(signed_app["url"])
    tab.get_by_role("button", name="End session").wait_for()  # st.logout() sent us away
    assert cookie(tab, USER_COOKIE) is None
    tab.goto(signed_app["url"])
    wait_for_app(tab)
    tab.get_by_role("button", name="Sign in").wait_for()


def test_audit_and_server_log_hold_no_secret(tab, signed_app):
    from ops import audit

    # a sign-in, a sign-out and an expired identity of its own (whatever ran before)
    sign_in(tab, signed_app, "cro@example.com")
    sign_out(tab, signed_app)
    expire_identity(tab, signed_app)
    log = audit.recent(signed_app["data"])
    assert {"sign-in", "sign-out", "expired"} <= set(log["action"].to_list())
    assert "mallory@example.com" not in log["email"].to_list()
    server_log = signed_app["log"].read_text(errors="replace")
    assert CLIENT_SECRET not in server_log and COOKIE_SECRET not in server_log
