"""The packaged demo catalog, and the topic relations and texts its synthetic users use.

The catalog (``catalog.jsonl``) holds about 300 items in English and Simplified Chinese; an
item's first category is its topic, the second its subtopic. :data:`RELATED`,
:data:`QUERIES` and :data:`COMMENTS` are what :mod:`pulserec.demo.history` draws on when it
makes sessions drift between topics, searches and comments.
"""

from __future__ import annotations

import json
from importlib import resources

from pulserec.types import Item

CATALOG_FILE = "catalog.jsonl"
"""Name of the packaged catalog inside ``pulserec.demo``."""

RELATED: dict[str, tuple[str, ...]] = {
    "music": ("books", "tech", "travel"),
    "outdoors": ("travel", "photography", "gardening"),
    "cooking": ("gardening", "travel", "tea"),
    "tech": ("books", "finance", "photography"),
    "football": ("outdoors", "tech"),
    "gardening": ("cooking", "outdoors", "photography"),
    "photography": ("travel", "outdoors", "tech"),
    "travel": ("photography", "cooking", "outdoors", "tea"),
    "finance": ("tech", "books"),
    "books": ("tech", "calligraphy", "music"),
    "tea": ("calligraphy", "cooking", "travel"),
    "calligraphy": ("tea", "books"),
}
"""Topics a session plausibly drifts to from each demo topic."""

QUERIES: dict[str, dict[str, tuple[str, ...]]] = {
    "music": {
        "en": ("jazz piano trio albums", "alto saxophone for beginners",
               "vinyl turntable with preamp", "walking bass lesson"),
        "zh": ("爵士乐 入门 专辑", "萨克斯 初学者", "黑胶唱机", "爵士钢琴 和弦"),
    },
    "outdoors": {
        "en": ("waterproof hiking boots", "lightweight backpacking tent",
               "day hike first aid kit", "best ridge trails"),
        "zh": ("徒步路线 新手", "登山鞋 防水", "露营帐篷 超轻", "户外 安全"),
    },
    "cooking": {
        "en": ("easy sourdough bread", "carbon steel wok", "quick weeknight dinner",
               "how to fold dumplings"),
        "zh": ("红烧肉 做法", "包饺子", "麻婆豆腐", "戚风蛋糕 烤箱温度"),
    },
    "tech": {
        "en": ("python type hints tutorial", "how language models work",
               "mechanical keyboard for programming", "recommender systems explained"),
        "zh": ("大语言模型 原理", "Python 入门", "推荐系统", "机械键盘 程序员"),
    },
    "football": {
        "en": ("derby match report", "high press tactics", "football boots firm ground",
               "transfer deadline day"),
        "zh": ("足球 德比 绝杀", "足球 战术 逼抢", "足球鞋", "足球 集锦"),
    },
    "gardening": {
        "en": ("grow tomatoes on a balcony", "low light houseplants", "home compost",
               "pruning roses"),
        "zh": ("阳台 种番茄", "室内绿植 耐阴", "堆肥", "园艺工具"),
    },
    "photography": {
        "en": ("mirrorless camera for travel", "35mm prime lens",
               "milky way photography", "street photography tips"),
        "zh": ("微单相机", "定焦镜头 人像", "星空摄影", "摄影 光圈 快门"),
    },
    "travel": {
        "en": ("japan rail itinerary", "southeast asia budget travel", "yunnan travel",
               "carry on travel backpack"),
        "zh": ("日本 自由行", "云南 旅行", "东南亚 穷游", "登机 背包"),
    },
    "finance": {
        "en": ("index funds for beginners", "emergency fund", "budget planner",
               "pay off credit card debt"),
        "zh": ("指数基金 定投", "记账 预算", "应急资金", "复利 养老"),
    },
    "books": {
        "en": ("best science fiction novels", "cyberpunk books", "space opera series",
               "sci-fi short stories"),
        "zh": ("科幻小说 推荐", "赛博朋克 小说", "中国科幻", "科幻 短篇"),
    },
    "tea": {
        "en": ("longjing green tea", "gongfu tea brewing", "clay teapot", "aged pu'er"),
        "zh": ("龙井 绿茶", "功夫茶", "紫砂壶", "普洱 生茶"),
    },
    "calligraphy": {
        "en": ("chinese calligraphy set", "calligraphy for beginners", "rice paper",
               "brush strokes practice"),
        "zh": ("书法 入门", "文房四宝", "毛笔 楷书", "宣纸"),
    },
}  # fmt: skip
"""Search queries users type, per topic and language."""

COMMENTS: dict[tuple[str, bool, bool], tuple[str, ...]] = {
    ("en", True, True): (
        "Arrived quickly and works exactly as described.",
        "Great quality for the price, very happy with it.",
        "Bought this as a gift and it was a hit.",
        "Solid build, would buy again.",
    ),
    ("en", False, True): (
        "Broke after a week, disappointed.",
        "Not worth the money, looks cheaper than the photos.",
        "Arrived late and the box was damaged.",
    ),
    ("en", True, False): (
        "Really clear explanation, thanks!",
        "Loved this, exactly what I was looking for.",
        "Saved for later, super useful.",
        "Great piece, more like this please.",
    ),
    ("en", False, False): (
        "Too long and not very useful.",
        "Clickbait title, nothing new here.",
        "Not for me, boring.",
    ),
    ("zh", True, True): (
        "发货很快，质量很好，和描述一致。",
        "性价比很高，非常满意。",
        "买来送人，对方很喜欢。",
        "做工扎实，会回购。",
    ),
    ("zh", False, True): (
        "用了一周就坏了，很失望。",
        "不值这个价，实物比图片差。",
        "物流太慢，包装也破了。",
    ),
    ("zh", True, False): (
        "讲得很清楚，谢谢分享！",
        "太喜欢了，正是我想找的内容。",
        "收藏了，非常实用。",
        "写得好，希望多出这类内容。",
    ),
    ("zh", False, False): (
        "太长了，没什么干货。",
        "标题党，没有新东西。",
        "不感兴趣，有点无聊。",
    ),
}
"""Short comments keyed by (language, positive, about a product)."""


# ------------------------------------------------------------------------------- catalog
def load_demo_items() -> list[Item]:
    """Read the packaged demo catalog.

    Returns
    -------
    list of Item
        About 300 items in English and Simplified Chinese, in file order. The first
        category of each item is its topic, the second its subtopic.
    """
    text = resources.files("pulserec.demo").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    items = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{CATALOG_FILE}:{line_no}: not valid JSON ({exc.msg})") from None
        created = row.get("created_at")
        items.append(
            Item(
                item_id=row["item_id"],
                title=row.get("title", ""),
                text=row.get("text", ""),
                categories=tuple(row.get("categories", ())),
                attributes=dict(row.get("attributes", {})),
                created_at=None if created is None else float(created),
            )
        )
    return items


def topic_of(item: Item) -> str:
    """The topic of a demo item: its first category (``""`` when it has none)."""
    return item.categories[0] if item.categories else ""


def _subtopic(item: Item) -> str | None:
    return item.categories[1] if len(item.categories) > 1 else None
