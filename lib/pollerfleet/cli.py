"""The operator's command: ``pollerfleet``.

Exit codes never mix a fleet's state with a failure to look at it: 0 OK/done, 1 WARNING (status,
sweep) or a request refused or failed (redeploy, rebuild, reconcile, breaker), 2 CRITICAL, 3
UNKNOWN and every usage, configuration or internal error (as a plugin that could not check).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, Optional

from pollerfleet import __version__
from pollerfleet.core import config, verbosity
from pollerfleet.core.exits import Exit, State

USAGE_ERROR = Exit.NOT_JUDGED  # the plugins' UNKNOWN: never WARNING (1) or CRITICAL (2)


def _fail(message: str) -> NoReturn:
    """A usage or configuration error: one line on stderr, exit 3."""
    print(f"pollerfleet: {message}", file=sys.stderr)
    raise SystemExit(USAGE_ERROR)


def _config_check(args: argparse.Namespace) -> int:
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        _fail(str(exc))
    source = cfg.path if cfg.path else "built-in defaults (no config file)"
    verbosity.log.info("configuration: %s", source)
    print(f"configuration OK: {source}")
    return Exit.DONE


def _warn(warning: str) -> None:
    print(f"pollerfleet: warning: {warning}", file=sys.stderr)


def _load(args: argparse.Namespace) -> config.Config:
    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        _fail(str(exc))
    verbosity.log.info("configuration: %s", cfg.path or "built-in defaults (no config file)")
    return cfg


def _report(r: Any, decision: Any, args: argparse.Namespace, **audit: object) -> int:
    """Audit and print an operator's decision; with --wait, follow the build to its result."""
    from pollerfleet.actions.decide import Action
    from pollerfleet.actions.redeploy import report
    from pollerfleet.clients.follow import follow
    from pollerfleet.clients.jenkins import JenkinsError

    report(r, decision, print, _warn, dry_run=args.dry_run, **audit)
    if decision.action in (Action.ERROR, Action.REFUSED, Action.DEFERRED):
        return Exit.FAILED
    if args.wait and decision.queue_id is not None:
        try:
            build = follow(r.jenkins, r.job, decision.queue_id, timeout=args.wait_timeout)
        except JenkinsError as exc:
            print(f"pollerfleet: {exc}", file=sys.stderr)
            return Exit.FAILED
        return Exit.DONE if build is not None and build.result == "SUCCESS" else Exit.FAILED
    return Exit.DONE


def _redeploy(args: argparse.Namespace) -> int:
    from pollerfleet.actions.redeploy import Redeployer

    r = Redeployer(_load(args))
    decision = r.request(args.host, image=args.image or "", force=args.force, dry_run=args.dry_run, source="operator")
    return _report(r, decision, args, force=args.force)


def _fleet_for(args: argparse.Namespace) -> tuple[config.Config, dict[str, Any]]:
    """The configuration and the inventory's fleet; --inventory overrides [fleet] inventory."""
    from pollerfleet.core.record import replace  # the configuration's classes are records, not dataclasses

    cfg = _load(args)
    if args.inventory:
        cfg = replace(cfg, fleet=replace(cfg.fleet, inventory=Path(args.inventory)))
    return cfg, _fleet(cfg, hint=" or give --inventory")


def _fleet(cfg: config.Config, group: str = "", hint: str = "") -> dict[str, Any]:
    """The inventory's fleet (GROUP, else [fleet] group), read through the cache directory's parsed
    form: the one loader of every command, and its one wording of what is wrong."""
    from pollerfleet.core.inventory import InventoryError
    from pollerfleet.core.inventory import load as load_inventory

    if cfg.fleet.inventory is None:
        _fail("no fleet inventory is configured: set [fleet] inventory" + hint)
    try:
        return load_inventory(cfg.fleet.inventory, group or cfg.fleet.group, cache_dir=cfg.registry.cache_dir)
    except InventoryError as exc:
        _fail(str(exc))


