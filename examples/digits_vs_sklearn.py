"""fastnn.MLPClassifier vs scikit-learn's MLPClassifier on load_digits, hidden (64,), sgd and adam.

Both train on the same scaled, stratified 75 % split and score the 25 % hold-out; times are the
median of 3 alternating runs (compilation done before timing).

Run:  python examples/digits_vs_sklearn.py
"""
import time, warnings, numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.neural_network import MLPClassifier as Sk
from sklearn.exceptions import ConvergenceWarning
from fastnn import MLPClassifier as Fn
warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
sc = StandardScaler().fit(Xtr); Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
for solver in ("sgd", "adam"):
    kw = dict(hidden_layer_sizes=(64,), solver=solver, random_state=0, max_iter=200)
    Fn(**{**kw, "max_iter": 2}).fit(Xtr, ytr)  # compile outside timing
    t = {"sk": [], "fn": []}; acc = {}
    for r in range(3):
        for name, cls in (("sk", Sk), ("fn", Fn)):
            s = time.perf_counter(); m = cls(**kw).fit(Xtr, ytr); t[name].append(time.perf_counter() - s)
            acc[name] = (m.score(Xte, yte), m.n_iter_)
    a, b = np.median(t["sk"]), np.median(t["fn"])
    print(f"{solver}: sklearn {a:.3f}s fastnn {b:.3f}s speed-up {a/b:.2f}x  test acc sklearn {acc['sk'][0]:.4f} fastnn {acc['fn'][0]:.4f} n_iter {acc['sk'][1]} {acc['fn'][1]}")
