"""Follow-ups let an alert grow with its story: when more outlets report a story already
alerted, its alert is edited in place or answered in its thread, through the outbox.

A follow-up is a row of `deliveries` of kind `followup` naming its alert (`parent_id`).
There is at most one pending follow-up per alert: outlets that arrive while one waits
are folded into it, since its content is read when it is sent, from the story as it is
then. A new follow-up is due `min_interval` after the alert's last change (its post or
its last follow-up), so a story that 40 outlets carry in an hour changes its alert a
handful of times. An edit never posts: an alert with no message id (not sent, failed,
or sent where nothing can be edited) gets no edit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.chat.message import Entry, Message, followup_reply, grown_alert, message_from_json
from bot.core.channels import followup_mode
from bot.core.cron import quiet_until
from bot.core.models import Delivery, DeliveryState, Subscription, evidence_strings
from bot.delivery.rows import (
    alert_key,
    alerts_for,
    chunks,
    insert_new,
    pending_delivery,
    to_delivery,
)
from bot.storage.schema import deliveries, items, matches
from bot.storage.store import evidence_from_json

FOLLOWUP = "followup"
REPLY_LIMIT = 10  # outlets one thread reply lists at most; the rest wait for the next


@dataclass(frozen=True, slots=True)
class Growth:
    """What one follow-up has to say, read as it is sent: its alert, its mode, and the
    message (None when the story has no outlet the alert does not show yet). `outlets`
    is what the alert shows once it is sent."""

    alert: Delivery
    mode: str
    message: Message | None
    outlets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Followups:
    """Follow-ups on the store's engine: queued by the router, read by the dispatcher."""

    engine: AsyncEngine

    async def growth(self, followup: Delivery) -> Growth | None:
        """What `followup` would say now; None when its alert is no longer stored."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(deliveries).where(deliveries.c.id == followup.parent_id)
                )
            ).first()
            if row is None:
                return None
            alert = to_delivery(row)
            mode = str((followup.payload or {}).get("mode", "edit"))
            shown = await _shown(conn, alert)
            reports = await _reports(conn, alert.story_id) if alert.story_id is not None else []
        if alert.payload is None:
            return Growth(alert, mode, None, tuple(shown))
        message = message_from_json(alert.payload)
        outlets = list(dict.fromkeys(r.source for r in reports))
        first: dict[str, _Report] = {}  # each new outlet's first report
        for report in reports:
            if report.source not in shown:
                first.setdefault(report.source, report)
        fresh = list(first.values())
        if not fresh:
            return Growth(alert, mode, None, tuple(shown))
        if mode == "thread":
            told = fresh[:REPLY_LIMIT]
            reply = followup_reply([r.entry for r in told], message.timezone)
            return Growth(alert, mode, reply, tuple([*shown, *(r.source for r in told)]))
        latest = max(r.first_seen for r in reports)
        return Growth(alert, mode, grown_alert(message, outlets, latest), tuple(outlets))

    async def record_thread(self, alert_id: int, thread_id: str) -> None:
        """The alert's thread, kept so that every later reply goes to it."""
        async with self.engine.begin() as conn:
            await conn.execute(
                deliveries.update().where(deliveries.c.id == alert_id).values(thread_id=thread_id)
            )

    async def record_outlets(self, followup: Delivery, outlets: Sequence[str]) -> None:
        """The outlets the alert shows once `followup` was sent (the next one shows
        only what is new to them)."""
        payload = dict(followup.payload or {}) | {"outlets": list(outlets)}
        async with self.engine.begin() as conn:
            await conn.execute(
                deliveries.update().where(deliveries.c.id == followup.id).values(payload=payload)
            )