def _desired(args: argparse.Namespace) -> int:
    """One line per host: HOST REFERENCE, the image the deploy must land it on."""
    from pollerfleet.core.names import printable, valid_hostname
    from pollerfleet.images.desired import DesiredImages, TargetError, fleet_policy

    cfg, fleet = _fleet_for(args)
    try:
        images = DesiredImages(cfg, fleet_policy(cfg))
    except ValueError as exc:
        _fail(str(exc))
    lines, failed = [], False
    for host in args.hosts:
        if not valid_hostname(host):
            print(f"pollerfleet: {printable(host)!r} is not a valid host name (RFC 1123)", file=sys.stderr)
            failed = True
            continue
        if host not in fleet:
            print(f"pollerfleet: {host} is not in the inventory group [{cfg.fleet.group}]", file=sys.stderr)
            failed = True
            continue
        try:
            target = images.chosen(fleet[host], args.image) if args.image else images.for_host(fleet[host])
        except TargetError as exc:
            print(f"pollerfleet: {host}: {exc}", file=sys.stderr)
            failed = True
            continue
        lines.append(f"{host} {target.reference}")
    if failed:
        return Exit.FAILED
    print("\n".join(lines))
    return Exit.DONE


def _verify(args: argparse.Namespace) -> int:
    """Does HOST's engine container run REFERENCE's digest, OK as check_poller_container judges it
    (checks.container.assess)? The deploy job's last word."""
    from nagiosplugin.state import Ok

    from pollerfleet.checks.container import ContainerState, assess
    from pollerfleet.clients.docker import DockerClient, DockerError, NotFound, UsageError, host_endpoint
    from pollerfleet.core.inventory import engine_name
    from pollerfleet.core.reference import short_digest
    from pollerfleet.images.desired import TargetError, parse_reference
    from pollerfleet.images.freshness import running_image, runs

    cfg, fleet = _fleet_for(args)
    if args.host not in fleet:
        print(f"pollerfleet: {args.host} is not in the inventory group [{cfg.fleet.group}]", file=sys.stderr)
        return Exit.FAILED
    try:
        target = parse_reference(args.reference)
    except TargetError as exc:
        print(f"pollerfleet: {exc}", file=sys.stderr)
        return Exit.FAILED
    poller = fleet[args.host]
    name = engine_name(poller)
    try:
        with DockerClient(host_endpoint(poller, cfg), remember=True) as client:
            running = running_image(client, name)  # the container's inspect is remembered: one request
            state = ContainerState.from_inspect(name, client.inspect_container(name))
    except NotFound:
        print(f"{args.host}: container {name} not found", file=sys.stderr)
        return Exit.FAILED
    except (DockerError, UsageError) as exc:
        print(f"{args.host}: cannot read the engine container: {exc}", file=sys.stderr)
        return Exit.FAILED
    if not runs(running, target.repository, target.digest):
        print(
            f"{args.host}: {name} does not run {target.reference} (it runs "
            f"{running.reference.registry + '/' if running.reference.registry else ''}{running.reference.repository}:"
            f"{running.reference.tag or '?'} "
            f"{', '.join(short_digest(d) for d in running.digests) or 'with no registry digest'})",
            file=sys.stderr,
        )
        return Exit.FAILED
    verdict, why = assess(state)
    if verdict != Ok:  # WARNING (health check still starting) is not done either
        print(f"{args.host}: {name} runs {target.shown} but is {str(verdict).upper()}: {why}", file=sys.stderr)
        return Exit.FAILED
    print(f"{args.host}: {name} runs {target.reference} ({'healthy' if state.health == 'healthy' else 'running'})")
    return Exit.DONE


