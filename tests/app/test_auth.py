"""Sign-in and roles: pure role resolution, the audit log, and each role's navigation (AppTest)."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from ops import audit
from ops.config import AccessSettings, ConfigError, load_settings
from pages._auth import (
    Role,
    identity_from,
    is_expired,
    providers,
    resolve_role,
    resolve_team,
    verified_email,
)
from pages._text import as_text

ROOT = Path(__file__).resolve().parents[2]
REVIEW = {"scorecard", "pipeline", "handoffs", "forecast", "campaigns", "data_trust", "deal"}
REVIEW |= {"decisions", "leaders"}
# Recognizable fake secrets: none of them may ever reach a page or a log.
FAKE = {
    "cookie": "FAKE-COOKIE-SECRET-7f3a9c",
    "client": "FAKE-CLIENT-SECRET-51bd02",
    "sf_password": "FAKE-SF-PASSWORD-c0ffee",
    "sf_token": "FAKE-SF-TOKEN-deadbeef",
}
AUTH = {
    "auth": {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": FAKE["cookie"],
        "client_id": "scorecard",
        "client_secret": FAKE["client"],
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
}
ACCESS_TOML = """
[access]
role_claim = "groups"
[access.claim_roles]
"Scorecard-Admins" = "ops"
[access.users]
"CRO@Example.com" = "exec"
"emea.lead@example.com" = { role = "lead", team = "EMEA" }
"""
CONFIG = AccessSettings(
    role_claim="groups",
    team_claim="department",
    claim_roles={"Scorecard-Admins": "ops", "Sales-Leadership": "exec"},
    users={"cro@example.com": "exec", "emea.lead@example.com": "lead"},
    teams={"emea.lead@example.com": "EMEA"},
)


# --- pure role resolution -----------------------------------------------------------------


def test_the_email_table_wins_and_compares_lower_cased():
    # the table says exec although the claim says ops: the explicit table entry wins
    claims = {"email": "CRO@example.COM", "groups": ["Scorecard-Admins"]}
    assert resolve_role(claims, CONFIG) is Role.EXEC


def test_roles_from_the_claim_string_or_list():
    assert resolve_role({"email": "a@x.com", "groups": "lead"}, CONFIG) is Role.LEAD
    assert resolve_role({"email": "a@x.com", "groups": ["Sales-Leadership"]}, CONFIG) is Role.EXEC
    # several roles: the one that may do the most (ops) wins
    both = {"email": "a@x.com", "groups": ["lead", "Scorecard-Admins", "Everyone"]}
    assert resolve_role(both, CONFIG) is Role.OPS


def test_no_role_without_table_claim_or_default():
    assert resolve_role({"email": "a@x.com", "groups": ["Everyone"]}, CONFIG) is None
    assert resolve_role({"email": "a@x.com"}, CONFIG) is None
    # an empty role_claim ignores the claim; default_role applies to everybody found nowhere
    table_only = AccessSettings(role_claim="", default_role="exec")
    assert resolve_role({"email": "a@x.com", "roles": ["ops"]}, table_only) is Role.EXEC


def test_an_unverified_email_does_not_match_the_table():
    claims = {"email": "cro@example.com", "email_verified": False, "groups": ["lead"]}
    assert verified_email(claims) is None
    assert resolve_role(claims, CONFIG) is Role.LEAD  # the claim still counts


def test_a_leads_team_from_the_table_or_the_claim():
    assert resolve_team({"email": "emea.lead@example.com"}, CONFIG) == "EMEA"
    assert resolve_team({"email": "b@x.com", "department": ["NA East"]}, CONFIG) == "NA East"
    assert resolve_team({"email": "b@x.com"}, CONFIG) is None
    # a team only matters for a lead
    ops = identity_from({"email": "b@x.com", "groups": "ops", "department": "EMEA"}, CONFIG)
    assert (ops.role, ops.team, ops.may_refresh) == (Role.OPS, None, True)
    lead = identity_from({"email": "emea.lead@example.com"}, CONFIG)
    assert (lead.role, lead.team, lead.may_refresh) == (Role.LEAD, "EMEA", False)


def test_token_expiry():
    now = 1_800_000_000.0
    assert not is_expired({"exp": now + 1}, now)
    assert is_expired({"exp": now}, now)
    assert is_expired({"exp": now - 3600}, now)
    assert is_expired({}, now)  # no exp: refused
    assert is_expired({"exp": "soon"}, now)


def test_providers_default_and_named():
    assert providers(AUTH["auth"]) == [None]
    named = {"redirect_uri": "r", "cookie_secret": "c", "okta": {"client_id": "x"}}
    assert providers(named) == ["okta"]
    assert providers({}) == []


def test_access_config_parsing(tmp_path: Path):
    path = tmp_path / "scorecard.toml"
    path.write_text(ACCESS_TOML)
    access = load_settings(path, environ={}).access
    assert access.role_claim == "groups"
    assert access.users == {"cro@example.com": "exec", "emea.lead@example.com": "lead"}
    assert access.teams == {"emea.lead@example.com": "EMEA"}
    assert access.claim_roles == {"Scorecard-Admins": "ops"}
    assert load_settings(tmp_path / "missing.toml", environ={}).access == AccessSettings()
    path.write_text('[access.users]\n"a@x.com" = "admin"\n')
    with pytest.raises(ConfigError, match="admin"):
        load_settings(path, environ={})


# --- the audit log ------------------------------------------------------------------------


def test_audit_records_newest_first_and_is_append_only(tmp_path: Path):
    t0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert audit.recent(tmp_path).is_empty()
    assert not (tmp_path / audit.AUDIT_DB).exists()  # reading creates nothing
    audit.record(tmp_path, action="sign-in", email="cro@example.com", role="exec", now=t0)
    audit.record_export(tmp_path, email="cro@example.com", role="exec", name="pipeline.csv")
    audit.record_refresh(tmp_path, email=None, role=None, source="demo", run_id=4, outcome="ok")
    log = audit.recent(tmp_path)
    assert log["action"].to_list() == ["refresh", "export", "sign-in"]
    assert log["detail"].to_list() == ["demo · run 4 · ok", "pipeline.csv", ""]
    assert log["email"].to_list() == ["anonymous", "cro@example.com", "cro@example.com"]
    assert log["role"].to_list() == ["open", "exec", "exec"]
    assert log["at"][2] == t0
    assert audit.recent(tmp_path, action="export")["detail"].to_list() == ["pipeline.csv"]
    with sqlite3.connect(tmp_path / audit.AUDIT_DB) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE events SET email = 'someone@else.com'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events")
    with pytest.raises(ValueError, match="action"):
        audit.record(tmp_path, action="delete-everything", email="x", role="ops")


# --- navigation per role (AppTest) ---------------------------------------------------------


@pytest.fixture
def signed_app(tiny_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The app with sign-in configured and the [access] table above; `make(user)` runs it."""
    config = tmp_path / "scorecard.toml"
    config.write_text(ACCESS_TOML)
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))

    def make(user: dict, **query: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.secrets.update(AUTH)
        at.user = user
        for key, value in query.items():
            at.query_params[key] = value
        return at.run()

    return make


def signed_in(email: str, **claims) -> dict:
    now = time.time()
    return {"is_logged_in": True, "email": email, "iat": now, "exp": now + 3600, **claims}


def page_paths(at: AppTest) -> set[str]:
    """The url paths of the pages this run registered (a callable page: its title), without the
    hidden root page that only opens the first page (`app.with_root`)."""
    registered = at._registered_pages  # what st.navigation registered in the last run
    pages = [p for key, p in registered.items() if key != calc_hash("home")]
    return {Path(p["script_path"]).stem if p["script_path"] else p["page_name"] for p in pages}


def test_signed_out_visitor_gets_only_the_sign_in_page(signed_app, tiny_store):
    at = signed_app({"is_logged_in": False})
    assert not at.exception
    assert page_paths(at) == {"Sign in"}
    assert at.button(key="sign_in_default").label == "Sign in"
    assert not at.multiselect  # no filters, no data
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/scorecard.py")
    assert audit.recent(tiny_store).is_empty()


def test_exec_gets_the_review_pages_only(signed_app, tiny_store):
    at = signed_app(signed_in("cro@example.com"))
    assert not at.exception
    assert page_paths(at) == REVIEW
    assert any("cro@example.com** (exec)" in as_text(c.value) for c in at.sidebar.caption)
    assert at.multiselect(key="teams").value == []  # an exec starts on every team
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/refresh.py")
    at.switch_page("pages/forecast.py").run()
    assert not at.exception
    log = audit.recent(tiny_store)
    assert log.select("email", "role", "action").row(0) == ("cro@example.com", "exec", "sign-in")


def test_lead_starts_on_their_team_unless_the_url_says_otherwise(signed_app):
    at = signed_app(signed_in("emea.lead@example.com"))
    assert not at.exception
    assert page_paths(at) == REVIEW
    assert at.multiselect(key="teams").value == ["EMEA"]
    assert any("(lead · EMEA)" in c.value for c in at.sidebar.caption)
    # a team chosen in a shared link wins over the default; seeded once per session only
    at = signed_app(signed_in("emea.lead@example.com"), teams="[]")
    assert at.multiselect(key="teams").value == []


def test_ops_gets_data_and_refresh(signed_app):
    at = signed_app(signed_in("someone@example.com", roles=["x"], groups=["Scorecard-Admins"]))
    assert not at.exception
    assert page_paths(at) == REVIEW | {"refresh"}
    at.switch_page("pages/refresh.py").run()
    assert not at.exception
    assert at.button(key="refresh_now").label == "Refresh now"


# A name from the identity provider with markup in it: bold, an image (a request to that host).
MARKUP_NAME = "**x** ![pixel](http://127.0.0.1:9/pixel.png) $$x$$"


def test_a_name_with_markup_shows_as_text(signed_app):
    # no email claim: the sidebar names the user by name; the role comes from the groups claim
    at = signed_app({**signed_in(""), "name": MARKUP_NAME, "groups": ["Scorecard-Admins"]})
    assert not at.exception
    (caption,) = [c.value for c in at.sidebar.caption if "Signed in as" in c.value]
    # the markup characters are escaped (\*\*, \!\[), so Streamlit draws them as they are
    assert "\\*\\*x\\*\\*" in caption and "\\!\\[pixel\\]" in caption
    assert as_text(caption) == f"Signed in as **{MARKUP_NAME}** (ops)"


def test_a_name_with_markup_and_no_role_shows_as_text(signed_app):
    at = signed_app({**signed_in(""), "name": MARKUP_NAME, "groups": ["Everyone"]})
    assert not at.exception
    (info,) = [i.value for i in at.info if "no role" in i.value]
    assert "\\!\\[pixel\\]" in info
    assert as_text(info).startswith(f"You are signed in as **{MARKUP_NAME}**, but have no role")


def test_signed_in_without_a_role_has_no_access(signed_app, tiny_store):
    at = signed_app(signed_in("stranger@example.com", groups=["Everyone"]))
    assert not at.exception
    assert page_paths(at) == {"No access"}
    assert any("no role in the scorecard" in i.value for i in at.info)
    assert audit.recent(tiny_store)["action"].to_list() == ["denied"]


def test_an_expired_identity_is_signed_out(signed_app, tiny_store):
    at = signed_app(signed_in("cro@example.com", exp=time.time() - 60))
    assert not at.exception
    assert at.user == {"is_logged_in": False}  # st.logout() ran
    assert page_paths(at) == {"Sign in"}
    assert audit.recent(tiny_store)["action"].to_list() == ["expired"]


def test_sign_out_button(signed_app, tiny_store):
    # AppTest reruns only the page script of a navigation app, so the sidebar (drawn by the
    # entrypoint) is driven on its own here; the browser test signs out through the real app.
    at = AppTest.from_string(
        "from pages import _auth\n_auth.sidebar(_auth.current_user())", default_timeout=60
    )
    at.secrets.update(AUTH)
    at.user = signed_in("cro@example.com")
    at.run()
    at.button(key="sign_out").click().run()
    assert at.user == {"is_logged_in": False}
    assert not at.run().button  # the next run: signed out, no sign-out button
    assert audit.recent(tiny_store)["action"].to_list() == ["sign-out", "sign-in"]


def test_a_role_less_page_guard_stops_a_direct_run(signed_app):
    # defence in depth: require(Role.OPS) stops an exec even if the page were reachable
    at = AppTest.from_string(
        "from pages._auth import Role, require\nrequire(Role.OPS)\nimport streamlit as st\n"
        "st.write('ops only')",
        default_timeout=60,
    )
    at.secrets.update(AUTH)
    at.user = signed_in("cro@example.com")
    at.run()
    assert [e.value for e in at.error] == ["This page is not available to your role."]
    assert not [m for m in at.markdown if m.value == "ops only"]


def test_open_app_without_sign_in_shows_the_banner_and_every_page(tiny_store, app):
    at = app().run()
    assert not at.exception
    assert page_paths(at) == REVIEW | {"refresh"}
    assert any("Open app: sign-in is off" in m.value for m in at.sidebar.markdown)


def test_export_callback_records_who_downloaded(signed_app, tiny_store):
    at = AppTest.from_string(
        "import streamlit as st\nfrom pages import _auth\n"
        "st.download_button('CSV', data='a,b', file_name='t.csv', key='dl',"
        " on_click=_auth.record_export, args=('t.csv',))",
        default_timeout=60,
    )
    at.secrets.update(AUTH)
    at.user = signed_in("emea.lead@example.com")
    at.run()
    at.get("download_button")[0].click().run()
    log = audit.recent(tiny_store, action="export")
    assert log.select("email", "role", "detail").rows() == [
        ("emea.lead@example.com", "lead", "t.csv")
    ]


# --- no secret anywhere ----------------------------------------------------------------------


def _tree_text(at: AppTest) -> str:
    parts: list[str] = []

    def walk(node) -> None:
        if getattr(node, "proto", None) is not None:
            parts.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


@pytest.mark.parametrize("page", ["scorecard", "refresh", "data_trust"])
def test_no_secret_on_any_page_or_log(signed_app, monkeypatch, caplog, capsys, page):
    monkeypatch.setenv("SF_PASSWORD", FAKE["sf_password"])
    monkeypatch.setenv("SF_SECURITY_TOKEN", FAKE["sf_token"])
    caplog.set_level(logging.DEBUG)
    at = signed_app(signed_in("ops@example.com", groups="ops"))
    # the check reads the page: the sidebar names the user (drawn by the entrypoint on the
    # first run, as escaped text)
    assert any("ops@example.com" in as_text(c.value) for c in at.sidebar.caption)
    seen = _tree_text(at)
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception
    seen += _tree_text(at) + caplog.text + "".join(capsys.readouterr())
    assert "Data as of" in seen
    for secret in FAKE.values():
        assert secret not in seen
    # and the sign-in page, the only one a stranger sees
    at = signed_app({"is_logged_in": False})
    for secret in FAKE.values():
        assert secret not in _tree_text(at)


# --- a broken configuration refuses every page (fails closed) --------------------------------

FULL_AUTH = (
    '[{name}]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\n'
    f'cookie_secret = "{FAKE["cookie"]}"\nclient_id = "scorecard"\n'
    f'client_secret = "{FAKE["client"]}"\n'
    'server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n'
)
BROKEN_SECRETS = {  # secrets.toml text (None: no file) -> what the operator is told
    "missing": (None, "`[access]` in scorecard.toml gives roles, but sign-in is not configured"),
    "bare": ("[auth]\n", "lacks redirect_uri, cookie_secret"),
    "wrong_case": (FULL_AUTH.format(name="Auth"), "must be spelt `[auth]`, in lower case"),
    "syntax": (FULL_AUTH.format(name="auth") + "client_id =\n", "is not valid TOML"),
    "no_provider": (
        f'[auth]\nredirect_uri = "http://x/oauth2callback"\ncookie_secret = "{FAKE["cookie"]}"\n',
        "names no identity provider",
    ),
    "half_provider": (
        FULL_AUTH.format(name="auth").replace("client_secret", "# client_secret"),
        "`[auth]` in `",  # ... lacks client_secret
    ),
}


@pytest.fixture
def secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`write(text)`: the app reads its secrets from this file only (None: no file at all)."""
    import streamlit as st
    from streamlit import config
    from streamlit.runtime.secrets import Secrets

    path = tmp_path / "secrets.toml"
    saved = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(path)])

    def write(text: str | None) -> Path:
        path.unlink(missing_ok=True)
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(st, "secrets", Secrets())  # read the file afresh
        return path

    yield write
    config.set_option("secrets.files", saved)
    # Streamlit's own singleton may have read the file meanwhile (st.login's checks): forget it
    from streamlit.runtime.secrets import secrets_singleton

    secrets_singleton._reset()


def closed_app(**query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def assert_every_page_refused(at: AppTest, told: str) -> str:
    """Only the 'Closed' page, saying `told`; no page, filter, data or secret reachable."""
    assert not at.exception
    assert page_paths(at) == {"Closed"}
    [error] = at.error
    assert "The app is closed" in error.value and told in error.value
    for page in sorted(REVIEW | {"refresh", "get_started"}):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")
    assert not at.multiselect and not at.button  # no filters, no "Refresh now", no sign-in
    seen = _tree_text(at)
    assert "Data as of" not in seen and "Open app" not in seen
    for secret in FAKE.values():
        assert secret not in seen
    return error.value


@pytest.mark.parametrize("case", sorted(BROKEN_SECRETS))
def test_roles_with_broken_sign_in_refuse_every_page(
    case, tiny_store, tmp_path, monkeypatch, secrets_file
):
    config = tmp_path / "scorecard.toml"
    config.write_text(ACCESS_TOML)
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    text, told = BROKEN_SECRETS[case]
    path = secrets_file(text)
    message = assert_every_page_refused(closed_app(), told)
    if case != "missing":
        assert str(path) in message  # names the file to fix
    if case == "syntax":
        assert "line 7" in message
    if case == "half_provider":
        assert "lacks client_secret" in message
    assert audit.recent(tiny_store).is_empty()


def test_a_broken_secrets_file_closes_the_app_even_without_roles(tiny_store, secrets_file):
    secrets_file('[auth]\nredirect_uri = "http://x\n')  # unterminated string
    assert_every_page_refused(closed_app(), "is not valid TOML")


def test_an_auth_section_without_roles_is_still_checked(tiny_store, secrets_file):
    secrets_file("[auth]\n")
    assert_every_page_refused(closed_app(), "lacks redirect_uri, cookie_secret")


def test_sign_in_off_without_secrets_file_or_roles_is_open_as_before(tiny_store, secrets_file):
    secrets_file(None)
    at = closed_app()
    assert not at.exception and not at.error
    assert page_paths(at) == REVIEW | {"refresh"}
    assert any("Open app: sign-in is off" in m.value for m in at.sidebar.markdown)


def test_a_complete_auth_section_signs_in_as_before(
    tiny_store, tmp_path, monkeypatch, secrets_file
):
    config = tmp_path / "scorecard.toml"
    config.write_text(ACCESS_TOML)
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    secrets_file(FULL_AUTH.format(name="auth"))
    at = closed_app()
    assert not at.exception and not at.error
    assert page_paths(at) == {"Sign in"}


def test_a_broken_scorecard_toml_gives_one_message_on_every_page(
    tiny_store, tmp_path, monkeypatch, secrets_file
):
    secrets_file(FULL_AUTH.format(name="auth"))
    config = tmp_path / "scorecard.toml"
    config.write_text(ACCESS_TOML + '[access.users]\n"x@example.com" = "ops"\n')
    monkeypatch.setenv("SCORECARD_CONFIG", str(config))
    message = assert_every_page_refused(closed_app(), "[access.users] appears twice")
    assert str(config) in message and "line 9" in message
    assert "Traceback" not in message and "TOMLDecodeError" not in message
    # the same without sign-in: a deep link gets the message too, not the page
    secrets_file(None)
    config.write_text("[store\n")
    assert_every_page_refused(closed_app(), "is not valid TOML")