async def queue_followups(
    conn: AsyncConnection,
    rows: Sequence[sa.Row[Any]],
    stories_of: Mapping[int, int],
    subs: Sequence[Subscription],
    now: datetime,
    interval: timedelta,
    fresh: set[str],
) -> int:
    """Queue a follow-up of each alert already queued (not among `fresh`, the alerts
    queued with these very rows) whose story `rows` bring another report of, for
    subscriptions whose follow-ups are on; one pending follow-up per alert at most.
    Returns how many were queued."""
    modes = {s.id: followup_mode(s.channel, s.followups) for s in subs}
    wanted: dict[str, tuple[Subscription, str]] = {}  # alert dedupe → its subscription, mode
    for row in rows:
        if not row.reportable:
            continue
        story = stories_of[row.item_id]
        for sub in subs:
            mode = modes[sub.id]
            if mode == "off" or not alerts_for(sub, row):
                continue
            dedupe = alert_key(sub.channel, story)
            if dedupe not in fresh:
                wanted.setdefault(dedupe, (sub, mode))
    if not wanted:
        return 0
    alerts: list[sa.Row[Any]] = []
    keys = sorted(wanted)
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        alerts += (
            await conn.execute(
                sa.select(deliveries).where(
                    deliveries.c.dedupe.in_(chunk),
                    deliveries.c.kind == "alert",
                    deliveries.c.state.in_(_ALIVE),
                )
            )
        ).all()
    if not alerts:
        return 0
    followups = await _followups_of(conn, [a.id for a in alerts])
    new = []
    for alert in alerts:
        sub, mode = wanted[alert.dedupe]
        earlier = followups.get(alert.id, [])
        if any(f.state in (DeliveryState.PENDING, DeliveryState.FAILED) for f in earlier):
            continue  # a pending one will carry this report too; a failed one gave up on it
        changed = [t for t in (alert.sent_at, *(f.sent_at for f in earlier)) if t is not None]
        changed += [now for f in earlier if f.state == DeliveryState.SENDING]  # going out now
        due = max([now, *(t + interval for t in changed)])
        if mode == "thread" and (until := quiet_until(sub.quiet_hours, sub.timezone, now)):
            due = max(due, until)  # a reply notifies; an edit does not
        dedupe = f"followup:{alert.id}:{len(earlier) + 1}"
        pending = pending_delivery(
            sub.id, alert.channel, FOLLOWUP, dedupe, alert.story_id, {"mode": mode}, due, now
        )
        new.append(pending | {"parent_id": alert.id})
    return len(await insert_new(conn, new))  # a key taken already (it cannot be) is skipped


_ALIVE = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SENT)


async def _followups_of(conn: AsyncConnection, alert_ids: Sequence[int]) -> dict[int, list[Any]]:
    """Alert id → its follow-ups (parent, state, sent_at), oldest first."""
    out: dict[int, list[Any]] = defaultdict(list)
    for chunk in chunks(sorted(alert_ids)):
        query = (
            sa.select(deliveries.c.parent_id, deliveries.c.state, deliveries.c.sent_at)
            .where(deliveries.c.parent_id.in_(chunk), deliveries.c.kind == FOLLOWUP)
            .order_by(deliveries.c.id)
        )
        for row in (await conn.execute(query)).all():
            out[int(row.parent_id)].append(row)
    return out


async def _shown(conn: AsyncConnection, alert: Delivery) -> list[str]:
    """The outlets `alert` shows now: those of its message, then those its sent
    follow-ups added."""
    shown: list[str] = []
    if alert.payload is not None:
        for section in message_from_json(alert.payload).sections:
            for entry in section.entries:
                shown += [entry.source, *entry.also]
    query = (
        sa.select(deliveries.c.payload)
        .where(
            deliveries.c.parent_id == alert.id,
            deliveries.c.kind == FOLLOWUP,
            deliveries.c.state == DeliveryState.SENT,
        )
        .order_by(deliveries.c.id)
    )
    for payload in (await conn.execute(query)).scalars():
        shown += list((payload or {}).get("outlets", ()))
    return list(dict.fromkeys(shown))


@dataclass(frozen=True, slots=True)
class _Report:
    source: str
    first_seen: datetime
    entry: Entry


async def _reports(conn: AsyncConnection, story_id: int) -> list[_Report]:
    """The story's items, first seen first, each as an entry with its best match (its
    own headline, link, source, score and evidence)."""
    query = (
        sa.select(
            items.c.id,
            items.c.title,
            items.c.url,
            items.c.source,
            items.c.published_at,
            items.c.first_seen,
            matches.c.watchlist,
            matches.c.score,
            matches.c.evidence,
        )
        .join(matches, matches.c.item_id == items.c.id)
        .where(items.c.story_id == story_id)
        .order_by(items.c.id, matches.c.score.desc())
    )
    reports: dict[int, _Report] = {}
    for row in (await conn.execute(query)).all():
        if row.id in reports:
            continue
        evidence = evidence_strings(tuple(evidence_from_json(e) for e in row.evidence))
        entry = Entry(
            row.title, row.url, row.source, row.published_at, row.watchlist, row.score, evidence
        )
        reports[row.id] = _Report(row.source, row.first_seen, entry)
    return list(reports.values())