def _reconcile(args: argparse.Namespace) -> int:
    from pollerfleet.actions.decide import Action
    from pollerfleet.actions.judge import ImageJudge
    from pollerfleet.actions.reconcile import reconcile
    from pollerfleet.actions.redeploy import Redeployer
    from pollerfleet.checks.image import ImageQuery
    from pollerfleet.images.desired import fleet_policy

    cfg = _load(args)
    r = Redeployer(cfg)
    fleet = _fleet(cfg)
    hosts = [fleet[h] for h in sorted(fleet) if not args.host or h in args.host]
    try:
        fleet_policy(cfg, args.include, args.exclude, args.release_line)
    except ValueError as exc:
        _fail(str(exc))
    query = ImageQuery(
        name=args.name,
        critical_behind=args.critical_behind,
        critical_lag=args.critical_lag,
        include=args.include,
        exclude=args.exclude,
        release_line=args.release_line,
    )
    from pollerfleet.actions.promote import Promoter

    # canary promotion first: its soaks and verdicts are level-triggered, like the redeploys below
    promotions = Promoter(cfg).evaluate(fleet, dry_run=args.dry_run)
    for p in promotions:
        print(p.line)
    out = reconcile(r, hosts, ImageJudge(cfg, query), dry_run=args.dry_run, report=print)
    decisions = out.decisions
    print(
        f"reconcile: {len(hosts)} hosts, "
        + (f"{len(out.not_evaluated)} NOT EVALUATED, " if out.not_evaluated else "")
        + f"{len(decisions)} stale, "
        f"{sum(d.action in (Action.TRIGGERED, Action.WOULD_TRIGGER) for d in decisions)} "
        f"{'would be ' if args.dry_run else ''}redeployed"
    )
    code = out.exit_code or (Exit.FAILED if any(p.action == "error" for p in promotions) else Exit.DONE)
    if (args.rebuild or (cfg.upstream.urls and not args.no_rebuild)) and _reconcile_rebuild(cfg, args):
        code = code or Exit.FAILED
    return code


def _promotion(args: argparse.Namespace) -> int:
    """pollerfleet promote|block|unblock REF: the operator's word on a candidate, audited with who asked."""
    from pollerfleet.actions.promote import Promoter

    d = Promoter(_load(args)).operator(args.action, args.reference, getattr(args, "reason", "") or "")
    print(d.line)
    return Exit.FAILED if d.action in ("error", "refused") else Exit.DONE


def _channel(args: argparse.Namespace) -> int:
    """What the promote-centreon-poller job runs on the agent: move the registry's promotion tag."""
    from pollerfleet.actions.promote import write_channel
    from pollerfleet.clients.registry import RegistryError
    from pollerfleet.images.desired import TargetError

    try:
        said = write_channel(_load(args), args.action, args.reference)
    except (TargetError, RegistryError, config.ConfigError) as exc:
        print(f"pollerfleet: {args.action} {args.reference}: {exc}", file=sys.stderr)
        return Exit.FAILED
    print(f"{args.action}: {said}")
    return Exit.DONE


def _reconcile_rebuild(cfg: config.Config, args: argparse.Namespace) -> list[Any]:
    """A missed rebuild is retried like a missed redeploy: the newest upstream release without an
    image is asked for, under the rebuild rules (one build per version, dedupe in Jenkins)."""
    from pollerfleet.actions.decide import Action
    from pollerfleet.actions.rebuild import Rebuilder
    from pollerfleet.actions.redeploy import report

    r = Rebuilder(cfg)
    decision = r.request(dry_run=args.dry_run, source="reconcile")
    report(r, decision, print, _warn, dry_run=args.dry_run)
    return [decision] if decision.action == Action.ERROR else []


def _rebuild(args: argparse.Namespace) -> int:
    from pollerfleet.actions.rebuild import Rebuilder

    r = Rebuilder(_load(args))
    decision = r.request(args.version or "", dry_run=args.dry_run, source="operator")
    return _report(r, decision, args)


def _sweep_hosts(args: argparse.Namespace, cfg: config.Config) -> list[Any]:
    fleet = _fleet(cfg, args.group)
    unknown = [h for h in args.host or [] if h not in fleet]
    if unknown:
        _fail(f"not in the inventory: {', '.join(unknown)}")
    return [fleet[h] for h in sorted(fleet) if not args.host or h in args.host]


