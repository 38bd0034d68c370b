"""Provider clients behind one interface; each maps its own codes onto the shared errors."""

from __future__ import annotations

import aiohttp

from ..config import Settings
from .base import Capabilities, Provider, TaskStatus, VaryRequest
from .http import RequestObserver
from .midapi import MidapiClient
from .vtrix import VtrixClient

__all__ = ["Capabilities", "Provider", "TaskStatus", "VaryRequest", "make_provider"]


def make_provider(
    settings: Settings, session: aiohttp.ClientSession, observer: RequestObserver | None = None
) -> Provider:
    """The client for `MJ_PROVIDER`, over the one shared session."""
    if settings.mj_provider == "midapi":
        return MidapiClient(
            session,
            api_key=settings.midapi_api_key.get(),
            base_url=settings.midapi_base_url,
            index_base=settings.midapi_image_index_base,
            timeout_s=settings.provider_timeout_s,
            observer=observer,
        )
    return VtrixClient(
        session,
        api_key=settings.vtrix_api_key.get(),
        base_url=settings.vtrix_base_url,
        submit_path=settings.vtrix_submit_path,
        status_path=settings.vtrix_status_path,
        imagine_model=settings.vtrix_imagine_model,
        timeout_s=settings.provider_timeout_s,
        observer=observer,
    )
