"""A seeded synthetic course catalog and labelled queries for the search benchmark (issue 6).

:func:`catalog` makes ``n`` published courses (plus a few unpublished ones) from 40 topics: Chinese titles
("零基础Python数据分析实战"), English ones ("Mastering Watercolor Painting"), mixed ones ("Excel 高效办公技巧"),
with tags, a category, a one-line summary and a description of 150–900 characters assembled from
topic-specific sentence templates, so term frequencies look like a real catalog's: a few words in every
course ("课程", "course"), topic words in a few hundred, and title phrases in a handful. The same seed
always gives the same catalog.

Labelled queries (for the typo measurement):

- :data:`HAND_LABELLED`: 24 queries a person would type, with typos or not, each naming the one course it
  is looking for among the :data:`ANCHORS` (distinctive courses added to every generated catalog);
- :func:`typo_queries`: English queries made of one to three title words of a random course with one
  keyboard-style edit (deletion, transposition, substitution or insertion) in one word of 5+ letters;
  a result is relevant when its title has all the words the user meant. :func:`clean_queries` are the
  same queries without the typo, to show that typo matching costs nothing when there is no typo.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

from core.catalog import Course, DripMode, Price
from core.money import Money
from core.tokens import STOP_WORDS

__all__ = ["ANCHORS", "HAND_LABELLED", "Query", "catalog", "clean_queries", "query_mix", "typo_queries"]


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    kind: str
    relevant: frozenset[int] = frozenset()  # course ids; empty: not labelled (latency only)


# Two lines per topic: English name | Chinese name | category (en) | category (zh), then its skills (en | zh).
_TOPIC_TABLE = """
Python | Python编程 | Programming | 编程
    variables, functions, scraping, automation, pandas | 变量、函数、爬虫、自动化办公、面向对象
Data Analysis | 数据分析 | Data | 数据
    pivot tables, visualization, statistics, dashboards, SQL | 数据清洗、可视化、统计、报表、指标体系
Machine Learning | 机器学习 | Data | 数据
    regression, classification, clustering, features, models | 回归、分类、聚类、特征工程、模型评估
Deep Learning | 深度学习 | Data | 人工智能
    neural networks, PyTorch, transformers, vision, training | 神经网络、卷积网络、大模型、图像识别、训练技巧
Excel | Excel办公 | Office | 职场
    formulas, charts, macros, shortcuts, VLOOKUP | 函数公式、图表、数据透视表、快捷键、宏
Photography | 摄影 | Photography | 摄影
    composition, lighting, exposure, portraits, editing | 构图、用光、曝光、人像、后期修图
Smartphone Photography | 手机摄影 | Photography | 摄影
    framing, night shots, apps, street, food photos | 取景、夜景、修图软件、街拍、美食摄影
Watercolor | 水彩画 | Art | 绘画
    washes, color mixing, landscapes, flowers, brushes | 晕染、调色、风景、花卉、笔法
Sketching | 素描 | Art | 绘画
    perspective, shading, proportions, still life, portraits | 透视、明暗、比例、静物、人物
Guitar | 吉他 | Music | 音乐
    chords, strumming, fingerstyle, scales, songs | 和弦、扫弦、指弹、音阶、弹唱
Piano | 钢琴 | Music | 音乐
    sight reading, scales, chords, pedaling, classical pieces | 识谱、音阶、和弦、踏板、古典曲目
Singing | 声乐 | Music | 音乐
    breathing, pitch, range, resonance, performance | 气息、音准、音域、共鸣、舞台表现
Public Speaking | 演讲 | Communication | 沟通
    storytelling, nerves, slides, body language, Q&A | 讲故事、克服紧张、幻灯片、肢体语言、即兴表达
Negotiation | 谈判 | Business | 商业
    anchoring, concessions, BATNA, contracts, salary | 锚定、让步、底线、合同、薪资谈判
Personal Finance | 个人理财 | Finance | 理财
    budgeting, saving, debt, insurance, index funds | 记账、储蓄、还贷、保险、指数基金
Investing | 投资 | Finance | 理财
    stocks, bonds, portfolios, valuation, risk | 股票、债券、资产配置、估值、风险控制
Marketing | 营销 | Business | 商业
    branding, funnels, copywriting, SEO, campaigns | 品牌、转化、文案、私域流量、活动策划
