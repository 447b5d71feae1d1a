"""The IP blocklist: networks refused with 403, cached in each process for a few seconds."""

from __future__ import annotations

import ipaddress
import logging

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from leadapp.extensions import db
from leadapp.models import BlockedNetwork
from leadapp.models.blocklist import REASON_MAX
from leadapp.normalize import unwrap_ipv4_mapped
from leadapp.services.caches import BLOCKLIST_CACHE, get_or_refresh
from leadapp.services.upsert import add_unique

log = logging.getLogger(__name__)

IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlocklistError(ValueError):
    """A blocklist command can't be carried out; the message says why."""


def parse_network(text: str) -> Network:
    """Parse an address or CIDR network; host bits are cleared, IPv4-mapped becomes IPv4."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise BlocklistError(f"{text!r} is not an IP address or CIDR network.") from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(IPV4_MAPPED):
        prefix = max(network.prefixlen - 96, 0)
        network = ipaddress.IPv4Network((unwrap_ipv4_mapped(network.network_address), prefix))
    return network


def add_network(text: str, reason: str = "") -> BlockedNetwork:
    """Block a network."""
    network = parse_network(text)
    if len(reason) > REASON_MAX:
        raise BlocklistError(f"The reason must be at most {REASON_MAX} characters.")
    entry = BlockedNetwork(network=network.compressed, reason=reason)
    add_unique(entry, BlocklistError(f"{network.compressed} is already blocked."))
    return entry


def remove_network(text: str) -> str:
    """Unblock a network; return its canonical form."""
    network = parse_network(text).compressed
    result = db.session.execute(delete(BlockedNetwork).where(BlockedNetwork.network == network))
    db.session.commit()
    if result.rowcount == 0:
        raise BlocklistError(f"{network} is not blocked.")
    return network


def list_networks() -> list[BlockedNetwork]:
    """Every blocked network, oldest first."""
    return list(db.session.scalars(select(BlockedNetwork).order_by(BlockedNetwork.id)))


def _load_networks() -> tuple[Network, ...]:
    """All blocked networks from the database."""
    with db.engine.connect() as connection:
        rows = connection.execute(select(BlockedNetwork.network)).scalars().all()
    return tuple(ipaddress.ip_network(row) for row in rows)


def is_blocked(address: Address) -> bool:
    """Whether an address falls in a blocked network (cached list; no query per request).

    Once loaded, the list is reloaded in the background when it expires, and requests
    go on with the last list meanwhile: a hung database never makes a request wait. Only
    the first request of a process waits for the first load; if that fails, the list is
    taken as empty for one period rather than failing every request.
    """
    try:
        networks = get_or_refresh(BLOCKLIST_CACHE, "networks", _load_networks)
    except SQLAlchemyError as error:
        log.warning("blocklist: reload failed (%s); keeping the last list", type(error).__name__)
        networks = current_app.extensions[BLOCKLIST_CACHE].stale("networks", ())
    return any(address in network for network in networks if network.version == address.version)
