"""Annotation guidelines: safe rendering and versioning.

Instructions are written in markdown by admins and read by annotators, who
acknowledge one *version*. Two guarantees follow:

- Rendering is safe: markdown may carry raw HTML, so its output goes through
  nh3 with a strict allow-list (no scripts, no event handlers, no
  ``javascript:`` or ``data:`` URLs) and every link gets
  ``rel="noopener nofollow"``.
- A version means one text: any change of title, body or example images
  bumps ``version`` and archives the text being replaced in
  InstructionsRevision, in the same transaction, so an acknowledgement keeps
  meaning what was read. Saving without a change bumps nothing.
"""

from __future__ import annotations

import markdown
import nh3
from django.db import transaction

from ..models import Instructions, InstructionsRevision

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "def_list", "abbr", "sane_lists", "nl2br"]

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(ALLOWED_URL_SCHEMES),
    link_rel="noopener nofollow",
)


def render_markdown(text: str) -> str:
    """Markdown to HTML that is safe to mark safe: sanitized after rendering, never before."""
    html = markdown.markdown(
        text or "",
        extensions=MARKDOWN_EXTENSIONS,
        extension_configs={"tables": {"use_align_attribute": True}},
        output_format="html",
    )
    return _cleaner.clean(html)


@transaction.atomic
def save_instructions(instructions: Instructions, *, examples_changed: bool = False) -> bool:
    """Store `instructions` as edited in memory; returns whether a new version was made.

    A new row starts at version 1. An existing one is compared with what the
    database holds (locked, so two editors cannot both archive the same
    version): when the title or body differ, or `examples_changed` says the
    caller added, changed or removed example images, the stored text is
    archived and the version goes up by one. Otherwise nothing is written.
    """
    if instructions.pk is None:
        instructions.version = 1
        instructions.save()
        return True
    stored = Instructions.objects.select_for_update().get(pk=instructions.pk)
    if not examples_changed and (stored.title, stored.body) == (instructions.title, instructions.body):
        instructions.version = stored.version
        return False
    InstructionsRevision.objects.create(
        instructions=stored, version=stored.version, title=stored.title, body=stored.body
    )
    instructions.version = stored.version + 1
    instructions.save()
    return True


def create_instructions(*, title: str, body: str, organization) -> Instructions:
    instructions = Instructions(title=title, body=body, organization=organization)
    save_instructions(instructions)
    return instructions


def update_instructions(
    instructions: Instructions, *, title: str | None = None, body: str | None = None,
    examples_changed: bool = False,
) -> bool:
    """Change title and/or body (None keeps the current value); see `save_instructions`."""
    if title is not None:
        instructions.title = title
    if body is not None:
        instructions.body = body
    return save_instructions(instructions, examples_changed=examples_changed)
