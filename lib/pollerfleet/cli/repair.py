"""Repairs through Jenkins: ``redeploy`` one poller, ``rebuild`` an engine release's image,
``reconcile`` what the event handlers missed, and the ``breaker`` that stops automatic redeploys.

The actions and the Jenkins client are imported inside the commands that run them: python-jenkins
and requests take about as long to import as the rest of ``pollerfleet`` does to start, and
``--help``, ``status`` or ``verify`` have no use for them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pollerfleet.cli import common
from pollerfleet.cli.options import add_inventory_options, add_request_options, range_arg
from pollerfleet.core import config
from pollerfleet.core.exits import Exit


def add_parser(sub: Any) -> None:
    _redeploy_parser(sub)
    _rebuild_parser(sub)
    _reconcile_parser(sub)
    br = sub.add_parser("breaker", help="show or reset the circuit breaker of automatic redeploys")
    br.add_argument(
        "action", choices=("status", "reset"), help="status: open or closed, and why; reset: close it again"
    )
    br.set_defaults(func=breaker)


def _redeploy_parser(sub: Any) -> None:
    rd = sub.add_parser("redeploy", help="ask Jenkins to redeploy one poller, under the fleet's safety rules")
    rd.add_argument("host", metavar="HOST", help="the poller's Docker host, as named in the inventory")
    g = add_request_options(rd)
    g.add_argument("--force", action="store_true", help="skip the per-host cooldown (not the other rules)")
    g.add_argument(
        "--image",
        metavar="TAG",
        help="deploy TAG (or REPOSITORY:TAG@sha256:DIGEST), not the desired image; checked against registry and pin",
    )
    rd.set_defaults(func=redeploy)


def _rebuild_parser(sub: Any) -> None:
    rb = sub.add_parser("rebuild", help="ask Jenkins to build the poller image of a centreon-engine release")
    rb.add_argument(
        "version",
        nargs="?",
        metavar="VERSION",
        help="engine version, e.g. 19.04.5 (default: the newest upstream release without an image)",
    )
    add_request_options(rb)
    rb.set_defaults(func=rebuild)


def _reconcile_parser(sub: Any) -> None:
    """reconcile judges staleness with check_poller_image's CRITICAL options (their names, not
    their WARNING siblings: reconcile only acts on what would be CRITICAL)."""
    rc = sub.add_parser("reconcile", help="redeploy every stale poller the event handlers missed (run it from cron)")
    add_inventory_options(rc, hosts=True)
    g = rc.add_argument_group("Staleness", "a host is redeployed when check_poller_image would say CRITICAL")
    g.add_argument("-n", "--name", default="centreon-engine", metavar="CONTAINER", help="the engine container")
    g.add_argument(
        "--critical-behind",
        type=range_arg,
        default="",
        metavar="RANGE",
        help="as check_poller_image: redeploy when the count of newer releases is outside RANGE",
    )
    g.add_argument(
        "--critical-lag",
        type=range_arg,
        default="1",
        metavar="DAYS",
        help="as check_poller_image: redeploy once a newer image has existed this long (default: 1)",
    )
    g.add_argument("--include", default="", metavar="REGEX", help="release tags (default: [registry] include)")
    g.add_argument("--exclude", default="", metavar="REGEX", help="not release tags (default: [registry] exclude)")
    g.add_argument("--release-line", default="", metavar="X.Y", help="default: [registry] release_line")
    g = rc.add_argument_group("Actions")
    g.add_argument("--dry-run", action="store_true", help="say what would be redeployed, trigger nothing")
    rebuilds = g.add_mutually_exclusive_group()
    rebuilds.add_argument(
        "--rebuild",
        action="store_true",
        help="also ask for the image build of the newest upstream release that has none "
        "(the default when [upstream] urls is set)",
    )
    rebuilds.add_argument("--no-rebuild", action="store_true", help="redeploys only")
    rc.set_defaults(func=reconcile)


def _report(r: Any, decision: Any, args: argparse.Namespace, **audit: object) -> int:
    """Audit and print an operator's decision; with --wait, follow the build to its result."""
    from pollerfleet.actions.decide import Action
    from pollerfleet.actions.redeploy import report
    from pollerfleet.clients.follow import follow
    from pollerfleet.clients.jenkins import JenkinsError

    report(r, decision, print, common.warn, dry_run=args.dry_run, **audit)
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


def redeploy(args: argparse.Namespace) -> int:
    from pollerfleet.actions.redeploy import Redeployer

    r = Redeployer(common.load_config(args))
    decision = r.request(args.host, image=args.image or "", force=args.force, dry_run=args.dry_run, source="operator")
    return _report(r, decision, args, force=args.force)


def rebuild(args: argparse.Namespace) -> int:
    from pollerfleet.actions.rebuild import Rebuilder

    r = Rebuilder(common.load_config(args))
    decision = r.request(args.version or "", dry_run=args.dry_run, source="operator")
    return _report(r, decision, args)


def reconcile(args: argparse.Namespace) -> int:
    from pollerfleet.actions.decide import Action
    from pollerfleet.actions.promote import Promoter
    from pollerfleet.actions.reconcile import reconcile
    from pollerfleet.actions.redeploy import Redeployer
    from pollerfleet.actions.staleness import StalenessCheck
    from pollerfleet.checks.image import ImageQuery
    from pollerfleet.images.desired import fleet_policy

    cfg = common.load_config(args)
    r = Redeployer(cfg)
    fleet = common.fleet(cfg)
    hosts = common.pick(fleet, args.host, cfg.fleet.group)
    try:
        fleet_policy(cfg, args.include, args.exclude, args.release_line)
    except ValueError as exc:
        common.fail(str(exc))
    query = ImageQuery(
        name=args.name,
        critical_behind=args.critical_behind,
        critical_lag=args.critical_lag,
        include=args.include,
        exclude=args.exclude,
        release_line=args.release_line,
    )
    # canary promotion first: its soaks and verdicts are level-triggered, like the redeploys below
    promotions = Promoter(cfg).evaluate(fleet, dry_run=args.dry_run)
    for p in promotions:
        print(p.line)
    out = reconcile(r, hosts, StalenessCheck(cfg, query), dry_run=args.dry_run, report=print)
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


def _reconcile_rebuild(cfg: config.Config, args: argparse.Namespace) -> list[Any]:
    """A missed rebuild is retried like a missed redeploy: the newest upstream release without an
    image is asked for, under the rebuild rules (one build per version, dedupe in Jenkins)."""
    from pollerfleet.actions.decide import Action
    from pollerfleet.actions.rebuild import Rebuilder
    from pollerfleet.actions.redeploy import report

    r = Rebuilder(cfg)
    decision = r.request(dry_run=args.dry_run, source="reconcile")
    report(r, decision, print, common.warn, dry_run=args.dry_run)
    return [decision] if decision.action == Action.ERROR else []


def breaker(args: argparse.Namespace) -> int:
    from pollerfleet.actions.redeploy import Redeployer
    from pollerfleet.actions.state import StateError
    from pollerfleet.clients.jenkins import JenkinsError

    r = Redeployer(common.load_config(args))
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
