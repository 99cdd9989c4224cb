"""Wire schemas of the prompt-style endpoints (/api/styles)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_TEXT = 8192  # styles/records.py: MAX_STYLE_TEXT (schemas sit below the styles package)
_PROMPT = (
    "Text a request naming the style adds to its prompt: `{prompt}` marks where the request's own "
    "text goes; without it the style's text is appended after a comma (AUTOMATIC1111's rule)."
)


class StyleBody(BaseModel):
    """A style's texts (PUT /api/styles/{name})."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = Field("", max_length=_TEXT, description=_PROMPT)
    negative_prompt: str = Field(
        "", max_length=_TEXT, description="The same for the negative prompt (`{prompt}` is the request's)."
    )
    shared: bool = Field(
        False,
        description="A shared style (everyone's; admins only) rather than the caller's own. Without "
        "authentication every style is shared.",
    )


class NewStyleBody(StyleBody):
    """A new style (POST /api/styles)."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=64,
        description="1 to 64 letters, digits, spaces and ._-()&+'!#, starting with a letter or digit; "
        "unique among the owner's styles. A user's own style of a shared style's name shadows it.",
    )


class StylePublic(BaseModel):
    name: str
    prompt: str
    negative_prompt: str
    shared: bool = Field(description="Everyone's (an admin's) rather than one user's.")
    owner: str | None = Field(description="The owning user's id; null for a shared style.")
    usable: bool = Field(
        description="A request of the caller naming this style applies this one: false for a shared "
        "style the caller's own shadows, and for another user's (which admins see)."
    )
    created_at: int
    updated_at: int


class StylesReply(BaseModel):
    styles: list[StylePublic]


class SkippedStyle(BaseModel):
    name: str
    reason: str


class StyleImportReply(BaseModel):
    created: list[str] = Field(description="Names of the styles added.")
    updated: list[str] = Field(description="Names of the existing styles replaced (overwrite=true).")
    skipped: list[SkippedStyle] = Field(description="Rows left out, with the reason.")
