"""The console tests' browser (one per module) and tabs (a fresh context per test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.console.support import PHONE, Tab, launch, open_tab


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    yield from open_tab(browser)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Tab]:
    yield from open_tab(browser, **PHONE)
