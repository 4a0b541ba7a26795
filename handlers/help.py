"""/forgebot help: what this repository allows, generated from the commands' own metadata."""

from __future__ import annotations

from bot.engine.invoke import Invocation
from bot.engine.router import CommandSpec, Level, Router
from bot.forges.base import Capabilities
from bot.permissions import Rule
from config.repo import RepoConfig

router = Router()


def render_help(commands: list[CommandSpec], config: RepoConfig, capabilities: Capabilities) -> str:
    rows = []
    for spec in commands:
        options = config.commands.get(spec.name)
        if (options is not None and not options.enabled) or (spec.active is not None and not spec.active(config)):
            continue
        where = "" if spec.on_issues and spec.on_pulls else (" (issues only)" if spec.on_issues else " (pull requests only)")
        who = Rule.of(spec, options).describe(capabilities)
        rows.append(f"| `{spec.usage}` | {spec.description}{where} | {who} |")
    triggers = "".join(f"\n- adding the label `{label}` runs `/{command}`" for label, command in config.triggers.labels.items())
    return (
        "### forgebot commands in this repository\n\n"
        "Write a command at the start of a line in a comment; several lines run in order. "
        "`/forgebot COMMAND` works for every command.\n\n"
        "| Command | What it does | Who may run it |\n|---|---|---|\n" + "\n".join(rows)
        + (f"\n\nLabels that act as commands:{triggers}" if triggers else "")
    )


@router.command("help", usage="/forgebot help", description="This list.", level=Level.ANYONE)
async def help_command(inv: Invocation) -> str:
    return render_help(inv.ctx.router.commands, inv.config, inv.forge.capabilities)
