"""Sign-in and roles: who is looking, which pages they get, and the audit of what they do.

Sign-in is Streamlit's own OpenID Connect (`st.login` / `st.user`), configured in
`.streamlit/secrets.toml` `[auth]`. Without `[auth]` and without roles in `[access]` the app is
open (the local demo) and says so. Sign-in that is asked for (roles, or an `[auth]` section) but
cannot work (no or broken secrets file, `[Auth]`, missing keys) closes every page instead, with a
message for the operator (`setup_problem`; never a secret value): it fails closed.
With sign-in on, a signed-out visitor gets only the sign-in page; a signed-in user's role comes from
`[access]` in scorecard.toml (`resolve_role`, pure and tested without Streamlit). The page list is
built per role, so a page a role may not use is not registered at all ("Page not found").
Streamlit's identity cookie lives 30 days whatever the token says, so the ID token's `exp` is
checked here and an expired identity is signed out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import streamlit as st

from ops import audit
from ops.config import AccessSettings
from pages import _data
from pages._text import md_text


class Role(StrEnum):
    EXEC = "exec"  # the review pages
    LEAD = "lead"  # the review pages, their team as the default filter
    OPS = "ops"  # the review pages and Data & refresh (sources, refreshes, schedules)


# When several roles apply (a list claim), the one that may do the most wins.
PRECEDENCE = (Role.LEAD, Role.EXEC, Role.OPS)
# Pages (by url path) only ops may use: refreshes, source settings, schedules, loading data.
OPS_ONLY = frozenset({"refresh", "start"})


@dataclass(frozen=True)
class Identity:
    """Who is looking. `open`: sign-in is not configured, everyone may do everything."""

    email: str | None = None
    name: str | None = None
    role: Role | None = None  # None when signed out, or signed in without a role
    team: str | None = None  # a lead's team
    signed_in: bool = False
    open: bool = False

    @property
    def may_view(self) -> bool:
        return self.open or self.role is not None

    @property
    def may_refresh(self) -> bool:
        return self.open or self.role is Role.OPS


OPEN = Identity(open=True)
SIGNED_OUT = Identity()


# --- pure role resolution -----------------------------------------------------------------


def _values(claims: Mapping[str, Any], name: str) -> list[str]:
    """A claim as a list of strings (IdPs send one string or a list)."""
    value = claims.get(name) if name else None
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def verified_email(claims: Mapping[str, Any]) -> str | None:
    """The lower-cased email, unless the IdP says it is not verified."""
    email = claims.get("email")
    if not email or claims.get("email_verified") is False:
        return None
    return str(email).strip().lower()


def resolve_role(claims: Mapping[str, Any], config: AccessSettings) -> Role | None:
    """The role of a signed-in user: the email table, else the role claim, else the default.

    None means no access. Claim values count if they are a role name or listed in
    `claim_roles`; of several, the one that may do the most wins.
    """
    email = verified_email(claims)
    if email and email in config.users:
        return Role(config.users[email])
    known = {**{r.value: r.value for r in Role}, **config.claim_roles}
    roles = {Role(known[v]) for v in _values(claims, config.role_claim) if v in known}
    if roles:
        return max(roles, key=PRECEDENCE.index)
    return Role(config.default_role) if config.default_role else None


def resolve_team(claims: Mapping[str, Any], config: AccessSettings) -> str | None:
    """A lead's team: from the email table, else the team claim."""
    email = verified_email(claims)
    if email and email in config.teams:
        return config.teams[email]
    values = _values(claims, config.team_claim)
    return values[0] if values else None


def is_expired(claims: Mapping[str, Any], now: float) -> bool:
    """Whether the ID token has expired (a token without a readable `exp` counts as expired)."""
    try:
        return float(claims["exp"]) <= now
    except (KeyError, TypeError, ValueError):
        return True