Short Video | 短视频 | Media | 新媒体
    scripts, editing, hooks, algorithms, live streaming | 脚本、剪辑、开头、算法推荐、直播带货
Copywriting | 文案写作 | Writing | 写作
    headlines, hooks, storytelling, editing, tone | 标题、开头、故事、改稿、语感
Fiction Writing | 小说写作 | Writing | 写作
    plot, characters, dialogue, pacing, revision | 情节、人物、对话、节奏、修改
English Speaking | 英语口语 | Languages | 语言
    pronunciation, fluency, idioms, small talk, interviews | 发音、流利度、习语、日常对话、面试英语
IELTS | 雅思 | Languages | 语言
    listening, reading, writing, speaking, vocabulary | 听力、阅读、写作、口语、词汇
Japanese | 日语 | Languages | 语言
    hiragana, grammar, kanji, conversation, JLPT | 五十音、语法、汉字、会话、能力考
Mandarin | 汉语 | Languages | 语言
    tones, pinyin, characters, conversation, HSK | 声调、拼音、汉字、会话、汉语水平考试
Cooking | 家常菜 | Food | 美食
    knife skills, stir fry, sauces, meal prep, baking | 刀工、爆炒、酱汁、备餐、烘焙
Baking | 烘焙 | Food | 美食
    bread, sourdough, cakes, pastry, cookies | 面包、酸面包、蛋糕、酥皮、饼干
Tea | 茶艺 | Lifestyle | 生活
    brewing, oolong, pu-erh, ceremony, tasting | 冲泡、乌龙茶、普洱、茶席、品鉴
Fitness | 健身 | Health | 健康
    strength, mobility, HIIT, nutrition, recovery | 力量训练、拉伸、燃脂、饮食、恢复
Yoga | 瑜伽 | Health | 健康
    breathing, poses, flexibility, meditation, balance | 呼吸、体式、柔韧、冥想、平衡
Mindfulness | 正念 | Health | 健康
    meditation, stress, sleep, focus, habits | 冥想、减压、睡眠、专注、习惯
Parenting | 育儿 | Family | 家庭
    sleep, tantrums, reading, screen time, school | 睡眠、情绪、亲子阅读、屏幕时间、幼小衔接
Productivity | 时间管理 | Career | 职场
    planning, focus, habits, notes, email | 计划、专注、习惯、笔记、邮件
Leadership | 领导力 | Career | 职场
    feedback, delegation, one-on-ones, hiring, culture | 反馈、授权、一对一、招聘、团队文化
Project Management | 项目管理 | Career | 职场
    scope, Agile, Scrum, risks, stakeholders | 范围、敏捷、迭代、风险、干系人
Web Development | 前端开发 | Programming | 编程
    HTML, CSS, JavaScript, React, APIs | 网页、样式、脚本、组件、接口
Kubernetes | 容器编排 | Programming | 编程
    pods, deployments, Helm, networking, monitoring | 容器、部署、集群、网络、监控
UX Design | 交互设计 | Design | 设计
    wireframes, prototypes, user research, Figma, usability | 线框图、原型、用户研究、设计系统、可用性
Calligraphy | 书法 | Art | 书画
    brush strokes, regular script, running script, ink, composition | 笔画、楷书、行书、墨法、章法
Gardening | 园艺 | Lifestyle | 生活
    soil, seeds, pruning, balcony, succulents | 土壤、播种、修剪、阳台种植、多肉
Psychology | 心理学 | Science | 心理
    emotions, habits, relationships, motivation, biases | 情绪、习惯、亲密关系、动机、认知偏差
