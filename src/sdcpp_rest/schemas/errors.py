"""The one error body every error answer has, as a pydantic model for the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sdcpp_rest.errors import ErrorCode


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="What went wrong and, where it can, what to change.")
    code: ErrorCode = Field(description="Stable machine-readable code; the status alone can be ambiguous.")
    status_code: int = Field(ge=400, le=599, description="The HTTP status of the answer, repeated.")
    request_id: str = Field(description="Also in the X-Request-ID header; the server log names it.")
    timestamp: int = Field(description="Unix seconds.")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorBody
