"""Application-command interactions: building INTERACTION_CREATE payloads from
the commands the bot synced, and the endpoints the bot answers them through.

Emulated Discord behaviour:

* options are encoded with the types of the synced definition (string 3,
  integer 4, boolean 5, user 6, channel 7, role 8, mentionable 9, number 10,
  attachment 11; subcommand 1 / group 2) with ``resolved`` data for snowflakes;
  choices, min/max and required options are enforced as Discord's client does;
* ``POST /interactions/{id}/{token}/callback`` accepts one acknowledgement within
  ``interaction_deadline`` (3 s on Discord) — later ones get 404 *Unknown
  interaction* (10062), repeats get 400 (40060); ``?with_response`` returns
  ``{"interaction": ..., "resource": {"type", "message"}}``;
* responses become real messages authored by the bot (``webhook_id`` and
  ``application_id`` = application id, ``interaction_metadata`` set); a deferred
  response (type 5) is a "thinking" message (flag 128) that the first follow-up
  or an ``@original`` edit fills in;
* follow-ups are ``POST /webhooks/{app_id}/{token}`` (``?wait=true`` returns the
  message), and ``GET/PATCH/DELETE /webhooks/{app_id}/{token}/messages/{id|@original}``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .models import FLAG_EPHEMERAL, FLAG_LOADING, Guild, Message, Perm
from .records import CallbackAttempt, InteractionRecord
from .rest import Ctx, Result, RouteTable
from .validation import (
    ALREADY_ACKNOWLEDGED,
    INVALID_FORM_BODY,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    ApiError,
    unknown,
    validate_choices,
    validate_message,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
TEXT_INPUT = 4
CB_MESSAGE, CB_DEFERRED, CB_DEFERRED_UPDATE, CB_UPDATE, CB_AUTOCOMPLETE, CB_MODAL = 4, 5, 6, 7, 8, 9


class CommandNotSynced(LookupError):
    """``invoke_command`` named a command the bot has not synced (globally or to the guild)."""


class CommandNotPermitted(PermissionError):
    """The invoking member lacks the command's ``default_member_permissions``."""


def _snowflake_of(value: Any) -> int:
    value = getattr(value, "id", value)
    return int(value)


# --------------------------------------------------------------------------- payloads


