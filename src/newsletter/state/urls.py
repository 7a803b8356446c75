"""State URLs: which store to open, from the environment or newsletter.yaml, never printed whole.

NEWSLETTER_DATABASE_URL        wins when set (it may carry a password: it is the environment)
state.database_url             in newsletter.yaml: ${VAR} is expanded from the environment,
                               a password written in the file is refused
sqlite:///.newsletter/send.db  the default, relative to the workspace
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

from newsletter.errors import StateError

ENV = "NEWSLETTER_DATABASE_URL"
SCHEMES = ("sqlite", "postgresql", "postgres")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
HIDDEN = "***"


def _password(url: str) -> str | None:
    """Return the password a URL carries (in the authority or as ?password=), if any."""
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    for name, value in parse_qsl(parts.query):
        if name == "password" and value:
            return value
    return None


def mask(url: str) -> str:
    """Return the URL with its password replaced by ***, safe to print."""
    url = re.sub(r"^([^:/]+://[^:/@?#]*:)[^@/?#]*@", rf"\g<1>{HIDDEN}@", url)
    return re.sub(r"([?&]password=)[^&#]*", rf"\g<1>{HIDDEN}", url)


def scrub(error: object, url: str) -> str:
    """Return an error's text with the URL's password taken out."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    secret = _password(url)
    return text.replace(secret, HIDDEN) if secret else text


def check_configured(url: str) -> str:
    """Validate state.database_url from newsletter.yaml (a pydantic validator)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        raise ValueError(
            f"'{mask(url)}' is not a state URL: use sqlite:///PATH or postgresql://HOST/DB"
        )
    secret = _password(url)
    if secret and not VARIABLE.fullmatch(secret):
        raise ValueError(
            "a password is written in newsletter.yaml; take it from the environment: "
            "PGPASSWORD, ~/.pgpass, ${VAR} in the URL, or NEWSLETTER_DATABASE_URL"
        )
    return url


def expand(url: str) -> str:
    """Fill ${VAR} in a configured URL from the environment."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise StateError(
                f"state.database_url in newsletter.yaml uses ${{{name}}}, which is not set"
            )
        return os.environ[name]

    secret = _password(url)
    if secret and VARIABLE.fullmatch(secret):  # a password may hold @, / or :: encode it
        url = url.replace(f":{secret}@", f":{quote(value(VARIABLE.fullmatch(secret)), safe='')}@")
    return VARIABLE.sub(value, url)


def resolve(root: Path, configured: str | None) -> str:
    """Return the state URL in force: the environment, newsletter.yaml, or the default file."""
    given = os.environ.get(ENV, "").strip()
    if given:
        return normalise(root, given, ENV)
    if configured:
        return normalise(root, expand(configured), "state.database_url")
    return f"sqlite:///{root / '.newsletter' / 'send.db'}"


def normalise(root: Path, url: str, where: str) -> str:
    """Check a state URL's scheme; make an SQLite path absolute (relative to the workspace)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        raise StateError(
            f"{where}: '{mask(url)}' is not a state URL: use sqlite:///PATH or postgresql://..."
        )
    if scheme != "sqlite":
        return url
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise StateError(f"{where}: '{url}' names no file: use sqlite:///PATH")
    path = Path(url.removeprefix("sqlite:///"))
    return f"sqlite:///{path if path.is_absolute() else root / path}"
