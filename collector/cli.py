"""`rating-collector`: run the collector and manage its tokens, registry and broker files."""

from __future__ import annotations

import gc
import logging
import secrets
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from collector.settings import Settings, get_settings

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer(help="The counter-rating collector: MQTT in, database, HTTP out.", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]})
token_app = typer.Typer(help="API tokens (Authorization: Bearer ...).", no_args_is_help=True)
registry_app = typer.Typer(help="Departments, counters, officers, boxes and who is where.", no_args_is_help=True)
broker_app = typer.Typer(help="The Mosquitto configuration and the collector's broker account.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(registry_app, name="registry")
app.add_typer(broker_app, name="broker")
releases_app = typer.Typer(help="Firmware releases served to the boxes (over-the-air update).", no_args_is_help=True)
app.add_typer(releases_app, name="releases")
user_app = typer.Typer(help="Dashboard users (name, role, password hashed with Argon2id).", no_args_is_help=True)
app.add_typer(user_app, name="user")

log = logging.getLogger("collector")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from collector.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def http_config(settings: Settings, asgi_app: Any) -> uvicorn.Config:
    """How `serve` runs HTTP. X-Forwarded-For/-Proto are believed only from RATING_TRUSTED_PROXIES
    (uvicorn's default would believe them from 127.0.0.1, or from anyone with FORWARDED_ALLOW_IPS=*):
    the login limiter counts failures per client address, which a forged header must not choose."""
    import uvicorn

    trusted = settings.trusted_proxy_list
    return uvicorn.Config(asgi_app, host=settings.http_host, port=settings.http_port, log_level="info",
                          lifespan="off", proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None)


@app.command()
def serve() -> None:
    """Migrate the database, then ingest from MQTT and serve HTTP until SIGINT/SIGTERM.

    On a stop signal: HTTP stops, the collector stops taking messages, stores and acks the batch in
    hand, and disconnects; anything not acked is redelivered by the broker at the next start.
    """
    import uvicorn

    from collector.app import create_app
    from collector.ingest import Ingest

    _logging()
    settings = get_settings()
    engine = _engine(settings)
    ingest = Ingest(settings, engine).start()
    asgi = create_app(settings, engine, ingest)
    server = uvicorn.Server(http_config(settings, asgi))
    # uvicorn re-raises the stop signal after its shutdown; let it land here, not kill the process
    # before ingest has stored and acked its batch.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    # What start-up built (modules, the app, the ORM's metadata: ~90,000 objects) lives as long as the
    # process. Frozen out of the garbage collector's reach, the thousands of short-lived objects of a
    # report no longer set off full collections that walk it all (the whole country's month on
    # PostgreSQL, python -m bench.queries: p95 68 -> 17 ms).
    gc.freeze()
    try:
        server.run()
    finally:
        asgi.state.rollouts.stop()
        log.info("stopping ingest")
        ingest.stop()
        engine.dispose()
        log.info("stopped")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (serve does this too)."""
    _logging()
    _engine(get_settings())


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="who or what uses the token")],
    role: Annotated[str, typer.Option("--role", help="viewer, admin, or display (the lobby screen only)")] = "viewer",
) -> None:
    """Create a token and print it once; only its SHA-256 is stored."""
    from collector.auth import create_token
    from collector.db import session_scope

    try:
        with session_scope(_engine(get_settings())) as session:
            token = create_token(session, name=name, role=role)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)


# A file with hundreds of broken rows should not scroll its first problems off the screen.
REGISTRY_PROBLEMS_SHOWN = 20


@registry_app.command("load")
def registry_load(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".yaml, .json or .csv")]) -> None:
    """Load or update the registry from FILE (idempotent; a file with errors changes nothing)."""
    from collector.db import session_scope
    from collector.registry import RegistryError, load_registry

    settings = get_settings()
    try:
        with session_scope(_engine(settings)) as session:
            summary = load_registry(session, file, settings.timezone)
    except RegistryError as error:
        for problem in error.problems[:REGISTRY_PROBLEMS_SHOWN]:
            typer.echo(f"error: {problem}", err=True)
        count, hidden = len(error.problems), len(error.problems) - REGISTRY_PROBLEMS_SHOWN
        more = f", the first {REGISTRY_PROBLEMS_SHOWN} shown" if hidden > 0 else ""
        typer.echo(f"registry not loaded, nothing changed: {count} problem{'s' if count > 1 else ''}{more}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"registry loaded: {summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged")


@broker_app.command("setup")
def broker_setup(
    listen_host: Annotated[str | None, typer.Option(help="default: RATING_MQTT_HOST")] = None,
    listen_port: Annotated[int | None, typer.Option(help="default: RATING_MQTT_PORT")] = None,
) -> None:
    """Write the Mosquitto config, ACL and the collector account into data_dir (password made once)."""
    from collector.broker import COLLECTOR_USER, set_passwords, write_config

    settings = get_settings()
    password_file = settings.mqtt_password_file
    assert password_file is not None
    ensure_password_file(password_file)
    conf = write_config(settings.broker_dir, host=listen_host or settings.mqtt_host,
                        port=listen_port or settings.mqtt_port, autosave_changes=settings.broker_autosave_changes)
    set_passwords(settings.broker_dir, {COLLECTOR_USER: settings.mqtt_password()})
    typer.echo(f"broker config: {conf}\ncollector password: {password_file}\nrun: mosquitto -c {conf}")
    _reload_broker(settings.broker_dir)


def _reload_broker(broker_dir: Path) -> None:
    from collector.broker import reload_running

    if reload_running(broker_dir):
        typer.echo("running broker reloaded (accounts and ACL re-read)", err=True)
    else:
        typer.echo("no running broker uses this configuration; it applies at its next start", err=True)


@broker_app.command("add-box")
def broker_add_box(
    box: Annotated[str, typer.Argument(help="box id, e.g. box-017 (also its broker username)")],
    password_file: Annotated[Path | None, typer.Option(
        "--password-file", help="write the password here (mode 0600) instead of printing it")] = None,
) -> None:
    """Give BOX a broker account with a new random password (printed once, or written to a file)."""
    from collector.broker import BrokerError, add_box

    settings = get_settings()
    try:
        password = add_box(settings.broker_dir, box, password_file)
    except BrokerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if password_file is None:
        typer.echo(password)
    else:
        typer.echo(f"{box}: password written to {password_file}", err=True)
    _reload_broker(settings.broker_dir)


@broker_app.command("remove-box")
def broker_remove_box(box: Annotated[str, typer.Argument(help="box id")]) -> None:
    """Revoke BOX's broker account (a connected box is cut off at the reload)."""
    from collector.broker import BrokerError, remove_box

    settings = get_settings()
    try:
        removed = remove_box(settings.broker_dir, box)
    except BrokerError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if not removed:
        typer.echo(f"error: {box} has no broker account", err=True)
        raise typer.Exit(1)
    typer.echo(f"{box}: account removed", err=True)
    _reload_broker(settings.broker_dir)


@broker_app.command("list")
def broker_list() -> None:
    """The broker's accounts, one a line (the collector's and every box's)."""
    from collector.broker import list_accounts

    for user in list_accounts(get_settings().broker_dir):
        typer.echo(user)


def ensure_password_file(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.touch(mode=0o600)
    path.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")


@releases_app.command("add")
def releases_add(folder: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                                        help="a release made by `rating-tech build --key-file`")]) -> None:
    """Check the release in FOLDER (version, board, every file's SHA-256, a signature there) and serve
    it to the boxes at /releases/<version>/. The same release again changes nothing."""
    from collector.releases import ReleaseError, add_release

    settings = get_settings()
    assert settings.releases_dir is not None
    try:
        release, added = add_release(settings.releases_dir, folder)
    except ReleaseError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    said = "added" if added else "already there"
    typer.echo(f"release {release.version} ({release.board}, {len(release.files)} files, {release.size} bytes) {said}")


