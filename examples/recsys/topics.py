"""Topic vocabularies for the synthetic recommendation dataset: realistic course texts per topic.

Each topic belongs to a category (several topics share one, so the diversity rule has work to
do) and has Chinese terms, English terms and tags. Course texts are built from a topic's terms,
a few shared phrases every course platform uses (课程, 学习, 练习 …) and, now and then, a term
of another topic, so that text similarity is informative but not perfect.
"""

from __future__ import annotations

from typing import NamedTuple


class Topic(NamedTuple):
    slug: str
    name: str
    category: str
    terms: tuple[str, ...]
    en: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic("python", "Python编程", "编程",
          ("Python", "变量", "函数", "列表", "字典", "面向对象", "爬虫", "自动化脚本", "异常处理", "模块"),
          ("Python", "functions", "scripting", "automation", "data structures", "OOP")),
    Topic("frontend", "前端开发", "编程",
          ("HTML", "CSS", "JavaScript", "网页布局", "响应式设计", "Vue", "React", "组件", "浏览器", "前端工程化"),
          ("HTML", "CSS", "JavaScript", "React", "web layout", "components")),
    Topic("backend", "Java后端", "编程",
          ("Java", "Spring", "微服务", "数据库", "接口设计", "并发编程", "缓存", "消息队列", "分布式", "性能调优"),
          ("Java", "Spring", "microservices", "databases", "concurrency", "caching")),
    Topic("analytics", "数据分析", "数据",
          ("数据分析", "Excel", "数据透视表", "pandas", "可视化", "统计", "报表", "SQL查询", "指标体系", "数据清洗"),
          ("data analysis", "Excel", "pandas", "visualization", "statistics", "SQL")),
    Topic("ml", "机器学习", "数据",
          ("机器学习", "深度学习", "神经网络", "回归", "分类", "特征工程", "模型评估", "决策树", "梯度下降", "训练集"),
          ("machine learning", "deep learning", "neural networks", "regression", "classification", "features")),
    Topic("graphic", "平面设计", "设计",
          ("平面设计", "Photoshop", "排版", "配色", "字体", "海报", "品牌视觉", "图层", "版式", "视觉传达"),
          ("graphic design", "Photoshop", "typography", "color", "posters", "branding")),
    Topic("ui", "UI设计", "设计",
          ("UI设计", "交互设计", "Figma", "原型", "用户体验", "设计规范", "图标", "界面", "可用性测试", "设计系统"),
          ("UI design", "UX", "Figma", "prototyping", "usability", "design systems")),
    Topic("english", "英语口语", "语言",
          ("英语口语", "发音", "音标", "日常对话", "听力", "词汇", "语法", "雅思", "商务英语", "连读"),
          ("spoken English", "pronunciation", "listening", "vocabulary", "IELTS", "conversation")),
    Topic("japanese", "日语", "语言",
          ("日语", "五十音", "假名", "敬语", "日语语法", "动漫日语", "能力考", "N2", "会话", "单词"),
          ("Japanese", "kana", "JLPT", "grammar", "conversation", "keigo")),
    Topic("communication", "职场沟通", "职场",
          ("职场沟通", "汇报", "向上管理", "会议", "邮件写作", "情商", "谈判", "跨部门协作", "反馈", "说服"),
          ("communication", "negotiation", "meetings", "feedback", "persuasion", "email writing")),
    Topic("product", "产品经理", "职场",
          ("产品经理", "需求分析", "用户研究", "原型设计", "竞品分析", "产品规划", "数据驱动", "迭代", "PRD", "增长"),
          ("product management", "user research", "roadmaps", "requirements", "growth", "PRD")),
    Topic("speaking", "演讲表达", "职场",
          ("演讲", "公众表达", "即兴演讲", "故事思维", "肢体语言", "声音训练", "紧张", "开场白", "逻辑表达", "舞台"),
          ("public speaking", "storytelling", "presentation", "body language", "voice", "stage fright")),
    Topic("finance", "个人理财", "理财",
          ("理财", "记账", "预算", "储蓄", "保险", "资产配置", "信用卡", "复利", "应急资金", "财务自由"),
          ("personal finance", "budgeting", "saving", "insurance", "compound interest", "asset allocation")),
    Topic("investing", "股票基金", "理财",
          ("股票", "基金定投", "指数基金", "估值", "财报分析", "价值投资", "仓位管理", "风险控制", "债券", "市盈率"),
          ("stocks", "index funds", "valuation", "value investing", "bonds", "risk management")),
    Topic("cooking", "烹饪美食", "生活",
          ("烹饪", "家常菜", "烘焙", "刀工", "火候", "调味", "面点", "川菜", "汤羹", "食材"),
          ("cooking", "baking", "knife skills", "recipes", "seasoning", "home cooking")),
    Topic("tea", "茶艺", "生活",
          ("茶艺", "绿茶", "红茶", "乌龙茶", "普洱", "冲泡", "茶具", "品鉴", "茶道", "茶文化"),
          ("tea", "green tea", "oolong", "pu-erh", "brewing", "tea ceremony")),
    Topic("parenting", "育儿", "生活",
          ("育儿", "亲子沟通", "早期教育", "绘本阅读", "睡眠习惯", "辅食", "情绪引导", "专注力", "幼小衔接",
           "家庭教育"),
          ("parenting", "early education", "picture books", "sleep habits", "focus", "family")),
    Topic("photo", "摄影", "艺术",
          ("摄影", "构图", "光线", "曝光", "人像摄影", "风光摄影", "后期修图", "Lightroom", "手机摄影", "镜头"),
          ("photography", "composition", "lighting", "exposure", "portraits", "Lightroom")),
    Topic("calligraphy", "书法", "艺术",
          ("书法", "楷书", "行书", "毛笔", "硬笔", "笔画", "间架结构", "临帖", "篆刻", "章法"),
          ("calligraphy", "brush", "regular script", "running script", "strokes", "seal carving")),
    Topic("drawing", "绘画", "艺术",
          ("绘画", "素描", "水彩", "色彩", "透视", "速写", "插画", "油画", "线条", "光影"),
          ("drawing", "sketching", "watercolor", "illustration", "perspective", "oil painting")),
    Topic("music", "音乐", "艺术",
          ("吉他", "钢琴", "乐理", "和弦", "节奏", "指法", "弹唱", "视唱练耳", "编曲", "五线谱"),
          ("guitar", "piano", "music theory", "chords", "rhythm", "songwriting")),
    Topic("fitness", "健身", "健康",
          ("健身", "力量训练", "减脂", "增肌", "核心", "拉伸", "有氧运动", "体态", "深蹲", "训练计划"),
          ("fitness", "strength training", "fat loss", "core", "stretching", "workout plans")),
    Topic("yoga", "瑜伽冥想", "健康",
          ("瑜伽", "冥想", "呼吸", "体式", "正念", "放松", "助眠", "减压", "柔韧性", "身心平衡"),
          ("yoga", "meditation", "breathing", "mindfulness", "relaxation", "flexibility")),
    Topic("psychology", "心理学", "健康",
          ("心理学", "情绪管理", "认知", "焦虑", "自我成长", "人际关系", "心理咨询", "原生家庭", "自尊", "行为习惯"),
          ("psychology", "emotions", "anxiety", "self-growth", "relationships", "habits")),
)  # fmt: skip

