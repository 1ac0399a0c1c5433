"""`sme-bot line richmenu`: the menu from messages.yaml, its drawn image, installed idempotently on a fake LINE."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from linebot.v3.messaging import RichMenuRequest
from PIL import Image
from pytest_httpserver import HTTPServer

from bot import cli
from bot.channels.line.client import DEFAULT_DATA_API_BASE_URL, LineClient, LineUnavailable, data_api_base_url
from bot.channels.line.render import utf16_len
from bot.channels.line.richmenu import FONT_CANDIDATES, NAME_PREFIX, cells, command, install, menu_name, menu_request
from bot.config import Settings
from knowledge.model import Knowledge
from line_fake import TOKEN, FakeLine, line_settings

HAS_JAPANESE_FONT = any(Path(p).is_file() for p in FONT_CANDIDATES)
needs_font = pytest.mark.skipif(not HAS_JAPANESE_FONT, reason="no Japanese font installed (apt-get install fonts-ipafont-gothic; .ci/run does)")


@pytest.fixture
def line(httpserver: HTTPServer) -> FakeLine:
    return FakeLine(httpserver)


@pytest.fixture
def client(httpserver: HTTPServer) -> LineClient:
    return LineClient(TOKEN, httpserver.url_for("/").rstrip("/"), httpserver.url_for("/").rstrip("/"))


def test_menu_has_one_area_per_item_within_the_image(kb: Knowledge) -> None:
    menu = menu_request(kb.messages)
    parsed = RichMenuRequest.from_dict(menu)
    assert parsed.to_dict() == {**menu}
    assert utf16_len(menu["chatBarText"]) <= 14
    size = menu["size"]
    assert size["width"] == 2500 and size["height"] in (843, 1686)
    assert [a["action"]["text"] for a in menu["areas"]] == [m.text for m in kb.messages.menu]
    assert all(utf16_len(a["action"]["label"]) <= 20 for a in menu["areas"])
    covered = sum(a["bounds"]["width"] * a["bounds"]["height"] for a in menu["areas"])
    assert covered == size["width"] * size["height"], "areas tile the whole image without overlap"


@pytest.mark.parametrize("count", range(1, 14))
def test_cells_tile_the_image_for_any_number_of_items(count: int) -> None:
    height = 843 if count <= 3 else 1686
    boxes = cells(count, height)
    assert len(boxes) == count
    assert sum(w * h for _, _, w, h in boxes) == 2500 * height
    assert all(x + w <= 2500 and y + h <= height for x, y, w, h in boxes)


@needs_font
def test_install_creates_uploads_and_sets_the_default_menu(kb: Knowledge, line: FakeLine, client: LineClient) -> None:
    done = install(client, kb.messages)
    assert done.created and done.name.startswith(NAME_PREFIX)
    [create] = line.requests("/v2/bot/richmenu")
    request = RichMenuRequest.from_json(create.get_data(as_text=True))
    assert request.name == done.name and request.chat_bar_text == kb.messages.menu_bar
    [upload] = line.requests(f"/v2/bot/richmenu/{done.rich_menu_id}/content")
    assert upload.headers["Content-Type"] == "image/png"
    png = upload.get_data()
    assert len(png) <= 1_000_000
    image = Image.open(io.BytesIO(png))
    assert image.size == (request.size.width, request.size.height)
    assert line.default_menu == done.rich_menu_id


@needs_font
def test_install_again_reuses_the_same_menu_and_deletes_stale_ones_it_made(kb: Knowledge, line: FakeLine,
                                                                          client: LineClient) -> None:
    line.rich_menus["richmenu-old"] = {**menu_request(kb.messages), "name": NAME_PREFIX + "0123456789abcdef",
                                       "richMenuId": "richmenu-old", "selected": True}
    line.rich_menus["richmenu-campaign"] = {**menu_request(kb.messages), "name": "秋のキャンペーン",
                                            "richMenuId": "richmenu-campaign", "selected": False}
    first = install(client, kb.messages)
    assert first.deleted == ("richmenu-old",)
    second = install(client, kb.messages)
    assert not second.created and second.rich_menu_id == first.rich_menu_id and second.deleted == ()
    assert len(line.requests("/v2/bot/richmenu")) == 1, "created once"
    assert len(line.requests(f"/v2/bot/richmenu/{first.rich_menu_id}/content")) == 1, "image uploaded once"
    assert set(line.rich_menus) == {first.rich_menu_id, "richmenu-campaign"}, "a menu made by hand is left alone"


@needs_font
def test_a_menu_left_without_its_image_gets_it_on_the_next_run(kb: Knowledge, line: FakeLine, client: LineClient) -> None:
    line.fail(f"/v2/bot/richmenu/richmenu-{1:032x}/content", 500)
    with pytest.raises(LineUnavailable):
        install(client, kb.messages)
    done = install(client, kb.messages)
    assert not done.created
    assert line.default_menu == done.rich_menu_id and done.rich_menu_id in line.images


@needs_font
def test_command_sends_every_call_to_the_configured_host_including_the_data_api(
        kb: Knowledge, line: FakeLine, httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = line_settings(f"sqlite:///{tmp_path / 'x.db'}", httpserver)
    assert command(settings) == 0
    assert any(p.endswith("/content") for p in line.paths()), "the image upload reached the fake, not api-data.line.me"
    assert "既定のメニューに設定しました" in capsys.readouterr().out


@needs_font
def test_preview_only_draws_the_image(tmp_path: Path, line: FakeLine) -> None:
    out = tmp_path / "menu.png"
    assert command(Settings(), preview=out) == 0
    assert Image.open(out).size[0] == 2500
    assert line.paths() == []


def test_command_without_token_says_what_to_set(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN", raising=False)
    assert cli.main(["line", "richmenu"]) == 1
    assert "LINE_CHANNEL_ACCESS_TOKEN" in capsys.readouterr().err


def test_data_api_host_follows_the_api_host_unless_set() -> None:
    assert data_api_base_url(Settings()) == DEFAULT_DATA_API_BASE_URL
    assert data_api_base_url(Settings(line_api_base_url="http://127.0.0.1:8081")) == "http://127.0.0.1:8081"
    assert data_api_base_url(Settings(line_api_base_url="http://a", line_data_api_base_url="http://b")) == "http://b"


def test_menu_name_changes_with_the_menu(kb: Knowledge) -> None:
    menu = menu_request(kb.messages)
    changed = json.loads(json.dumps(menu))
    changed["areas"][0]["action"]["text"] = "別の文言"
    assert menu_name(menu) == menu_name(json.loads(json.dumps(menu))) != menu_name(changed)
