"""The LINE rich menu: its layout from the knowledge's menu, its image drawn here, installed idempotently."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from PIL import Image, ImageDraw, ImageFont

from bot.channels.line.client import LineClient, LineError, LineNotConfigured
from bot.channels.line.render import MAX_LABEL, MAX_MESSAGE_ACTION_TEXT, clip
from bot.config import Settings
from knowledge.model import Knowledge
from knowledge.schema import MenuItem, MessagesFile

log = logging.getLogger(__name__)

# Menus this command made are named with this prefix and a hash of their content; others are left alone.
NAME_PREFIX = "sme-bot menu "
WIDTH = 2500  # LINE's recommended rich menu sizes: 2500x1686 (full) and 2500x843 (half)
FULL_HEIGHT = 1686
HALF_HEIGHT = 843
MAX_AREAS = 20
MAX_IMAGE_BYTES = 1_000_000
# Change when the drawing changes, so a new image gets a new menu.
DRAWING = "1"
# Japanese fonts from Debian's packages (fonts-noto-cjk, fonts-ipafont-gothic); .ci/run installs one.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
)
CELL_COLOURS = ("#0B6E4F", "#138A63")
BORDER = "#FFFFFF"
INK = "#FFFFFF"


class RichMenuError(Exception):
    """The rich menu cannot be made (e.g. no Japanese font); the message says what to do, in Japanese."""


@dataclass(frozen=True)
class Installed:
    """What `sme-bot line richmenu` did."""

    rich_menu_id: str
    name: str
    created: bool  # False: a menu with the same content existed and was reused
    deleted: tuple[str, ...]  # older menus made by this command, removed


def cells(count: int, height: int) -> list[tuple[int, int, int, int]]:
    """Return (x, y, width, height) of `count` buttons: rows of up to three, the last row widened to fill."""
    rows = max(1, math.ceil(count / 3))
    per_row = math.ceil(count / rows)
    result = []
    for row in range(rows):
        in_row = min(per_row, count - row * per_row)
        top, bottom = row * height // rows, (row + 1) * height // rows
        for col in range(in_row):
            left, right = col * WIDTH // in_row, (col + 1) * WIDTH // in_row
            result.append((left, top, right - left, bottom - top))
    return result


def menu_request(messages: MessagesFile) -> dict[str, Any]:
    """Return the rich menu object (without its name): one message action per menu item."""
    items = messages.menu[:MAX_AREAS]
    height = HALF_HEIGHT if len(items) <= 3 else FULL_HEIGHT
    areas = [
        {"bounds": {"x": x, "y": y, "width": w, "height": h},
         "action": {"type": "message", "label": clip(item.label, MAX_LABEL), "text": clip(item.text, MAX_MESSAGE_ACTION_TEXT)}}
        for item, (x, y, w, h) in zip(items, cells(len(items), height))
    ]
    return {"size": {"width": WIDTH, "height": height}, "selected": True, "chatBarText": messages.menu_bar,
            "areas": areas}


def menu_name(menu: dict[str, Any]) -> str:
    """Return the menu's name: the prefix and a hash of its content and drawing."""
    digest = hashlib.sha256((json.dumps(menu, ensure_ascii=False, sort_keys=True) + DRAWING).encode()).hexdigest()
    return NAME_PREFIX + digest[:16]


def find_font(candidates: Sequence[str] = FONT_CANDIDATES) -> Path:
    """Return the first Japanese font installed."""
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise RichMenuError("日本語フォントが見つかりません。`apt-get install fonts-ipafont-gothic`"
                        "（または fonts-noto-cjk）でインストールしてから、もう一度実行してください。")