def identity_from(claims: Mapping[str, Any], config: AccessSettings) -> Identity:
    """The identity of a signed-in user with these ID-token claims."""
    role = resolve_role(claims, config)
    return Identity(
        email=verified_email(claims) or None,
        name=str(claims["name"]) if claims.get("name") else None,
        role=role,
        team=resolve_team(claims, config) if role is Role.LEAD else None,
        signed_in=True,
    )


def visible(identity: Identity, pages: Sequence[st.Page]) -> list[st.Page]:
    """The pages this identity may use (by url path); the others are not registered at all."""
    return [p for p in pages if identity.may_refresh or _declared_path(p) not in OPS_ONLY]


def _declared_path(page: st.Page) -> str:
    # `url_path` is "" for the default page; the declared path is only kept privately.
    return str(getattr(page, "_url_path", page.url_path))


# --- Streamlit side -------------------------------------------------------------------------


# The keys `st.login` needs: in `[auth]`, and per provider (`[auth]` itself or `[auth.<name>]`).
AUTH_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
SECRETS_EXAMPLE = "`.streamlit/secrets.toml.example`"


class SetupError(Exception):
    """Sign-in is wanted but cannot work; the message tells the operator what to fix (it names
    files, sections and keys, never a value)."""


def _secrets_files() -> str:
    from streamlit import config

    files = config.get_option("secrets.files") or [".streamlit/secrets.toml"]
    return " or ".join(f"`{f}`" for f in files)


def _read_auth_section() -> tuple[Mapping[str, Any] | None, list[str]]:
    """`[auth]` of the secrets (None: absent) and the names of the other top-level sections.
    Raises SetupError when a secrets file exists but is not valid TOML."""
    import tomllib

    try:
        names = [str(k) for k in st.secrets.keys()]  # noqa: SIM118 - Secrets is no dict
        section = st.secrets.get("auth")
    except FileNotFoundError as exc:  # no secrets file, or (a subclass) one that is not TOML
        if isinstance(exc.__cause__, tomllib.TOMLDecodeError):
            path = getattr(exc, "exec_kwargs", {}).get("path")  # the file Streamlit parsed
            where = f"`{path}`" if path else _secrets_files()
            raise SetupError(
                f"The secrets file {where} is not valid TOML: {exc.__cause__} (the parser's "
                "position names no value). Fix that line; until then every page stays closed."
            ) from None
        return None, []
    return section, names


def _check_auth_section(section: Any) -> None:
    """Raise SetupError unless `[auth]` holds what `st.login` needs."""
    where = f"`[auth]` in {_secrets_files()}"
    if not isinstance(section, Mapping):
        raise SetupError(f"{where} must be a table of keys (see {SECRETS_EXAMPLE}).")
    missing = [k for k in AUTH_KEYS if not section.get(k)]
    if missing:
        raise SetupError(
            f"{where} lacks {', '.join(missing)}: sign-in cannot work without "
            f"{'them' if len(missing) > 1 else 'it'} (see {SECRETS_EXAMPLE})."
        )
    found = providers(section)
    if not found:
        raise SetupError(
            f"{where} names no identity provider: add {', '.join(PROVIDER_KEYS)} to it, or "
            f"to an `[auth.<name>]` table per provider (see {SECRETS_EXAMPLE})."
        )
    for name in found:
        table = section if name is None else section[name]
        label = "`[auth]`" if name is None else f"`[auth.{name}]`"
        if name is not None and "_" in name:
            raise SetupError(f"{label}: a provider name may not contain an underscore.")
        if lacking := [k for k in PROVIDER_KEYS if not table.get(k)]:
            raise SetupError(
                f"{label} in {_secrets_files()} lacks {', '.join(lacking)} (see {SECRETS_EXAMPLE})."
            )


