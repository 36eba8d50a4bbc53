"""The deploy job's questions (jenkins/deploy-poller.sh): ``desired`` before the play, which image
a host must land on; ``verify`` after it, does the host run that image, healthy?"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nagiosplugin.state import Ok

from pollerfleet.checks.container import ContainerState, assess
from pollerfleet.cli import common
from pollerfleet.cli.options import add_inventory_options
from pollerfleet.clients.docker import DockerClient, DockerError, NotFound, UsageError, host_endpoint
from pollerfleet.core.exits import Exit
from pollerfleet.core.inventory import engine_name
from pollerfleet.core.names import printable, valid_hostname
from pollerfleet.core.reference import short_digest
from pollerfleet.images.desired import DesiredImages, TargetError, fleet_policy, parse_reference
from pollerfleet.images.freshness import running_image, runs


def add_parser(sub: Any) -> None:
    ds = sub.add_parser(
        "desired", help="the image each host should run, as REPOSITORY:TAG@DIGEST (jenkins/deploy-poller.sh asks this)"
    )
    ds.add_argument("hosts", nargs="+", metavar="HOST", help="inventory host names")
    ds.add_argument(
        "--image", metavar="TAG|REFERENCE", help="an operator's choice, checked against the registry and the pins"
    )
    add_inventory_options(ds)
    ds.set_defaults(func=desired)

    vf = sub.add_parser("verify", help="does HOST run REFERENCE's digest, healthy? (the deploy job's last step)")
    vf.add_argument("host", metavar="HOST", help="inventory host name")
    vf.add_argument("reference", metavar="REFERENCE", help="REPOSITORY:TAG@sha256:DIGEST")
    add_inventory_options(vf)
    vf.set_defaults(func=verify)


def desired(args: argparse.Namespace) -> int:
    """One line per host: HOST REFERENCE, the image the deploy must land it on."""
    cfg, fleet = common.fleet_for(args)
    try:
        images = DesiredImages(cfg, fleet_policy(cfg))
    except ValueError as exc:
        common.fail(str(exc))
    lines, failed = [], False
    for host in args.hosts:
        if not valid_hostname(host):
            print(f"pollerfleet: {printable(host)!r} is not a valid host name (RFC 1123)", file=sys.stderr)
            failed = True
            continue
        if host not in fleet:
            print(f"pollerfleet: {common.not_in_inventory([host], cfg.fleet.group)}", file=sys.stderr)
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


def verify(args: argparse.Namespace) -> int:
    """Does HOST's engine container run REFERENCE's digest, OK as check_poller_container judges it
    (checks.container.assess)? The deploy job's last word."""
    cfg, fleet = common.fleet_for(args)
    if args.host not in fleet:
        print(f"pollerfleet: {common.not_in_inventory([args.host], cfg.fleet.group)}", file=sys.stderr)
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
