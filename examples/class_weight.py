"""class_weight on an imbalanced problem (95/5): MLPClassifier and Sequential, minority recall on a hold-out.

A 4,000-row binary problem (scikit-learn's make_classification, 5 % positives, 2 % flipped labels),
a stratified 75/25 split; each model is trained without and with class weights and scored on the
25 % hold-out (recall of the rare class, balanced accuracy).

Run:  python examples/class_weight.py
"""
import warnings

from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split

import fastnn

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = make_classification(4000, 10, n_informative=4, weights=[0.95], flip_y=0.02, random_state=0)
X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=0)


def report(name, predicted):
    print(f"{name:46s} minority recall {recall_score(y_te, predicted):.2f}   "
          f"balanced accuracy {balanced_accuracy_score(y_te, predicted):.2f}")


for class_weight in (None, "balanced"):  # scikit-learn's meaning: multiplies into the sample weights
    clf = fastnn.MLPClassifier((32,), max_iter=300, random_state=0, class_weight=class_weight).fit(X_tr, y_tr)
    report(f"MLPClassifier(class_weight={class_weight!r})", clf.predict(X_te))

for class_weight in (None, {0: 1.0, 1: 10.0}):  # Keras' meaning: {class index: weight}
    model = fastnn.Sequential([fastnn.Dense(32, "relu"), fastnn.Dense(2, "softmax")], input_dim=10, seed=0)
    model.fit(X_tr, y_tr, epochs=100, batch_size=64, loss="categorical_crossentropy",
              optimizer=fastnn.Adam(lr=0.01), class_weight=class_weight)
    report(f"Sequential.fit(class_weight={class_weight!r})", model.predict(X_te).argmax(axis=1))
