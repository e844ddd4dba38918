"""The `switchboard` command for operators."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcenter.config import Settings
from switchboard import logs
from switchboard.cli.acd import agents_app, queues_app
from switchboard.cli.api_users import api_users_app
from switchboard.cli.calls import calls_app, export_app
from switchboard.cli.campaigns import campaign_app
from switchboard.cli.common import fail, load_settings
from switchboard.cli.dispositions import dispositions_app, dnc_app
from switchboard.cli.recordings import recordings_app
from switchboard.cli.reports import report_app
from switchboard.cli.staffing import staffing, staffing_plan
from switchboard.cli.webhooks import webhooks_app

if TYPE_CHECKING:
    from callcenter.ivr.prompts import SoundCatalog

app = typer.Typer(no_args_is_help=True, help="Switchboard: an open call center on Asterisk 22.")
db_app = typer.Typer(no_args_is_help=True, help="The PostgreSQL schema.")
asterisk_app = typer.Typer(no_args_is_help=True, help="The local Asterisk 22 (chroot).")
ivr_app = typer.Typer(no_args_is_help=True, help="IVR call flows: check and show them.")
app.add_typer(db_app, name="db")
app.add_typer(ivr_app, name="ivr")
app.add_typer(asterisk_app, name="asterisk")
app.add_typer(agents_app, name="agents")
app.add_typer(queues_app, name="queues")
app.add_typer(calls_app, name="calls")
app.add_typer(export_app, name="export")
app.add_typer(dispositions_app, name="dispositions")
app.add_typer(dnc_app, name="dnc")
app.add_typer(campaign_app, name="campaign")
app.add_typer(report_app, name="report")
app.add_typer(api_users_app, name="api-users")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(recordings_app, name="recordings")
app.command("staffing")(staffing)
app.command("staffing-plan")(staffing_plan)

console = Console(width=None if sys.stdout.isatty() else 140)


@app.command()
def init(
    env_file: Path = typer.Option(Path(".env"), help="Where to write the settings."),
    database_url: str = typer.Option(
        "postgresql://postgres@127.0.0.1:5432/switchboard", help="The database to use."
    ),
) -> None:
    """Write a .env with generated credentials and free ports (never overwrites one)."""
    from switchboard import envfile

    if envfile.ensure(env_file, database_url):
        console.print(f"wrote {env_file} with generated ARI and AMI credentials")
    else:
        console.print(f"{env_file} exists; left as it is")


@app.command()
def run() -> None:
    """Run the ARI application and the FastAGI server until SIGTERM or Ctrl-C."""
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    import uvloop

    from ari_app.app import Application, StartupError

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        application = Application(settings)
        loop.add_signal_handler(signal.SIGHUP, application.request_reload)
        await application.run(stop)

    try:
        # libuv's event loop: the app is a loop of small wake-ups (an ARI event, a REST
        # reply, a timer), and asyncio's own loop was a quarter of its CPU per call.
        uvloop.run(main())
    except StartupError as exc:
        raise fail(str(exc)) from None


@app.command()
def doctor() -> None:
    """Check ARI, AMI, the FastAGI port, the database, the flows and the queues; say exactly
    what is wrong (warnings about flows and queues do not fail it)."""
    settings = load_settings()
    from switchboard.doctor import run_checks

    checks = asyncio.run(run_checks(settings))
    table = Table(title="switchboard doctor")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for check in checks:
        status = (
            "[red]FAIL[/]"
            if not check.ok
            else "[yellow]warn[/]"
            if check.warning
            else "[green]ok[/]"
        )
        table.add_row(escape(check.name), status, escape(check.detail))
    console.print(table)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@ivr_app.command("lint")
def ivr_lint(
    files: list[Path] = typer.Argument(..., help="Flow files, or directories of them."),
    sounds: Path | None = typer.Option(
        None, help="Asterisk's sounds directory (default: the local Asterisk's, or ARI's)."
    ),
    no_sounds: bool = typer.Option(False, "--no-sounds", help="Do not check prompts exist."),
) -> None:
    """Check flow files before they go live; exit 1 on any error."""
    from callcenter.ivr.library import SUFFIXES
    from callcenter.ivr.lint import errors, lint_files

    paths: list[Path] = []
    for item in files:
        if item.is_dir():
            paths += sorted(p for p in item.iterdir() if p.suffix in SUFFIXES)
        else:
            paths.append(item)
    if not paths:
        raise fail("no flow files given")
    catalog = None if no_sounds else _sound_catalog(sounds)
    _sources, problems = lint_files(paths, catalog)
    for problem in problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{colour}]{escape(str(problem))}[/]", highlight=False)
    bad = errors(problems)
    summary = f"{len(paths)} file(s), {len(bad)} error(s), {len(problems) - len(bad)} warning(s)"
    if bad:
        console.print(f"[red]{summary}[/]")
        raise typer.Exit(1)
    console.print(f"[green]{summary}[/]")


def _sound_catalog(directory: Path | None) -> SoundCatalog | None:
    from callcenter.ivr.prompts import SoundCatalog

    if directory is not None:
        if not directory.is_dir():
            raise fail(f"{directory} is not a directory")
        return SoundCatalog.from_directory(directory)
    settings = load_settings()
    from pbx.local import rootfs_dir

    root = rootfs_dir(settings)
    local = root / "usr/share/asterisk/sounds"
    if local.is_dir():
        return SoundCatalog.from_directory(local, chroot=root)
    try:
        listing = asyncio.run(_ari_sounds(settings))
    except Exception as exc:
        console.print(
            f"[yellow]prompts not checked: no local Asterisk sounds and ARI said {exc}; "
            "use --sounds DIR[/]"
        )
        return None
    return SoundCatalog.from_ari(listing)


async def _ari_sounds(settings: Settings) -> list[dict[str, object]]:
    from ari_app.client import AriClient

    client = AriClient(settings.ari_url, settings.ari_user, settings.ari_password, settings.ari_app)
    await client.open()
    try:
        listing = await client.get("/sounds")
    finally:
        await client.close()
    return listing if isinstance(listing, list) else []


@ivr_app.command("show")
def ivr_show(file: Path = typer.Argument(..., help="A flow file.")) -> None:
    """Print a flow as a tree, from its start node."""
    from callcenter.ivr.source import FlowFileError, read_flow
    from callcenter.ivr.tree import flow_tree

    try:
        source = read_flow(file)
    except FlowFileError as exc:
        for problem in exc.problems:
            console.print(f"[red]{escape(str(problem))}[/]", highlight=False)
        raise typer.Exit(1) from None
    console.print(flow_tree(source))


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create the database if it is missing, then run the migrations."""
    settings = load_settings()
    from db import admin, migrate

    try:
        if admin.create_database_if_missing(settings.database_url):
            console.print("created the database")
        migrate.upgrade(settings.database_url, revision)
    except admin.DatabaseUnavailable as exc:
        raise fail(str(exc)) from None
    console.print(f"database at {migrate.current_revision(settings.database_url)}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="A revision, or 'base'.")) -> None:
    """Undo migrations down to REVISION."""
    settings = load_settings()
    from db import migrate

    migrate.downgrade(settings.database_url, revision)
    console.print(f"database at {migrate.current_revision(settings.database_url) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the code's."""
    settings = load_settings()
    from db import migrate

    console.print(
        f"database: {migrate.current_revision(settings.database_url) or 'none'}; "
        f"code: {migrate.head_revision(settings.database_url)}"
    )


@asterisk_app.command("build")
def asterisk_build() -> None:
    """Build (or reuse) the Debian sid root that Asterisk 22 runs from."""
    from pbx import rootfs
    from pbx.local import rootfs_dir

    root = rootfs_dir(load_settings())
    if rootfs.is_built(root):
        console.print(f"Asterisk root ready at {root}")
        return
    console.print(f"building the Asterisk root at {root} (mmdebstrap, about a minute)")
    try:
        rootfs.build(root, log=root.parent / "mmdebstrap.log")
    except rootfs.RootfsError as exc:
        raise fail(str(exc)) from None
    console.print(f"Asterisk root ready at {root}")


@asterisk_app.command("up")
def asterisk_up() -> None:
    """Build the Asterisk root if needed, render our configuration and start Asterisk."""
    settings = load_settings()
    if not settings.ari_password or not settings.ami_secret:
        raise fail("no generated credentials: run 'switchboard init' first", 2)
    from pbx import rootfs
    from pbx.instance import AsteriskError
    from pbx.local import local_instance

    instance = local_instance(settings)
    try:
        if not rootfs.is_built(instance.root):
            console.print(f"building the Asterisk root at {instance.root} (about a minute)")
            rootfs.build(instance.root, log=instance.root.parent / "mmdebstrap.log")
        if instance.is_running():
            instance.write_config()
            instance.cli("core reload")
            console.print("Asterisk was running: configuration rendered and reloaded")
        else:
            instance.start()
        console.print(instance.cli("core show version").strip())
    except (rootfs.RootfsError, AsteriskError) as exc:
        raise fail(str(exc)) from None
    p = instance.params
    console.print(
        f"Asterisk up: ARI http://{p.bind_address}:{p.http_port}, AMI {p.ami_port}, "
        f"SIP udp {p.sip_port}, RTP {p.rtp_start}-{p.rtp_end}"
    )


@asterisk_app.command("down")
def asterisk_down() -> None:
    """Stop the local Asterisk."""
    from pbx.local import local_instance

    local_instance(load_settings()).stop()
    console.print("Asterisk stopped")


@asterisk_app.command("cli")
def asterisk_cli(command: str) -> None:
    """Run an Asterisk CLI command, e.g. 'core show channels'."""
    from pbx.local import local_instance

    sys.stdout.write(local_instance(load_settings()).cli(command))


@app.command()
def demo(
    dialed: str = typer.Option("100", help="The number the callers dial."),
) -> None:
    """The call center on real calls: demo agents answer sipp callers who go through the
    example menu; prints the calls, the queue report of the run and the pages to open."""
    settings = load_settings()
    logs.configure("warning", settings.log_format)
    from switchboard.cli.reports import queues as queue_report
    from switchboard.demo import AGENTS, run_demo

    work = settings.spool_path.parent / "demo"  # its flows, kept for a look
    console.print(
        f"demo: agents {', '.join(AGENTS)} log in with sipp phones; five callers dial "
        f"{escape(dialed)} and go through flows/main.yaml (about 30 s)"
    )
    try:
        run = asyncio.run(run_demo(settings, dialed, work))
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"{len(run.calls)} queue visits and calls recorded in PostgreSQL")
    for column in (
        "caller", "what they do", "arrived", "keys", "queue", "waited s", "exit", "agent",
        "talk s", "code",
    ):  # fmt: skip
        table.add_column(column)
    for row in run.calls:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    if run.sipp_failures:
        console.print(f"[yellow]{run.sipp_failures} sipp callers did not complete[/]")
    console.print(f"callbacks waiting for an agent: {run.callbacks}; calls coded: {run.coded}")
    start, end = run.started.isoformat(), run.ended.isoformat()
    console.print(f"\n$ switchboard report queues --from {start} --to {end}")
    queue_report(
        start=start, end=end, interval="day", tz=None, sl=20.0, sl_variant="answered",
        short_abandon=5.0, fcr_window="7d", queue=None, fmt="table", fill=False,
    )  # fmt: skip
    console.print("\nWith `switchboard run` going, open:")
    console.print(f"  wallboard            {run.wallboard}", soft_wrap=True, highlight=False)
    console.print(f"  supervisor console   {run.console}", soft_wrap=True, highlight=False)
    for name, page in run.agent_pages.items():
        console.print(f"  agent page {name:<9} {page}", soft_wrap=True, highlight=False)