def draw(menu: dict[str, Any], items: Sequence[MenuItem], font_path: Path) -> bytes:
    """Draw the menu image (PNG): one coloured cell per item with its label, sized to fit."""
    size = menu["size"]
    image = Image.new("RGB", (size["width"], size["height"]), BORDER)
    pen = ImageDraw.Draw(image)
    bounds = [area["bounds"] for area in menu["areas"]]
    # One type size for every label (the largest that fits the tightest cell) looks calm and even.
    size = min(_fitting_size(pen, item.label, font_path, b["width"] - 120, b["height"] // 4)
               for b, item in zip(bounds, items))
    font = ImageFont.truetype(str(font_path), size)
    for i, (b, item) in enumerate(zip(bounds, items)):
        colour = CELL_COLOURS[(i + i // 3) % len(CELL_COLOURS)]
        pen.rectangle((b["x"] + 4, b["y"] + 4, b["x"] + b["width"] - 5, b["y"] + b["height"] - 5), fill=colour)
        centre = (b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
        pen.text(centre, item.label, font=font, fill=INK, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    png = out.getvalue()
    if len(png) > MAX_IMAGE_BYTES:
        raise RichMenuError(f"メニュー画像が {len(png):,} バイトあり、LINE の上限（1MB）を超えています。")
    return png


def _fitting_size(pen: ImageDraw.ImageDraw, text: str, font_path: Path, max_width: int, max_size: int) -> int:
    size = max_size
    while size > 24:
        left, _, right, _ = pen.textbbox((0, 0), text, font=ImageFont.truetype(str(font_path), size))
        if right - left <= max_width:
            break
        size -= 4
    return size


def install(client: LineClient, messages: MessagesFile, font_path: Path | None = None) -> Installed:
    """Create (or reuse) the rich menu for these messages, set it as the default, delete stale ones we made."""
    menu = menu_request(messages)
    name = menu_name(menu)
    existing = client.rich_menus()
    same = [m.rich_menu_id for m in existing if m.name == name]
    png = None
    if same:
        rich_menu_id, created = same[0], False
        log.info("rich menu with the same content exists: %s", rich_menu_id)
    else:
        png = draw(menu, messages.menu, font_path or find_font())  # before creating anything: fail early
        rich_menu_id, created = client.create_rich_menu({**menu, "name": name}), True
        log.info("rich menu created: %s", rich_menu_id)
    # A run that stopped between creating the menu and uploading its image is finished here.
    if created or not client.has_rich_menu_image(rich_menu_id):
        client.upload_rich_menu_image(rich_menu_id, png or draw(menu, messages.menu, font_path or find_font()))
    client.set_default_rich_menu(rich_menu_id)
    stale = tuple(m.rich_menu_id for m in existing if m.name.startswith(NAME_PREFIX) and m.rich_menu_id != rich_menu_id)
    for old in stale:
        client.delete_rich_menu(old)
        log.info("stale rich menu deleted: %s", old)
    return Installed(rich_menu_id, name, created, stale)


def command(settings: Settings, preview: Path | None = None) -> int:
    """Run `sme-bot line richmenu`: install the menu, or with a preview path only draw its image."""
    messages = Knowledge.load(settings.knowledge_dir).messages
    menu = menu_request(messages)
    try:
        if preview is not None:
            preview.write_bytes(draw(menu, messages.menu, find_font()))
            print(f"メニュー画像を {preview} に保存しました（LINE には送っていません）。")
            return 0
        with LineClient.from_settings(settings) as client:
            done = install(client, messages)
    except RichMenuError as exc:
        print(exc, file=sys.stderr)
        return 1
    except LineNotConfigured:
        print("LINE_CHANNEL_ACCESS_TOKEN が設定されていません。チャネルアクセストークンを設定してから実行してください。",
              file=sys.stderr)
        return 1
    except LineError as exc:
        print(f"LINE への登録に失敗しました。時間をおいてもう一度実行してください。（{exc}）", file=sys.stderr)
        return 1
    state = "作成し" if done.created else "同じ内容のものがあったため再利用し"
    print(f"リッチメニュー（{len(menu['areas'])}項目）を{state}、既定のメニューに設定しました。ID: {done.rich_menu_id}")
    if done.deleted:
        print(f"以前に作成した古いリッチメニューを {len(done.deleted)} 件削除しました。")
    return 0