def auth_setup(access: AccessSettings) -> Mapping[str, Any]:
    """The `[auth]` secrets section, checked; {} when sign-in is off.

    Sign-in is off only when nobody asked for it: no `[auth]` section (of any spelling) and no
    roles in `[access]`. Asked for but unusable (no secrets file, a wrong-case `[Auth]`, missing
    keys, a TOML error) raises SetupError: the app then refuses every page (fails closed)."""
    section, names = _read_auth_section()
    misspelt = [n for n in names if n.lower() == "auth" and n != "auth"]
    if section is None and misspelt:
        raise SetupError(
            f"The secrets file ({_secrets_files()}) has a `[{misspelt[0]}]` section: the sign-in "
            "section must be spelt `[auth]`, in lower case."
        )
    if section is None:
        if access != AccessSettings():  # roles configured: sign-in is wanted
            raise SetupError(
                "`[access]` in scorecard.toml gives roles, but sign-in is not configured: add "
                f"an `[auth]` section to {_secrets_files()} (see {SECRETS_EXAMPLE}), or remove "
                "the roles to run the app open."
            )
        return {}
    _check_auth_section(section)
    return section


def setup_problem() -> str | None:
    """Why no page may be shown (a broken scorecard.toml or sign-in configuration), or None."""
    from ops.config import ConfigError

    try:
        auth_setup(_data.settings().access)
    except ConfigError as exc:
        return f"The configuration cannot be read: {exc}"
    except SetupError as exc:
        return str(exc)
    return None


def auth_config() -> Mapping[str, Any]:
    """The checked `[auth]` secrets section ({} when sign-in is off); SetupError (or
    ConfigError from scorecard.toml) when sign-in is wanted but cannot work."""
    return auth_setup(_data.settings().access)


def providers(config: Mapping[str, Any]) -> list[str | None]:
    """Provider names for `st.login`: None for the default `[auth]` provider, then `[auth.x]`."""
    named = [k for k, v in config.items() if isinstance(v, Mapping)]
    return ([None] if "client_id" in config else []) + sorted(named)


def current_user() -> Identity:
    """The identity of this session; an expired identity is signed out (and audited).

    A broken configuration gives the signed-out identity (no page), never the open one."""
    from ops.config import ConfigError

    try:
        if not auth_config():
            return OPEN
    except (ConfigError, SetupError):
        return SIGNED_OUT
    claims = st.user.to_dict()
    if not claims.get("is_logged_in"):
        return SIGNED_OUT
    identity = identity_from(claims, _data.settings().access)
    if is_expired(claims, time.time()):
        _record_once("expired", identity, f"token expired at {claims.get('exp')}")
        st.logout()
        return SIGNED_OUT
    if identity.role is None:
        _record_once("denied", identity, "signed in without a role")
    else:
        _record_once("sign-in", identity, f"token issued at {claims.get('iat')}")
    return identity


def record(action: str, detail: str = "", identity: Identity | None = None) -> None:
    """Append an audit event for this session's user (see `ops.audit`)."""
    who = identity or current_user()
    audit.record(
        _data.settings().data_dir,
        action=action,
        email=who.email,
        role=who.role.value if who.role else None,
        detail=detail,
    )


def record_export(name: str) -> None:
    """Download-button callback: audit that this session's user exported the file `name`."""
    who = current_user()
    audit.record_export(
        _data.settings().data_dir,
        email=who.email,
        role=who.role.value if who.role else None,
        name=name,
    )


def record_refresh(source: str, run_id: int | None = None, outcome: str = "") -> None:
    """Audit that this session's user triggered a refresh (call it after `run_refresh`)."""
    who = current_user()
    audit.record_refresh(
        _data.settings().data_dir,
        email=who.email,
        role=who.role.value if who.role else None,
        source=source,
        run_id=run_id,
        outcome=outcome,
    )


def _record_once(action: str, identity: Identity, detail: str) -> None:
    """Record a session-level event (sign-in, denied, expired) once per browser session."""
    key = f"_audit_{action}"
    if st.session_state.get(key) != identity.email:
        st.session_state[key] = identity.email
        record(action, detail, identity)


