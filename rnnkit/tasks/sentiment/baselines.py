"""The text classifier a user would otherwise train: TF-IDF features and logistic regression.

scikit-learn's ``TfidfVectorizer`` with sublinear term frequency, over word 1-2 grams (tokens
split on white space as rnnkit's word level does) or character 1-3 grams (which need no spaces:
the choice for languages written without them), and ``LogisticRegression``, its
regularization ``C`` chosen on the validation part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rnnkit.data.text import LabeledTexts
from rnnkit.extras import require

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


def tfidf_logistic(train: LabeledTexts, validation: LabeledTexts, texts: Sequence[str],
                   analyzer: Literal["word", "char"] = "word") -> tuple[np.ndarray, float]:
    """The predicted label of each of ``texts`` and the ``C`` that validation accuracy chose."""
    text_features = require("sklearn.feature_extraction.text", "the TF-IDF baseline", extra="text")
    linear = require("sklearn.linear_model", "the TF-IDF baseline", extra="text")
    if analyzer == "word":
        vectorizer = text_features.TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"\S+")
    else:
        vectorizer = text_features.TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                                   max_features=200_000)
    features = vectorizer.fit_transform(train.texts)
    held_out = vectorizer.transform(validation.texts)
    best = None
    for c in C_GRID:
        model = linear.LogisticRegression(C=c, max_iter=5000).fit(features, train.labels)
        accuracy = model.score(held_out, validation.labels)
        if best is None or accuracy > best[0]:
            best = (accuracy, c, model)
    return best[2].predict(vectorizer.transform(list(texts))), best[1]