def _status(args: argparse.Namespace) -> int:
    import json

    from pollerfleet.fleet.render import table, to_json
    from pollerfleet.fleet.sweep import Sweeper, SweepQuery

    cfg = _load(args)
    hosts = _sweep_hosts(args, cfg)
    tty = sys.stdout.isatty()
    progress = None
    if tty and len(hosts) > 20:

        def progress(done: int, total: int) -> None:
            width = 30
            filled = width * done // total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} hosts")
            if done == total:
                sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    results = Sweeper(cfg, SweepQuery.from_options(args)).sweep(hosts, progress)
    if args.json:
        # a host per line: json's C encoder (indent= takes its pure-Python one: a tenth of a sweep's CPU)
        print("[\n" + ",\n".join(json.dumps(h) for h in to_json(results)) + "\n]")
    else:
        width = shutil.get_terminal_size().columns if tty else None
        print(table(results, colour=tty and _colour_wanted(args), width=width))
    return State.worst(r.worst for r in results)


def _colour_wanted(args: argparse.Namespace) -> bool:
    """Colours unless --no-colour/--no-color, NO_COLOR (no-color.org) or a dumb terminal say no."""
    return not args.no_colour and not os.environ.get("NO_COLOR") and os.environ.get("TERM", "") != "dumb"


def _rollout(args: argparse.Namespace) -> int:
    import json

    from pollerfleet.fleet.rollout import observe, render, to_json

    cfg = _load(args)
    args.host = None
    fleet = {h.name: h for h in _sweep_hosts(args, cfg)}
    tty = sys.stdout.isatty()
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    while True:
        r = observe(cfg, fleet, timeout=args.timeout, workers=args.workers, last=args.last)
        if args.json:
            print(json.dumps(to_json(r), indent=None if args.watch else 1), flush=True)
        else:
            width = shutil.get_terminal_size().columns if tty else 100
            text = render(r, colour=tty and _colour_wanted(args), width=width, block="\u2588" if utf8 else "#")
            clear = "\033[H\033[2J" if tty and args.watch else ""
            print(clear + text, flush=True)
        if not args.watch:
            return Exit.DONE
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return Exit.DONE
        if not tty and not args.json:
            print()


def _sweep(args: argparse.Namespace) -> int:
    from pollerfleet.fleet.submit import ServiceNames, SubmitError, command_lines, refused_hosts, submit
    from pollerfleet.fleet.sweep import Sweeper, SweepQuery

    cfg = _load(args)
    hosts = _sweep_hosts(args, cfg)
    start = time.monotonic()
    results = Sweeper(cfg, SweepQuery.from_options(args)).sweep(hosts)
    lines = command_lines(results, ServiceNames(args.container_service, args.image_service, args.vmware_service))
    refused = refused_hosts(results)
    for why in refused:
        print(f"pollerfleet: inventory host {why}", file=sys.stderr)
    if not args.submit:
        print("\n".join(lines))
        return Exit.FAILED if refused else Exit.DONE
    path = Path(args.command_file) if args.command_file else cfg.fleet.command_file
    try:
        written = submit(path, lines, allow_regular_file=args.allow_regular_file)
    except SubmitError as exc:
        print(f"pollerfleet: {exc}", file=sys.stderr)
        return Exit.FAILED
    print(
        f"sweep: {len(hosts)} hosts, {len(lines)} results ({written} bytes) submitted to {path} "
        f"in {time.monotonic() - start:.1f} s"
    )
    return Exit.FAILED if refused else Exit.DONE