@releases_app.command("list")
def releases_list() -> None:
    """The releases served, the newest first: version, board, files, bytes, manifest SHA-256."""
    from collector.releases import list_releases

    settings = get_settings()
    assert settings.releases_dir is not None
    for r in list_releases(settings.releases_dir):
        typer.echo(f"{r.version}\t{r.board}\t{len(r.files)} files\t{r.size} bytes\t{r.manifest_sha256}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="the login name")],
    role: Annotated[str, typer.Option("--role", help="viewer or admin")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")] = False,
) -> None:
    """Create a dashboard user; the password is asked for (or read from stdin) and stored as Argon2id."""
    import sys

    from collector.auth import create_user
    from collector.db import session_scope

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(_engine(get_settings())) as session:
            create_user(session, username=username, role=role, password=password)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"user {username} created ({role})")


@app.command("report")
def report_command(
    week: Annotated[str | None, typer.Option("--week", help="ISO week, e.g. 2026-W48")] = None,
    month: Annotated[str | None, typer.Option("--month", help="month, e.g. 2026-11")] = None,
    period: Annotated[str | None, typer.Option("--period", help="or a quarter 2026-Q4 / year 2026")] = None,
    review: Annotated[int | None, typer.Option(
        "--review", help="the yearly officer review of this year, e.g. 2026: per officer, ratings and rate per "
        "month, rank within the department (by the lower end of the 95% interval), sample size and interval")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, pdf, csv or xlsx")] = "html",
    lang: Annotated[str, typer.Option("--lang", help="vi or en")] = "vi",
    include: Annotated[str, typer.Option("--include", help="count flagged presses too: suppressed,test")] = "",
    site: Annotated[str | None, typer.Option("--site", help="only this site's departments")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")] = None,
) -> None:
    """Write a weekly, monthly, quarterly or yearly report, or the yearly officer review, from the
    database (the server need not run). html and pdf carry the heading of an administrative document
    (RATING_REPORT_* settings), dated today in the center's zone."""
    import sys

    from collector.db import session_scope
    from collector.reports import build_report, build_review, render
    from collector.satisfaction import INCLUDABLE

    chosen = [p for p in (week, month, period, review) if p]
    if len(chosen) != 1:
        typer.echo("error: give exactly one of --week, --month, --period or --review", err=True)
        raise typer.Exit(2)
    wanted = frozenset(part.strip() for part in include.split(",") if part.strip())
    if wanted - set(INCLUDABLE):
        typer.echo(f"error: --include accepts {', '.join(INCLUDABLE)}", err=True)
        raise typer.Exit(2)
    try:
        if week and "-W" not in week or month and ("-W" in month or "-Q" in month or len(month) != 7):
            raise ValueError(f"{week or month!r} is not a {'week like 2026-W48' if week else 'month like 2026-11'}")
        with session_scope(_engine(get_settings())) as session:
            if review is not None:
                document: Any = build_review(session, review, include=wanted, site=site)
            else:
                document = build_report(session, str(chosen[0]), include=wanted, site=site)
            body = render(document, fmt, lang)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if output is None:
        sys.stdout.buffer.write(body)
    else:
        output.write_bytes(body)
        typer.echo(f"report written: {output}", err=True)


if __name__ == "__main__":
    app()
