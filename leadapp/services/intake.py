"""POST /leads from body to stored lead: bot defence, validation, idempotency, consent, storage.

The order is the contract's: a honeypot hit is answered before anything is judged; an
idempotent replay needs no fresh challenge; a challenge is used up only by a request
that is otherwise valid; and, in conceal mode, an anonymous duplicate looks like a success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from marshmallow import ValidationError

from leadapp.errors import DuplicateLead, ValidationFailed, describe_fields
from leadapp.models.form import DEFAULT_FORM
from leadapp.schemas import LeadCreateSchema
from leadapp.schemas.attribution import attribution_columns
from leadapp.schemas.form import load_custom_values
from leadapp.services import challenge, consent, forms, idempotency, leads, spam
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.services.forms import Form
from leadapp.services.leads import CreatedLead
from leadapp.timeutil import utcnow

create_schema = LeadCreateSchema()


@dataclass(frozen=True)
class Caller:
    """Who sent a POST /leads: their API key (or None), address and Idempotency-Key headers."""

    api_key: ApiKeyIdentity | None
    ip: str
    idempotency_keys: Sequence[str] = ()

    @property
    def scope(self) -> str:
        """What an idempotency key is scoped to: the API key, or the anonymous client's IP."""
        return f"key:{self.api_key.id}" if self.api_key else f"ip:{self.ip}"


def _load(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The valid fields, normalized, and the messages of the invalid ones."""
    try:
        return create_schema.load(body), {}
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {}
        valid = error.valid_data if isinstance(error.valid_data, dict) else {}
        return valid, dict(messages)  # type: ignore[arg-type]


def _challenge_required(caller: Caller, form: Form) -> bool:
    """Anonymous callers solve the proof of work when the form or LEADAPP_CHALLENGE asks."""
    return caller.api_key is None and forms.challenge_required(form)


def _decoy(
    fields: Mapping[str, Any],
    caller: Caller,
    form: Form,
    raw: Mapping[str, Any] | None = None,
    custom: Mapping[str, Any] | None = None,
) -> CreatedLead:
    """The answer that looks like a stored lead but stores nothing.

    Valid fields appear normalized, as a real lead's would; a honeypot hit's invalid
    ones are echoed as sent (strings only), since a real answer would have had them.
    """
    shown = {**(raw or {}), **fields}
    now = utcnow()
    consent_out = None
    if fields.get("consent") is True:
        # A real lead's consent is given at its creation time: the same instant.
        consent_out = {"given_at": now, "text": forms.consent_text(form)}
    attribution = attribution_columns(fields.get("attribution"), None)
    return CreatedLead(
        spam.decoy_lead(
            shown,
            caller.ip,
            attribution,
            consent_out,
            now,
            form=form.slug,
            custom_fields=custom,
            double_opt_in=form.double_opt_in,
        )
    )


def _custom_values(
    form: Form, body: Mapping[str, Any], errors: dict[str, list[str]]
) -> dict[str, Any]:
    """The lead's `fields`, checked by its form's definitions; errors join `errors`."""
    values, messages = load_custom_values(form.fields, body.get("fields"))
    errors.update(messages)
    return values


def _fingerprinted(fields: Mapping[str, Any], form: Form, custom: Mapping[str, Any]) -> dict:
    """What an idempotency key's body is compared by: the fields, the form, the custom values.

    The default form's plain body stays as before forms existed, so keys stored then replay.
    """
    compared = dict(fields)
    if form.slug != DEFAULT_FORM:
        compared["form"] = form.slug
    if custom:
        compared["fields"] = dict(custom)
    return compared


def submit(body: Mapping[str, Any], caller: Caller, form: Form | None = None) -> CreatedLead:
    """Turn one POST body into a lead of `form` (default: the default form), or raise a problem.

    The form's challenge and consent text (with the site-wide policies) are in force, its
    custom fields are checked and stored encrypted, and its `one_lead_per_ip` decides
    whether the lead's IP takes part in the IP's uniqueness.
    """
    form = form or forms.default_form()
    authenticated = caller.api_key is not None
    if spam.is_honeypot_hit(body, authenticated=authenticated):
        spam.record(spam.HONEYPOT)
        custom = load_custom_values(form.fields, body.get("fields"))[0]
        return _decoy(_load(body)[0], caller, form, raw=body, custom=custom)
    key = idempotency.parse_key(caller.idempotency_keys)
    fields, errors = _load(body)
    custom = _custom_values(form, body, errors)
    text = forms.consent_text(form)
    if "consent" not in errors and (messages := consent.check(fields.get("consent"), text)):
        errors["consent"] = messages

    claim = None
    if key is not None and not errors:
        claim = idempotency.IdempotencyClaim.of(
            caller.scope, key, _fingerprinted(fields, form, custom)
        )
        # Otherwise the INSERT finds a replay itself (the database refuses it), so the
        # happy path costs no extra query; a challenged replay must not spend a solution.
        if _challenge_required(caller, form):
            replay = leads.replayed_lead(claim)
            if replay is not None:
                return CreatedLead(replay, replayed=True)

    solution = None
    if _challenge_required(caller, form) and "challenge" not in errors:
        try:
            solution = challenge.verify(fields.get("challenge"))
        except challenge.ChallengeRefused as refused:
            errors.update(refused.errors or {})
    if errors:
        if "challenge" in errors and _challenge_required(caller, form):
            spam.record(spam.CHALLENGE)
        raise ValidationFailed(
            "The request has invalid fields: " + describe_fields(errors) + ".", errors=errors
        )

    ip_address = leads.lead_ip_address(
        fields.get("ip_address"), authenticated=authenticated, connection_ip=caller.ip
    )
    if solution is not None:
        try:
            challenge.use(solution)
        except challenge.ChallengeRefused:
            spam.record(spam.CHALLENGE)
            raise
    attribution = attribution_columns(
        fields.get("attribution"), caller.api_key.name if caller.api_key else None
    )
    try:
        return leads.create_lead(
            fields,
            ip_address,
            attribution=attribution,
            consent=consent.record(fields.get("consent"), text),
            idempotency=claim,
            form=form.slug,
            custom_fields=custom,
            ip_unique=form.one_lead_per_ip,
            double_opt_in=form.double_opt_in,
        )
    except DuplicateLead as duplicate:
        return _conceal_or_raise(duplicate, fields, caller, form, custom)


def _conceal_or_raise(
    duplicate: DuplicateLead,
    fields: Mapping[str, Any],
    caller: Caller,
    form: Form,
    custom: Mapping[str, Any],
) -> CreatedLead:
    """In conceal mode, an anonymous caller can't tell a known email or phone from a new one.

    The resubmission is already counted. Where the caller's own IP conflicts too, the
    answer names the IP only, so it is the same whether or not the email is known.
    """
    if caller.api_key is not None or current_app.config["LEADAPP_DUPLICATES_ANONYMOUS"] != (
        "conceal"
    ):
        raise duplicate
    conflicts = list(duplicate.errors or {})
    if "ip_address" in conflicts:
        if conflicts == ["ip_address"]:
            raise duplicate
        raise leads.duplicate_problem(["ip_address"]) from None
    return _decoy(fields, caller, form, custom=custom)
