"""Labels as commands: adding a configured label runs its command as whoever added it."""

from __future__ import annotations

import hashlib

from bot.comments import post_once
from bot.engine.commands import Command
from bot.engine.context import Context
from bot.engine.invoke import resolve, run_commands
from bot.engine.router import Router
from bot.events import Event
from bot.repoconfig import config_in_force
from config.repo import RepoConfig
from handlers.common import permissions

router = Router()

UNKNOWN_COMMAND = (
    "@{actor} the label `{label}` is set to run `/{command}` (`triggers.labels` in `.forgebot.yml`), "
    "but forgebot has no such command, so nothing ran and the label stays. Fix that entry "
    "(`/forgebot help` lists the commands), then take the label off and add it again."
)


async def _added_labels(event: Event, ctx: Context) -> list[str]:
    """Labels added by this event: GitHub names the one; Gitea sends the whole set, so compare.

    The comparison is remembered per delivery: a retry would otherwise compare the set with
    itself, find nothing added, and never run the trigger its first attempt failed to finish.
    """
    assert event.issue is not None and event.repo is not None
    key = f"labels-added:{event.platform}:{event.delivery_id}"
    if event.action == "labels_changed" and event.delivery_id:
        remembered = await ctx.done_detail(key)
        if remembered is not None:
            return [str(name) for name in remembered["added"]]
    current = list(event.issue.labels)
    before = await ctx.storage.labels.swap(event.platform, event.repo.full_name, event.issue.number, current)
    if event.action == "labeled" and event.label:
        return [event.label]
    if event.action == "labels_changed":
        previous = {name.lower() for name in before or ()}
        added = [name for name in current if name.lower() not in previous]
        if event.delivery_id:
            await ctx.mark_done(key, added=added)
        return added
    return []


@router.on("issues", "labeled")
@router.on("pull_request", "labeled")
@router.on("issues", "labels_changed")
@router.on("pull_request", "labels_changed")
async def run_label_triggers(event: Event, ctx: Context) -> None:
    issue, repo, sender = event.issue, event.repo, event.sender
    if issue is None or repo is None or sender is None:
        return
    added = await _added_labels(event, ctx)
    if not added:
        return
    config = await config_in_force(ctx, event.platform, repo.full_name)
    triggers = {label.lower(): command for label, command in config.triggers.labels.items()}
    fired = [(label, triggers[label.lower()]) for label in added if label.lower() in triggers]
    bot = await ctx.forges.bot_login(event.platform)
    if not fired or sender.login.lower() == bot.lower():
        return
    # A redelivery (Gitea's has a new id) or a replay finds the label gone: it ran, or someone
    # took the label off before the bot got to it. Either way there is nothing to run.
    now = list((await ctx.forge.get_issue(repo.full_name, issue.number)).labels)
    # A redelivered payload carries the set of its day; remember today's, or the next change on Gitea
    # would be compared with a stale set.
    await ctx.storage.labels.swap(event.platform, repo.full_name, issue.number, now)
    on_issue = {name.lower() for name in now}
    for label, name in fired:
        if label.lower() not in on_issue:
            continue
        command = Command(name.lower(), (), f"label {label} -> /{name}")
        spec, _ = resolve(ctx.router.find_command, command)
        if spec is None:  # keep the label: taking it off would look like the command ran
            body = UNKNOWN_COMMAND.format(actor=sender.login, label=label, command=name)
            await post_once(ctx.forge, repo.full_name, issue.number, f"trigger-unknown:{_digest(label, name)}", body, bot)
            continue
        await run_label_trigger(ctx, event, label, command, actor=sender.login, config=config)


async def run_label_trigger(ctx: Context, event: Event, label: str, command: Command, *, actor: str, config: RepoConfig) -> None:
    """Run the label's command once for this application of the label, then take the label off.

    The label comes off last, so a failure on the way leaves it on and the retry runs again; the
    command's outcome and reply are keyed by how many times this label has fired on this issue
    before, which every delivery of one application shares, whatever its id.
    """
    assert event.issue is not None and event.repo is not None
    repo, number = event.repo.full_name, event.issue.number
    fired = f"trigger:{event.platform}:{repo.lower()}:{number}:{_digest(label)}"
    generation = 0
    while await ctx.already_done(f"{fired}:{generation}"):
        generation += 1
    request = f"label:{number}:{_digest(label)}:{generation}"
    await run_commands(
        ctx, event, [command], actor=actor, config=config, comment_id=None, permissions=permissions(ctx),
        reply_key=request, request=request,
    )
    await ctx.forge.remove_label(repo, number, label)
    await ctx.mark_done(f"{fired}:{generation}")


def _digest(*parts: str) -> str:
    """A marker-safe name for labels and commands, which may hold spaces and any character."""
    return hashlib.sha256("\n".join(p.lower() for p in parts).encode()).hexdigest()[:12]