class InteractionBuilder:
    """Builds INTERACTION_CREATE payloads the way Discord's client would."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.state = fake.state

    def find_command(self, name: str, guild_id: int | None) -> dict[str, Any] | None:
        """The synced chat-input command ``name``: guild scope first, then global."""
        for scope in [guild_id, None] if guild_id is not None else [None]:
            command = self.state.commands.get(scope, {}).get((1, name))
            if command is not None:
                return command
        return None

    def synced_names(self, guild_id: int | None) -> list[str]:
        names = [n for (t, n) in self.state.commands.get(None, {}) if t == 1]
        if guild_id is not None:
            names += [f"{n} (guild)" for (t, n) in self.state.commands.get(guild_id, {}) if t == 1]
        return names

    def build(
        self,
        *,
        kind: int,
        command: dict[str, Any],
        user_id: int,
        guild: Guild | None,
        channel_id: int,
        options: dict[str, Any],
        subcommand_group: str | None,
        subcommand: str | None,
        focused: str | None,
        interaction_id: int,
        token: str,
        locale: str,
    ) -> dict[str, Any]:
        state = self.state
        channel = state.channels[channel_id]
        perms = state.channel_permissions(channel, user_id)
        if guild is not None:
            # Member permissions are a guild notion; a DM has no member to hold them, so the
            # bot's own check is what stands between a DM and a server-only command.
            self._check_permitted(command, perms)

        defs = command.get("options") or []
        path: list[tuple[int, str]] = []
        if subcommand_group:
            group = self._option_def(defs, subcommand_group, command["name"], SUB_COMMAND_GROUP)
            path.append((SUB_COMMAND_GROUP, subcommand_group))
            defs = group.get("options") or []
        if subcommand:
            sub = self._option_def(defs, subcommand, command["name"], SUB_COMMAND)
            path.append((SUB_COMMAND, subcommand))
            defs = sub.get("options") or []
        elif any(d.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for d in defs):
            raise ValueError(
                f"/{command['name']} has subcommands; pass subcommand= (and subcommand_group=)"
            )

        if kind == AUTOCOMPLETE and focused is None:
            focused = next(
                (d["name"] for d in defs if d.get("autocomplete") and d["name"] in options), None
            )
            if focused is None:
                raise ValueError(
                    "invoke_autocomplete needs focused= (no autocomplete option given)"
                )

        resolved: dict[str, dict[str, Any]] = {}
        encoded = [
            self._encode(
                self._option_def(defs, name, command["name"]),
                value,
                resolved,
                user_id,
                guild,
                focused=(name == focused),
            )
            for name, value in options.items()
        ]
        if kind == APPLICATION_COMMAND:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in options]
            if missing:
                raise ValueError(f"/{command['name']}: missing required option(s) {missing}")

        for kind_, name in reversed(path):
            encoded = [{"type": kind_, "name": name, "options": encoded}]

        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": encoded,
        }
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved

        return self.envelope(kind, data, user_id, guild, channel, interaction_id, token, locale)

    def envelope(
        self,
        kind: int,
        data: dict[str, Any],
        user_id: int,
        guild: Guild | None,
        channel: Any,
        interaction_id: int,
        token: str,
        locale: str,
    ) -> dict[str, Any]:
        """The fields every INTERACTION_CREATE carries around its ``data``."""
        state = self.state
        perms = state.channel_permissions(channel, user_id)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(state.application.id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "channel": state.channel_payload(channel, permissions_for=user_id),
            "token": token,
            "version": 1,
            "app_permissions": str(state.channel_permissions(channel, state.bot_user.id)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        user = state.users[user_id]
        if guild is not None:
            member = guild.members[user_id]
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member.payload(permissions=perms),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            payload.update(
                user=user.payload(), authorizing_integration_owners={"0": "0"}, context=1
            )
        return payload

    def component_data(self, message: Message, custom_id: str) -> dict[str, Any]:
        """``data`` of a button click: the button must be on the message and enabled."""
        for row in message.components:
            for component in row.get("components") or []:
                if component.get("custom_id") == custom_id:
                    if component.get("disabled"):
                        raise ValueError(f"button {custom_id!r} is disabled")
                    return {"custom_id": custom_id, "component_type": component.get("type", 2)}
        known = [
            c.get("custom_id") for row in message.components for c in row.get("components") or []
        ]
        raise ValueError(f"message {message.id} has no component {custom_id!r} (has {known})")

    @staticmethod
    def modal_data(modal: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        """``data`` of a modal submit, as Discord's client sends it: every text input of the
        modal, with what the user typed, holding the input to its length limits and
        ``required`` flag as the client does (it cannot submit otherwise)."""
        rows = []
        inputs = []
        for row in modal.get("components") or []:
            children = row.get("components") or ([row["component"]] if "component" in row else [])
            for child in children:
                if child.get("type") != TEXT_INPUT:
                    continue
                inputs.append(child)
        names = {c["custom_id"] for c in inputs}
        unknown_keys = set(values) - names
        if unknown_keys:
            raise ValueError(f"modal has no input(s) {sorted(unknown_keys)} (has {sorted(names)})")
        for child in inputs:
            value = values.get(child["custom_id"], child.get("value") or "")
            low, high = child.get("min_length"), child.get("max_length", 4000)
            if child.get("required", True) and not value:
                raise ValueError(f"input {child['custom_id']!r} is required")
            if value and low is not None and len(value) < low:
                raise ValueError(f"input {child['custom_id']!r}: shorter than {low}")
            if high is not None and len(value) > high:
                raise ValueError(f"input {child['custom_id']!r}: longer than {high}")
            rows.append(
                {
                    "type": 1,
                    "components": [
                        {"type": TEXT_INPUT, "custom_id": child["custom_id"], "value": value}
                    ],
                }
            )
        return {"custom_id": modal["custom_id"], "components": rows}

    @staticmethod
    def _check_permitted(command: dict[str, Any], perms: int) -> None:
        required = command.get("default_member_permissions")
        if required is None or perms & Perm.ADMINISTRATOR:
            return
        required = int(required)
        if perms & required != required:
            raise CommandNotPermitted(
                f"/{command['name']} requires permissions {required:#x}; member has {perms:#x}"
            )

    @staticmethod
    def _option_def(
        defs: list[dict[str, Any]], name: str, command: str, kind: int | None = None
    ) -> dict[str, Any]:
        for d in defs:
            if d["name"] == name and (kind is None or d.get("type") == kind):
                return d
        known = [d["name"] for d in defs]
        raise ValueError(f"/{command} has no option {name!r} (options: {known})")

    def _encode(
        self,
        d: dict[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Any]],
        user_id: int,
        guild: Guild | None,
        *,
        focused: bool,
    ) -> dict[str, Any]:
        kind, name = d["type"], d["name"]
        out: dict[str, Any] = {"name": name, "type": kind}
        if focused:  # what the user has typed so far, always a string
            out.update(value=str(value), focused=True)
            return out
        if kind == STRING:
            value = str(value)
            if not d.get("min_length", 0) <= len(value) <= d.get("max_length", 6000):
                raise ValueError(f"option {name!r}: length {len(value)} outside min/max_length")
        elif kind == INTEGER:
            if isinstance(value, bool) or int(value) != value:
                raise TypeError(f"option {name!r} is an integer option, got {value!r}")
            value = int(value)
        elif kind == NUMBER:
            value = float(value)
        elif kind == BOOLEAN:
            if not isinstance(value, bool):
                raise TypeError(f"option {name!r} is a boolean option, got {value!r}")
        elif kind in (USER, CHANNEL, ROLE, MENTIONABLE):
            value = str(self._resolve(kind, _snowflake_of(value), resolved, user_id, guild))
        elif kind == ATTACHMENT:
            value = str(self._attachment(value, resolved))
        else:
            raise ValueError(f"option {name!r} has unsupported type {kind}")
        if kind in (INTEGER, NUMBER):
            low, high = d.get("min_value"), d.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ValueError(f"option {name!r}: {value} outside [{low}, {high}]")
        choices = d.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"option {name!r}: {value!r} is not one of the declared choices")
        out["value"] = value
        return out

    def _resolve(
        self,
        kind: int,
        snowflake: int,
        resolved: dict[str, dict[str, Any]],
        user_id: int,
        guild: Guild | None,
    ) -> int:
        state = self.state
        key = str(snowflake)
        is_user = snowflake in state.users
        if kind == USER or (kind == MENTIONABLE and is_user):
            user = state.users.get(snowflake)
            if user is None:
                raise ValueError(f"unknown user {snowflake}")
            resolved.setdefault("users", {})[key] = user.payload()
            member = guild.members.get(snowflake) if guild else None
            if guild is not None and member is not None:
                channel_perms = state.permissions(guild, snowflake)
                resolved.setdefault("members", {})[key] = member.payload(
                    with_user=False, permissions=channel_perms
                )
        elif kind == CHANNEL:
            channel = state.channels.get(snowflake)
            if channel is None:
                raise ValueError(f"unknown channel {snowflake}")
            resolved.setdefault("channels", {})[key] = state.channel_payload(
                channel, permissions_for=user_id
            )
        else:  # ROLE, or MENTIONABLE that is not a user
            role = guild.roles.get(snowflake) if guild else None
            if role is None:
                raise ValueError(f"unknown role {snowflake}")
            resolved.setdefault("roles", {})[key] = role.payload()
        return snowflake

    def _attachment(self, value: Any, resolved: dict[str, dict[str, Any]]) -> int:
        info = dict(value) if isinstance(value, dict) else {"filename": str(value)}
        attachment_id = self.state.snowflake()
        filename = info.get("filename", "file.txt")
        url = f"https://cdn.discordapp.com/ephemeral-attachments/{attachment_id}/{filename}"
        attachment_id = int(info.get("id", attachment_id))
        resolved.setdefault("attachments", {})[str(attachment_id)] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": info.get("size", 0),
            "url": info.get("url", url),
            "proxy_url": info.get("url", url),
            "content_type": info.get("content_type"),
            "ephemeral": True,
        }
        return attachment_id


# --------------------------------------------------------------------------- endpoints


class InteractionRoutes:
    """``/interactions/.../callback`` and the interaction webhook endpoints."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    def register(self, t: RouteTable) -> None:
        t.add("POST", "/interactions/{interaction_id}/{token}/callback", self.callback, auth=False)
        w = "/webhooks/{webhook_id}/{token}"
        t.add("POST", w, self.execute, auth=False)
        t.add("GET", w + "/messages/{message_id}", self.get_message, auth=False)
        t.add("PATCH", w + "/messages/{message_id}", self.edit_message, auth=False)
        t.add("DELETE", w + "/messages/{message_id}", self.delete_message, auth=False)

    @property
    def state(self):
        return self.fake.state

    # ------------------------------------------------------------ helpers

    def _meta(self, record: InteractionRecord, **extra: Any) -> dict[str, Any]:
        owners = {"0": str(record.guild_id)} if record.guild_id else {"0": "0"}
        data = record.payload["data"]
        if "name" not in data:  # a button click or a modal submit
            return {
                "id": str(record.id),
                "type": record.type,
                "user": self.state.users[record.user_id].payload(),
                "authorizing_integration_owners": owners,
                **extra,
            }
        names = [data["name"]]
        opts = data.get("options") or []
        while opts and opts[0].get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            names.append(opts[0]["name"])
            opts = opts[0].get("options") or []
        return {
            "id": str(record.id),
            "type": record.type,
            "user": self.state.users[record.user_id].payload(),
            "authorizing_integration_owners": owners,
            "name": " ".join(names),
            "command_type": 1,
            **extra,
        }

    def _new_message(
        self, record: InteractionRecord, body: dict[str, Any], files: list, **fields: Any
    ) -> Message:
        app_id = self.state.application.id
        channel = self.state.channels[record.channel_id]
        return self.state.new_message(
            channel,
            self.state.bot_user.id,
            body,
            files,
            webhook_id=app_id,
            application_id=app_id,
            interaction_id=record.id,
            **fields,
        )

    def _record_for_webhook(self, ctx: Ctx) -> InteractionRecord:
        record = self.fake.interactions_by_token.get(ctx.params["token"])
        if record is None or ctx.params["webhook_id"] != str(self.state.application.id):
            raise unknown("Webhook", UNKNOWN_WEBHOOK)
        return record

    def _webhook_message(self, ctx: Ctx, record: InteractionRecord) -> Message:
        wanted = ctx.params["message_id"]
        if wanted == "@original":
            message = record.original or record.source_message
        else:
            message = next(
                (m for m in [record.original, *record.followups] if m and str(m.id) == wanted), None
            )
        if message is None or message.deleted:
            raise unknown("Message", UNKNOWN_MESSAGE)
        return message

    # ------------------------------------------------------------ callback

    async def callback(self, ctx: Ctx) -> Result:
        record = self.fake.interactions_by_id.get(ctx.snowflake("interaction_id"))
        if record is None or record.token != ctx.params["token"]:
            raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        body = ctx.body
        attempt = CallbackAttempt(
            at=asyncio.get_running_loop().time(), type=body.get("type"), data=body.get("data")
        )
        record.callbacks.append(attempt)
        try:
            result = self._accept(ctx, record, attempt)
            attempt.status = result[0]
            return result
        except ApiError as err:
            attempt.status, attempt.error = err.status, err.message
            raise
        finally:
            self.fake.notifier.notify()

    def _accept(self, ctx: Ctx, record: InteractionRecord, attempt: CallbackAttempt) -> Result:
        if any(c.ok for c in record.callbacks if c is not attempt):
            raise ApiError(400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
        deadline = self.fake.interaction_deadline
        if deadline is not None and attempt.at - record.dispatched_at > deadline:
            attempt.expired = True
            raise ApiError(404, UNKNOWN_INTERACTION, "Unknown interaction")

        kind, data = attempt.type, attempt.data or {}
        if record.type == AUTOCOMPLETE:
            allowed = {CB_AUTOCOMPLETE}
        elif record.type == MESSAGE_COMPONENT:
            allowed = {CB_MESSAGE, CB_DEFERRED, CB_DEFERRED_UPDATE, CB_UPDATE, CB_MODAL}
        elif record.type == MODAL_SUBMIT:  # a modal cannot answer with another modal
            allowed = {CB_MESSAGE, CB_DEFERRED}
            if record.source_message is not None:
                allowed |= {CB_DEFERRED_UPDATE, CB_UPDATE}
        else:
            allowed = {CB_MESSAGE, CB_DEFERRED, CB_MODAL}
        if kind not in allowed:
            raise ApiError(
                400, INVALID_FORM_BODY, f"Invalid Form Body: callback type {kind} not valid here"
            )

        message: Message | None = None
        if record.type == MESSAGE_COMPONENT and kind in (CB_UPDATE, CB_DEFERRED_UPDATE):
            return self._accept_update(ctx, record, kind, data)
        if kind == CB_MESSAGE:
            validate_message(data, files=len(ctx.files))
            message = self._new_message(
                record, data, ctx.files, type=20, interaction_meta=self._meta(record)
            )
        elif kind == CB_DEFERRED:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            message = self._new_message(
                record, {}, [], type=20, flags=flags, interaction_meta=self._meta(record)
            )
        elif kind == CB_AUTOCOMPLETE:
            validate_choices(data.get("choices") or [])
            record.choices = list(data.get("choices") or [])
        elif kind == CB_MODAL:
            record.modal = data
        elif kind == CB_UPDATE:
            assert record.source_message is not None
            validate_message(data, editing=True)
            self.state.apply_edit(record.source_message, data, ctx.files)
            record.edits.append(data)
            self.fake.events.message_update(record.source_message)
        if message is not None:
            record.original = message
            self.fake.events.message_create(message)

        if ctx.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        interaction: dict[str, Any] = {
            "id": str(record.id),
            "type": record.type,
            "activity_instance_id": None,
        }
        response: dict[str, Any] = {"interaction": interaction}
        if message is not None:
            interaction.update(
                response_message_id=str(message.id),
                response_message_loading=message.loading,
                response_message_ephemeral=message.ephemeral,
            )
            response["resource"] = {"type": kind, "message": self.state.message_payload(message)}
        return 200, response

    def _accept_update(
        self, ctx: Ctx, record: InteractionRecord, kind: int, data: dict[str, Any]
    ) -> Result:
        """A component's interaction edits the message the component is on (type 7), or
        acknowledges now and edits later through ``@original`` (type 6)."""
        message = record.original
        assert message is not None
        if kind == CB_UPDATE:
            validate_message(data, editing=True)
            self.state.apply_edit(message, data, ctx.files)
            record.edits.append(data)
            self.fake.events.message_update(message)
        if ctx.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        interaction = {"id": str(record.id), "type": record.type, "activity_instance_id": None}
        response: dict[str, Any] = {"interaction": interaction}
        if kind == CB_UPDATE:
            response["resource"] = {"type": kind, "message": self.state.message_payload(message)}
        return 200, response

    # ------------------------------------------------------------ webhooks

    async def execute(self, ctx: Ctx) -> Result:
        """Follow-up message (``interaction.followup.send``)."""
        record = self._record_for_webhook(ctx)
        if not record.acknowledged:
            raise unknown("Webhook", UNKNOWN_WEBHOOK)
        body = ctx.body
        validate_message(body, files=len(ctx.files))
        original = record.original
        if original is not None and original.loading and not original.deleted:
            # Discord: the first follow-up after a deferral replaces the "thinking" message
            self.state.apply_edit(original, body, ctx.files)
            message = original
            self.fake.events.message_update(message)
        else:
            meta = self._meta(
                record, original_response_message_id=str(original.id) if original else None
            )
            message = self._new_message(record, body, ctx.files, interaction_meta=meta)
            record.followups.append(message)
            self.fake.events.message_create(message)
        self.fake.notifier.notify()
        if ctx.query.get("wait") in ("1", "true", "True"):
            return 200, self.state.message_payload(message)
        return 204, None

    async def get_message(self, ctx: Ctx) -> Result:
        record = self._record_for_webhook(ctx)
        return 200, self.state.message_payload(self._webhook_message(ctx, record))

    async def edit_message(self, ctx: Ctx) -> Result:
        record = self._record_for_webhook(ctx)
        message = self._webhook_message(ctx, record)
        validate_message(ctx.body, editing=True)
        self.state.apply_edit(message, ctx.body, ctx.files)
        record.edits.append(ctx.body)
        self.fake.events.message_update(message)
        self.fake.notifier.notify()
        return 200, self.state.message_payload(message)

    async def delete_message(self, ctx: Ctx) -> Result:
        record = self._record_for_webhook(ctx)
        self.fake.delete_message(self._webhook_message(ctx, record))
        return 204, None
