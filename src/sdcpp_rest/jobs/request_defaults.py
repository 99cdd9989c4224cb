"""A request's size, steps, CFG scale, sampler and scheduler, where it leaves them out, from its model
family's recommended settings (schemas/recommended.py): an SD1.5 checkpoint runs 512x512, not the
API's 1024x1024. A field the request gives (or its model set's defaults give) always wins; a family
the server does not know keeps the API's defaults.
"""

from __future__ import annotations

from typing import TypeVar

from sdcpp_rest.schemas.generate import Img2ImgRequest, Text2ImgRequest
from sdcpp_rest.schemas.recommended import RECOMMENDED_FIELDS, SIZE_FIELDS, recommended_for

Request = TypeVar("Request", bound=Text2ImgRequest)


def with_recommended(request: Request, family: str | None) -> Request:
    """`request` with its family's value in every recommended field it did not set."""
    settings = recommended_for(family)
    if settings is None:
        return request
    given = request.model_fields_set
    # The image modes take their size from the input image unless the request gives one.
    skipped = SIZE_FIELDS if isinstance(request, Img2ImgRequest) else ()
    update = {
        name: getattr(settings, name)
        for name in RECOMMENDED_FIELDS
        if name not in given and name not in skipped
    }
    # The table's values meet the request's ranges (tests/unit/test_recommended.py), so no
    # validation again: a copy keeps the decoded request as it is.
    return request.model_copy(update=update) if update else request
