"""`rating-collector`: run the collector and manage its tokens, registry and broker files."""

from __future__ import annotations

import logging
import secrets
import signal
from pathlib import Path
from typing import Annotated

import typer

from collector.settings import Settings, get_settings

app = typer.Typer(help="The counter-rating collector: MQTT in, database, HTTP out.", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]})
token_app = typer.Typer(help="API tokens (Authorization: Bearer ...).", no_args_is_help=True)
registry_app = typer.Typer(help="Departments, counters, officers, boxes and who is where.", no_args_is_help=True)
broker_app = typer.Typer(help="The Mosquitto configuration and the collector's broker account.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(registry_app, name="registry")
app.add_typer(broker_app, name="broker")

log = logging.getLogger("collector")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from collector.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


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
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, engine, ingest), host=settings.http_host, port=settings.http_port,
                       log_level="info", lifespan="off")
    )
    # uvicorn re-raises the stop signal after its shutdown; let it land here, not kill the process
    # before ingest has stored and acked its batch.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    finally:
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
    role: Annotated[str, typer.Option("--role", help="viewer or admin")] = "viewer",
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
        for problem in error.problems:
            typer.echo(f"error: {problem}", err=True)
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
                        port=listen_port or settings.mqtt_port)
    set_passwords(settings.broker_dir, {COLLECTOR_USER: settings.mqtt_password()})
    typer.echo(f"broker config: {conf}\ncollector password: {password_file}\nrun: mosquitto -c {conf}")


def ensure_password_file(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.touch(mode=0o600)
    path.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")


if __name__ == "__main__":
    app()