def _sweep_options(p: argparse.ArgumentParser) -> None:
    from pollerfleet.checks.container import add_threshold_options
    from pollerfleet.checks.image import add_options
    from pollerfleet.checks.runtime import positive_float

    p.add_argument("--host", action="append", metavar="HOST", help="only this inventory host (repeatable)")
    p.add_argument("--group", metavar="GROUP", help="another inventory group than [fleet] group")
    p.add_argument(
        "-t",
        "--timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="per Docker call of a host (default: %(default)s)",
    )
    p.add_argument(
        "--host-timeout",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="all of one host (every call, the registry too); a later host is UNKNOWN (default: 3 x -t)",
    )
    p.add_argument("--workers", type=int, default=50, help="hosts asked at once (default: %(default)s)")
    p.add_argument(
        "--warning-latency",
        type=range_arg,
        default="",
        metavar="RANGE",
        help="as check_docker_host: WARNING when the daemon's answer time in ms is outside RANGE",
    )
    p.add_argument(
        "--critical-latency",
        type=range_arg,
        default="",
        metavar="RANGE",
        help="as check_docker_host: CRITICAL when the daemon's answer time in ms is outside RANGE",
    )
    p.add_argument(
        "--vmware-name",
        default="centreon-vmware",
        metavar="CONTAINER",
        help="the connector container (default: %(default)s; the inventory's centreon_poller_vmware_name wins)",
    )
    p.add_argument(
        "--vmware-config-path",
        default="",
        metavar="PATH",
        help="as check_poller_vmware --config-path: the connector's configuration file in its container",
    )
    add_options(p, range_arg)
    add_threshold_options(p, range_arg)


def _stale_result(args: argparse.Namespace) -> int:
    print("UNKNOWN - no result from pollerfleet sweep within the freshness threshold (is its cron job running?)")
    return State.UNKNOWN


def _breaker(args: argparse.Namespace) -> int:
    from pollerfleet.actions.redeploy import Redeployer
    from pollerfleet.actions.state import StateError
    from pollerfleet.clients.jenkins import JenkinsError

    r = Redeployer(_load(args))
    if args.action == "status":
        tripped, text = r.breaker_status()
        print(f"circuit breaker {text}")
        return Exit.FAILED if tripped else Exit.DONE
    try:
        print(r.breaker_reset())
    except (JenkinsError, config.ConfigError, TimeoutError, OSError, StateError) as exc:
        print(f"pollerfleet: breaker not reset: {exc}", file=sys.stderr)
        return Exit.FAILED
    return Exit.DONE


def _service(text: str) -> str:
    """A service description as it goes into the engine's command pipe: no ';', no control characters."""
    from pollerfleet.core.names import command_field_problem

    problem = command_field_problem(text, "service name")
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _seconds(text: str) -> float:
    from pollerfleet.checks.runtime import positive_float

    return positive_float(text)