ZH_PREFIXES = ("零基础", "21天", "从零开始学", "实战", "高手进阶：", "轻松学", "一次学会", "系统掌握", "", "", "", "")
ZH_SUFFIXES = ("入门", "实战课", "精讲", "训练营", "必修课", "进阶指南", "30讲", "全攻略", "速成班", "案例课")
AUDIENCES = (
    "零基础的你",
    "职场新人",
    "忙碌的上班族",
    "大学生",
    "宝妈宝爸",
    "想转行的人",
    "自学者",
    "退休后想充实自己的人",
)
BENEFITS = ("学完就能上手", "帮你少走弯路", "每天只需15分钟", "配套练习和答疑", "讲透核心方法", "让你学得会用得上")
SCENARIOS = ("工作", "生活", "副业", "考试", "面试", "日常")
GOALS = ("入门", "提升", "转行成功", "通过考试", "找到方向", "养成习惯")
FILLER = (
    "课程支持回放，随时随地学习。",
    "加入学习群，与同学一起打卡。",
    "适合想系统提升自己的你。",
    "学完可获得结课证书。",
    "每节课十分钟左右，碎片时间也能学。",
    "老师会在群里答疑，遇到问题随时提问。",
    "已有数千名学员完成学习。",
)
EN_PREFIXES = ("Practical", "Mastering", "Hands-on", "The Complete", "Essential", "Modern", "Quick")
EN_SUFFIXES = ("for Beginners", "Bootcamp", "in 30 Days", "Masterclass", "Crash Course", "Fundamentals", "Workshop")
