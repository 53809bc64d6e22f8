"""The custom menu follows WeChat's rules (3 top buttons, 5 sub-buttons, byte limits) and uses real actions."""

from __future__ import annotations

import pytest

from bots.wechat.menu import MenuError, build_menu, validate_menu
from handlers import build_router


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_default_menu_is_valid_and_every_key_is_a_routed_action(lang: str) -> None:
    menu = build_menu(lang)
    actions = build_router().actions
    keys = [b["key"] for top in menu["button"] for b in top.get("sub_button", [top])]
    assert keys and all(k.split(":", 1)[0] in actions for k in keys)


def test_rule_breaking_menus_are_refused_with_the_button_named() -> None:
    click = {"type": "click", "name": "x", "key": "help"}
    with pytest.raises(MenuError, match="1 to 3"):
        validate_menu({"button": [click] * 4})
    with pytest.raises(MenuError, match="1 to 5"):
        validate_menu({"button": [{"name": "more", "sub_button": [click] * 6}]})
    with pytest.raises(MenuError, match="top button 1"):
        validate_menu({"button": [{**click, "name": "名字太长了超过十六个字节"}]})
    with pytest.raises(MenuError, match="view"):
        validate_menu({"button": [{"type": "view", "name": "x", "url": "javascript:alert(1)"}]})