def range_arg(text: str) -> str:
    from pollerfleet.checks.runtime import range_arg as check

    return check(text)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr (exit 3, as every usage error), not usage plus message."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pollerfleet", description="Watch, repair and rebuild the Centreon poller fleet.")
    p.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(p, None)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    c = sub.add_parser("check-config", help="read the configuration and say whether it is usable")
    c.set_defaults(func=_config_check)

    rd = sub.add_parser("redeploy", help="ask Jenkins to redeploy one poller, under the fleet's safety rules")
    rd.add_argument("host", metavar="HOST", help="the poller's Docker host, as named in the inventory")
    rd.add_argument(
        "--image",
        metavar="TAG",
        help="deploy this release tag (or REPOSITORY:TAG@sha256:DIGEST) instead of the host's desired image; "
        "checked against the registry and the host's pin",
    )
    rd.add_argument("--force", action="store_true", help="skip the per-host cooldown (not the other rules)")
    rd.add_argument("--dry-run", action="store_true", help="decide and log, trigger nothing")
    rd.add_argument("--wait", action="store_true", help="follow the build to its result")
    rd.add_argument("--wait-timeout", type=_seconds, default=3600, metavar="SECONDS", help=argparse.SUPPRESS)
    rd.set_defaults(func=_redeploy)

    rc = sub.add_parser("reconcile", help="redeploy every stale poller the event handlers missed (run it from cron)")
    rc.add_argument("--dry-run", action="store_true", help="say what would be redeployed, trigger nothing")
    rc.add_argument("--host", action="append", metavar="HOST", help="only this inventory host (repeatable)")
    rc.add_argument("-n", "--name", default="centreon-engine", metavar="CONTAINER", help="the engine container")
    rc.add_argument(
        "--critical-behind",
        type=range_arg,
        default="",
        metavar="RANGE",
        help="as check_poller_image: redeploy when the count of newer releases is outside RANGE",
    )
    rc.add_argument(
        "--critical-lag",
        type=range_arg,
        default="1",
        metavar="DAYS",
        help="as check_poller_image: redeploy once a newer image has existed this long (default: 1)",
    )
    rc.add_argument("--include", default="", metavar="REGEX", help="release tags (default: [registry] include)")
    rc.add_argument("--exclude", default="", metavar="REGEX", help="not release tags (default: [registry] exclude)")
    rc.add_argument("--release-line", default="", metavar="X.Y", help="default: [registry] release_line")
    rebuild = rc.add_mutually_exclusive_group()
    rebuild.add_argument(
        "--rebuild",
        action="store_true",
        help="also ask for the image build of the newest upstream release that has none "
        "(the default when [upstream] urls is set)",
    )
    rebuild.add_argument("--no-rebuild", action="store_true", help="redeploys only")
    rc.set_defaults(func=_reconcile)

    ds = sub.add_parser(
        "desired", help="the image each host should run, as REPOSITORY:TAG@DIGEST (jenkins/deploy-poller.sh asks this)"
    )
    ds.add_argument("hosts", nargs="+", metavar="HOST", help="inventory host names")
    ds.add_argument("--inventory", metavar="FILE", help="the Ansible inventory (default: [fleet] inventory)")
    ds.add_argument(
        "--image", metavar="TAG|REFERENCE", help="an operator's choice, checked against the registry and the pins"
    )
    ds.set_defaults(func=_desired)

    ref_help = "the candidate, REPOSITORY:TAG@sha256:DIGEST (pollerfleet rollout shows it)"
    for action, text in (
        ("promote", "promote a candidate now, skipping the canaries' soak (audited with who asked)"),
        ("block", "block a candidate: no host gets it; the fleet stays on the promoted image"),
        ("unblock", "lift an operator's or a canary's block: the candidate starts a new canary round"),
    ):
        pp = sub.add_parser(action, help=text)
        pp.add_argument("reference", metavar="REF", help=ref_help)
        if action == "block":
            pp.add_argument("--reason", required=True, metavar="TEXT", help="why (shown by rollout and the check)")
        pp.set_defaults(func=_promotion, action=action)
    ch = sub.add_parser(
        "channel", help="move the registry's promotion tag (the promote-centreon-poller job runs this on the agent)"
    )
    ch.add_argument(
        "action", choices=("promote", "block", "unblock"), help="which tag: promoted, blocked-<hex>, or unblock it"
    )
    ch.add_argument("reference", metavar="REF", help=ref_help)
    ch.set_defaults(func=_channel)

    vf = sub.add_parser("verify", help="does HOST run REFERENCE's digest, healthy? (the deploy job's last step)")
    vf.add_argument("host", metavar="HOST", help="inventory host name")
    vf.add_argument("reference", metavar="REFERENCE", help="REPOSITORY:TAG@sha256:DIGEST")
    vf.add_argument("--inventory", metavar="FILE", help="the Ansible inventory (default: [fleet] inventory)")
    vf.set_defaults(func=_verify)

    rb = sub.add_parser("rebuild", help="ask Jenkins to build the poller image of a centreon-engine release")
    rb.add_argument(
        "version",
        nargs="?",
        metavar="VERSION",
        help="engine version, e.g. 19.04.5 (default: the newest upstream release without an image)",
    )
    rb.add_argument("--dry-run", action="store_true", help="decide and log, trigger nothing")
    rb.add_argument("--wait", action="store_true", help="follow the build to its result")
    rb.add_argument("--wait-timeout", type=_seconds, default=3600, metavar="SECONDS", help=argparse.SUPPRESS)
    rb.set_defaults(func=_rebuild)

    st = sub.add_parser("status", help="the whole fleet at a glance: daemon, engine, image, vmware per host")
    _sweep_options(st)
    st.add_argument("--json", action="store_true", help="JSON for machines (every detail whole)")
    st.add_argument(
        "--no-colour",
        "--no-color",
        dest="no_colour",
        action="store_true",
        help="no state colours on a terminal (also with NO_COLOR set or TERM=dumb)",
    )
    st.set_defaults(func=_status)

    ro = sub.add_parser(
        "rollout",
        help="the rollout at a glance: image versions as bars (desired marked), pins, deploys, breaker, decisions",
    )
    ro.add_argument("--group", metavar="GROUP", help="another inventory group than [fleet] group")
    ro.add_argument(
        "-t",
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="per Docker call of a host (default: %(default)s)",
    )
    ro.add_argument("--workers", type=int, default=50, help="hosts asked at once (default: %(default)s)")
    ro.add_argument(
        "--last", type=int, default=5, metavar="N", help="the last N decisions of the audit log (default: %(default)s)"
    )
    ro.add_argument(
        "--watch",
        type=_seconds,
        nargs="?",
        const=5.0,
        default=0,
        metavar="SECONDS",
        help="refresh every SECONDS (default 5) until Ctrl-C",
    )
    ro.add_argument("--json", action="store_true", help="JSON for machines (one document per refresh)")
    ro.add_argument("--no-colour", "--no-color", dest="no_colour", action="store_true", help="no colours on a terminal")
    ro.set_defaults(func=_rollout)

    sw = sub.add_parser("sweep", help="evaluate the fleet and hand the results to the engine as passive checks")
    _sweep_options(sw)
    sw.add_argument("--submit", action="store_true", help="write to the engine's command file (else print)")
    sw.add_argument("--command-file", metavar="PATH", help="default: [fleet] command_file")
    sw.add_argument("--allow-regular-file", action="store_true", help="write even if it is not a FIFO")
    sw.add_argument(
        "--container-service",
        type=_service,
        default="Poller container",
        metavar="NAME",
        help="the Centreon service that gets the container result (default: %(default)s)",
    )
    sw.add_argument(
        "--image-service",
        type=_service,
        default="Poller image",
        metavar="NAME",
        help="the Centreon service that gets the image result (default: %(default)s)",
    )
    sw.add_argument(
        "--vmware-service",
        type=_service,
        default="Poller vmware",
        metavar="NAME",
        help="the Centreon service that gets the vmware result (default: %(default)s)",
    )
    sw.set_defaults(func=_sweep)

    sr = sub.add_parser("stale-result", help="the freshness command of the passive services: UNKNOWN, exit 3")
    sr.set_defaults(func=_stale_result)

    br = sub.add_parser("breaker", help="show or reset the circuit breaker of automatic redeploys")
    br.add_argument(
        "action", choices=("status", "reset"), help="status: open or closed, and why; reset: close it again"
    )
    br.set_defaults(func=_breaker)
    _global_options_everywhere(p, sub)
    return p


def _global_options(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="configuration file (default: $POLLERFLEET_CONFIG or /etc/pollerfleet/fleet.toml)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if default is None else default,
        help="on stderr: -v more words, -vv every request (method, URL, status, time), -vvv tracebacks",
    )


def _global_options_everywhere(p: argparse.ArgumentParser, sub: Any) -> None:
    """--config and -v before or after the subcommand; each subcommand's description is its help."""
    for action in sub._choices_actions:
        cmd = sub.choices[action.dest]
        _global_options(cmd, argparse.SUPPRESS)  # given after the subcommand, it wins; else the global one
        if not cmd.description:
            cmd.description = action.help[0].upper() + action.help[1:] + "."


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return USAGE_ERROR
    verbosity.setup(args.verbose, sys.stderr)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("pollerfleet: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the traceback with -vvv
        print(f"pollerfleet: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if verbosity.level() >= 3:
            import traceback

            traceback.print_exc(file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
