"""Personalized course recommendations: content (TF-IDF on jieba tokens), item-item collaborative
filtering and popularity with recency, blended per user, diversified, each with a reason.

Pure computation (numpy, scipy, scikit-learn only in the evaluation baseline): the storage side
feeds it courses and interactions, the serving side stores :meth:`Recommender.top_n_all` and
renders :class:`Reason` in the learner's language. See docs/recommendations.md.
"""

from core.recommend.config import RecommenderConfig
from core.recommend.courses import CourseDoc
from core.recommend.reasons import Reason, ReasonKind, Recommendation
from core.recommend.recommender import Recommender, TopN
from core.recommend.signals import SIGNALS, Interaction, InteractionLog, Signal
from core.recommend.token_cache import TokenCache

__all__ = [
    "SIGNALS",
    "CourseDoc",
    "Interaction",
    "InteractionLog",
    "Reason",
    "ReasonKind",
    "Recommendation",
    "Recommender",
    "RecommenderConfig",
    "Signal",
    "TokenCache",
    "TopN",
]
