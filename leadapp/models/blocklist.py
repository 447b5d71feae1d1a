"""Blocked IP networks: every request from one of them is refused with 403."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from leadapp.extensions import db
from leadapp.normalize import IP_MAX_CHARS
from leadapp.timeutil import utcnow

NETWORK_MAX = IP_MAX_CHARS + len("/128")  # an address with a prefix length
REASON_MAX = 200


class BlockedNetwork(db.Model):
    """One blocked IPv4 or IPv6 network, stored in canonical CIDR form."""

    __tablename__ = "blocked_networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(NETWORK_MAX), unique=True)
    reason: Mapped[str] = mapped_column(String(REASON_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