"""


def _topics() -> list[tuple[str, str, str, str, list[str], list[str]]]:
    lines = [line for line in _TOPIC_TABLE.splitlines() if line.strip()]
    out = []
    for head, skills in zip(lines[::2], lines[1::2], strict=True):
        en, zh, cat_en, cat_zh = (part.strip() for part in head.split("|"))
        skills_en, skills_zh = (part.strip() for part in skills.split("|"))
        out.append((en, zh, cat_en, cat_zh, skills_en.split(", "), skills_zh.split("、")))
    return out


TOPICS = _topics()

ZH_LEVEL = ["零基础", "新手", "进阶", "高级", "", "", "实用"]
ZH_SUFFIX = ["入门", "实战", "精讲", "从入门到精通", "训练营", "30天速成", "必修课", "核心技巧", "全攻略", "系统课"]
EN_TITLE = [
    "{t} for Beginners", "Mastering {t}", "{t}: A Practical Guide", "Advanced {t} Techniques", "{t} in 30 Days",
    "The Complete {t} Bootcamp", "{t} {s} Workshop", "Everyday {t}", "{t} Made Simple", "Hands-on {t} with {s}",
]  # fmt: skip
ZH_SENTENCES = [
    "本课程面向{aud}，系统讲解{t}的核心知识和{s1}方法。",
    "通过{n}个实战案例，你将学会{s1}、{s2}和{s3}。",
    "课程配有练习题和答疑社群，帮助你坚持学完。",
    "每节课{m}分钟左右，适合利用碎片时间学习。",
    "讲师拥有{y}年{t}经验，曾为多家企业提供{s2}培训。",
    "学完本课程后，你可以独立完成一个{t}项目，并掌握{s3}的常见技巧。",
    "很多人学{t}半途而废，是因为一开始就陷入了{s1}的细节。",
    "我们从最常见的问题出发，一步步拆解{s2}背后的原理。",
    "课程内容持续更新，购买后可永久回看。",
    "如果你曾经尝试过{s3}却没有进展，这门课会给你一套清晰的路线。",
]
EN_SENTENCES = [
    "This course is for {aud} who want to get good at {t}.",
    "You will practice {s1}, {s2} and {s3} through {n} hands-on projects.",
    "Each lesson takes about {m} minutes and ends with one small exercise.",
    "Your instructor has {y} years of experience teaching {t} to teams and individuals.",
    "We start from the most common mistakes and build a solid understanding of {s2}.",
    "By the end you will be able to plan and finish a real {t} project on your own.",
    "Lifetime access, with new lessons added as the field changes.",
    "If you have tried {s3} before and got stuck, this course gives you a clear path.",
    "No prior experience needed: we explain every step of {s1} in plain language.",
]
ZH_AUDIENCE = ["零基础学员", "职场新人", "在校大学生", "宝妈", "想转行的朋友", "自由职业者"]
EN_AUDIENCE = ["complete beginners", "busy professionals", "students", "career changers", "hobbyists", "managers"]

#: Distinctive courses in every generated catalog, found by the hand-labelled queries (ids from 900,001).
ANCHORS: list[tuple[str, str, tuple[str, ...], str]] = [
    ("Machine Learning Fundamentals", "Models, features and evaluation, step by step.", ("machine learning",), "en"),
    ("Photography Composition Essentials", "Frame better pictures with any camera.", ("photography",), "en"),
    ("Personal Finance for Busy Families", "Budget, save and invest as a household.", ("money",), "en"),
    ("Public Speaking Masterclass", "Speak with confidence at work and beyond.", ("speaking",), "en"),
    ("Watercolor Painting Basics", "Washes, layers and color mixing.", ("watercolor",), "en"),
    ("Kubernetes in Production", "Run clusters that stay up.", ("kubernetes", "devops"), "en"),
    ("Negotiation Skills for Managers", "Win-win deals with your team and vendors.", ("negotiation",), "en"),
    ("Sourdough Baking at Home", "Starter, dough and crust.", ("baking", "bread"), "en"),
    ("Guitar Chords Made Easy", "Twenty chords, a hundred songs.", ("guitar",), "en"),
    ("Mandarin Pronunciation Bootcamp", "Tones and pinyin in four weeks.", ("mandarin",), "en"),
    ("Spreadsheet Automation with Python", "Stop copying cells by hand.", ("python", "excel"), "en"),
    ("Mindfulness Meditation for Anxiety", "Ten minutes a day.", ("mindfulness",), "en"),
    ("深度学习入门实战", "从神经网络到大模型，一门课讲清楚。", ("深度学习", "人工智能"), "zh"),
    ("手机摄影构图技巧", "用手机拍出大片感。", ("手机摄影", "构图"), "zh"),
    ("家庭理财规划课", "给家庭做一份靠谱的理财规划。", ("家庭理财",), "zh"),
    ("零基础学素描", "从一条线到一幅画。", ("素描",), "zh"),
    ("短视频运营实战营", "账号定位、脚本和剪辑一站式。", ("短视频运营",), "zh"),
    ("Python 自动化办公", "用 Python 处理 Excel 和邮件。", ("python", "自动化办公"), "zh"),
]  # fmt: skip

ANCHOR_ID = 900_001

#: (query, index into ANCHORS of the course it looks for): typed as a person would, typos included.
HAND_LABELLED: list[tuple[str, int]] = [
    ("machine lerning fundamentals", 0), ("machin learning fundamentls", 0),
    ("photgraphy composition", 1), ("photography compostion essentials", 1),
    ("persnal finance busy families", 2), ("public speakng masterclass", 3), ("publc speaking masterclas", 3),
    ("watercolour painting basics", 4), ("kubernets in production", 5), ("kubernetes prodution", 5),
    ("negotation skills managers", 6), ("sourdogh baking", 7), ("sour dough baking at home", 7),
    ("guitar chrods made easy", 8), ("mandarin pronounciation", 9), ("spreadsheet automaton python", 10),
    ("mindfullness meditation anxiety", 11), ("深度学习入门", 12), ("手机摄影构图", 13), ("家庭理财规划", 14),
    ("零基础素描", 15), ("短视频运营", 16), ("python 自动化办公", 17), ("Python自动化", 17),
]  # fmt: skip


def _anchor_courses() -> list[Course]:
    return [
        _course(ANCHOR_ID + i, f"anchor-{i}", title, summary, summary + " " + summary, tags[0], tags, lang)
        for i, (title, summary, tags, lang) in enumerate(ANCHORS)
    ]


def _course(
    cid: int, slug: str, title: str, summary: str, description: str, category: str, tags: tuple[str, ...],
    lang: str, published: bool = True,
) -> Course:  # fmt: skip
    price = Price(fiat=Money(990 + (cid % 50) * 100, "CNY" if lang == "zh" else "USD"), stars=50 + cid % 500)
    return Course(cid, slug, title, summary, description, category, tags, lang, price, DripMode.ALL, 8, 6, 1, published)


def catalog(n: int = 10_000, seed: int = 6, unpublished: int = 50) -> list[Course]:
    """``n`` published courses (the anchors included) plus ``unpublished`` drafts, ids ascending."""
    rng = random.Random(seed)
    out = _anchor_courses()
    for cid in range(1, n - len(out) + unpublished + 1):
        en, zh, cat_en, cat_zh, skills_en, skills_zh = rng.choice(TOPICS)
        style = rng.random()
        lang = "en" if style < 0.4 else "zh"
        s1, s2, s3 = rng.sample(skills_en if lang == "en" else skills_zh, 3)
        fill = {
            "n": rng.randint(3, 30), "m": rng.choice([5, 8, 10, 15, 20]), "y": rng.randint(3, 15),
            "s1": s1, "s2": s2, "s3": s3,
        }  # fmt: skip
        if lang == "en":
            title = rng.choice(EN_TITLE).format(t=en, s=rng.choice(skills_en).title())
            sentences = [s.format(t=en.lower(), aud=rng.choice(EN_AUDIENCE), **fill) for s in EN_SENTENCES]
            summary = f"Learn {s1}, {s2} and {s3}, one short lesson at a time."
            tags = tuple(dict.fromkeys((en.lower(), s1, rng.choice(skills_en))))
            category = cat_en
        else:
            mixed = style > 0.8  # a Chinese title with an English name in it ("Excel 高效办公技巧")
            name = f"{en} {zh.removeprefix(en)}" if mixed and not zh.startswith(en) else zh
            title = f"{rng.choice(ZH_LEVEL)}{name}{rng.choice(ZH_SUFFIX)}"
            sentences = [s.format(t=zh, aud=rng.choice(ZH_AUDIENCE), **fill) for s in ZH_SENTENCES]
            summary = f"{s1}、{s2}、{s3}，一课一个知识点。"
            tags = tuple(dict.fromkeys((zh, s1, rng.choice(skills_zh))))
            category = cat_zh
        rng.shuffle(sentences)
        description = ("" if lang == "zh" else " ").join(sentences[: rng.randint(3, len(sentences))])
        description = description * rng.choice([1, 1, 1, 2])
        published = cid <= n - len(_anchor_courses())
        out.append(_course(cid, f"c{cid}", title, summary, description, category, tags, lang, published))
    return sorted(out, key=lambda c: c.id)


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    kind = rng.choice(["delete", "transpose", "substitute", "insert"])
    if kind == "delete":
        return word[:i] + word[i + 1 :]
    if kind == "transpose" and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    letter = rng.choice(string.ascii_lowercase)
    if kind == "insert":
        return word[:i] + letter + word[i:]
    return word[:i] + letter + word[i + 1 :]


def _title_words(c: Course) -> list[str]:
    return [w for w in c.title.lower().replace(":", " ").split() if w.isalpha() and w not in STOP_WORDS]


def _queries(
    courses: list[Course], count: int, seed: int, known: Callable[[str], bool], with_typo: bool
) -> list[Query]:
    rng = random.Random(seed)
    english = [c for c in courses if c.published and c.language == "en" and c.id < ANCHOR_ID]
    titles = {c.id: set(_title_words(c)) for c in courses if c.published}
    out: list[Query] = []
    while len(out) < count:
        c = rng.choice(english)
        words = _title_words(c)
        long = [w for w in words if len(w) >= 5]
        if not long:
            continue
        picked = rng.sample(words, min(len(words), rng.randint(1, 3)))
        target = rng.choice([w for w in picked if len(w) >= 5] or [rng.choice(long)])
        if target not in picked:
            picked[0] = target
        typo = _typo(target, rng)
        if known(typo) or typo == target:
            continue  # a real word (or no change): not the kind of typo typo matching is for
        meant = set(picked)
        text = " ".join(typo if w == target and with_typo else w for w in picked)
        relevant = frozenset(cid for cid, ws in titles.items() if meant <= ws)
        out.append(Query(text, "typo" if with_typo else "clean", relevant))
    return out


def typo_queries(courses: list[Course], count: int, known: Callable[[str], bool], seed: int = 61) -> list[Query]:
    """English title-word queries with one typo; ``known(word)``: the word is in the index (then skipped)."""
    return _queries(courses, count, seed, known, with_typo=True)


def clean_queries(courses: list[Course], count: int, known: Callable[[str], bool], seed: int = 61) -> list[Query]:
    """The very same queries as :func:`typo_queries` (same seed), without the typo."""
    return _queries(courses, count, seed, known, with_typo=False)


def hand_labelled() -> list[Query]:
    return [Query(text, "hand", frozenset({ANCHOR_ID + i})) for text, i in HAND_LABELLED]


def query_mix(courses: list[Course], per_kind: int, known: Callable[[str], bool], seed: int = 62) -> list[Query]:
    """Queries of every kind a learner sends, ``per_kind`` of each, for latency (shuffled, seeded)."""
    rng = random.Random(seed)
    zh_words = [w for t in TOPICS for w in (t[1], *t[5])]
    en_words = [w.lower() for t in TOPICS for w in (t[0], *t[4])]
    zh_titles = [c.title for c in courses if c.language == "zh" and c.published]
    en_titles = [c.title for c in courses if c.language == "en" and c.published]
    texts = [c.description for c in courses if c.published and len(c.description) > 120]

    def paste() -> str:  # 100 characters copied from a course description: the longest query the bot searches
        text = rng.choice(texts)
        start = rng.randrange(len(text) - 100)
        return text[start : start + 100]

    kinds: dict[str, Callable[[], str]] = {
        "zh_word": lambda: rng.choice(zh_words),
        "zh_title": lambda: rng.choice(zh_titles),
        "en_word": lambda: rng.choice(en_words),
        "en_title": lambda: rng.choice(en_titles),
        "mixed": lambda: f"{rng.choice(en_words)} {rng.choice(zh_words)}",
        "common": lambda: rng.choice(["课程", "学习", "course", "learn", "实战 课程", "beginners course"]),
        "paste": paste,
        "miss": lambda: " ".join(
            "".join(rng.choice("bcdfgkmnpqrstvwxz") for _ in range(rng.randint(5, 9))) for _ in range(2)
        ),
    }
    out = [Query(make(), kind) for kind, make in kinds.items() for _ in range(per_kind)]
    out += [Query(q.text, "typo") for q in typo_queries(courses, per_kind, known, seed=seed)]
    rng.shuffle(out)
    return out