def require(role: Role | None = None) -> Identity:
    """Guard for a page script (defence in depth): stop unless this user may use the page.

    `require()`: any role; `require(Role.OPS)`: ops only; exec or lead: that role (or ops).
    """
    who = current_user()
    allowed = who.may_view if role is None else who.role in (role, Role.OPS)
    if not (who.open or allowed):
        st.error("This page is not available to your role.", icon=":material/lock:")
        st.stop()
    return who


def seed_team_filter(identity: Identity, teams: Sequence[str]) -> None:
    """Once per session, start a lead on their team's view, unless the URL names teams."""
    if identity.role is not Role.LEAD or st.session_state.get("_auth_team_seeded"):
        return
    st.session_state["_auth_team_seeded"] = True
    if identity.team in teams and "teams" not in st.query_params:
        st.session_state["teams"] = [identity.team]


# --- what a visitor sees --------------------------------------------------------------------


def sidebar(identity: Identity) -> None:
    """The open-app banner, or who is signed in with a sign-out button."""
    with st.sidebar:
        if identity.open:
            st.markdown(
                ":orange-badge[:material/lock_open: Open app: sign-in is off] Anyone who can "
                "reach this app sees every page and can run refreshes. Turn sign-in on with "
                "`[auth]` in `.streamlit/secrets.toml` (see `secrets.toml.example`)."
            )
        elif identity.signed_in:
            role = f"{identity.role.value}" if identity.role else "no role"
            team = f" · {md_text(identity.team)}" if identity.team else ""
            # the name comes from the identity provider: text, never markup
            who = md_text(identity.email or identity.name or "an account without a name")
            st.caption(f"Signed in as **{who}** ({role}{team})")
            if st.button("Sign out", key="sign_out", icon=":material/logout:"):
                record("sign-out", identity=identity)
                st.logout()
                st.stop()  # the browser leaves for the provider's logout page


def gate_page(identity: Identity) -> st.Page:
    """The only page of a signed-out visitor (sign in) or of a user without a role."""
    if identity.signed_in:
        return st.Page(no_access_page, title="No access", icon=":material/block:", default=True)
    return st.Page(sign_in_page, title="Sign in", icon=":material/login:", default=True)


def sign_in_page() -> None:
    st.title("Revenue Alignment Scorecard")
    st.write("Sign in with your company account to see the scorecard.")
    for provider in providers(auth_config()):
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        if st.button(label, type="primary", key=f"sign_in_{provider or 'default'}"):
            st.login(provider)


def no_access_page() -> None:
    who = current_user()
    st.title("No access")
    st.info(
        f"You are signed in as **{md_text(who.email or who.name or 'an unnamed account')}**, "
        "but have no role in the scorecard. Ask your ops team to add you to `[access]` in "
        "scorecard.toml.",
        icon=":material/block:",
    )


def no_data_page() -> None:
    st.title("Revenue Alignment Scorecard")
    st.info(
        "No data yet: the snapshot store is empty. Your ops team loads data under Data & refresh.",
        icon=":material/inventory_2:",
    )


def no_data_pages(identity: Identity, pages: Sequence[st.Page]) -> list[st.Page]:
    """The pages of an empty store: get started (ops), else a page saying data is coming."""
    kept = visible(identity, pages)
    return kept or [st.Page(no_data_page, title="No data yet", icon=":material/flag:")]


def setup_problem_page(problem: str) -> st.Page:
    """The only page while the configuration is broken: what the operator must fix."""

    def page() -> None:
        st.title("Revenue Alignment Scorecard")
        st.error(
            f"**The app is closed: its configuration needs fixing.** {problem}",
            icon=":material/lock:",
        )
        st.caption("For the operator: fix it, then restart the app. No page opens until then.")

    return st.Page(page, title="Closed", icon=":material/lock:", default=True, url_path="closed")
