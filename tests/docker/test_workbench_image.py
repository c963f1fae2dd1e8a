"""The workbench image (UI + scheduler): a LightGBM version registered inside it is compiled.

Training runs in this image under compose, so it must compile the trees the API image then
serves without a compiler: lleaves (the `trees` extra) and `ld` (binutils) are in it. The test
fits a small LightGBM model inside the container, compiles it as registration does, loads the
library back and compares it with the booster, as the non-root user.
"""

from __future__ import annotations

import json

import pytest

from core.deploy.images import build_image

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]

INSIDE = """
import json, os, pathlib, tempfile
import numpy as np
from lightgbm import LGBMClassifier
from core.serving.compiled import compile_trees, load_trees

rng = np.random.default_rng(0)
X = rng.normal(size=(400, 6))
y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
est = LGBMClassifier(n_estimators=20, num_leaves=8, verbose=-1).fit(X, y)
out = pathlib.Path(tempfile.mkdtemp())
meta = compile_trees(est, out)
trees = load_trees(out, est)
raw = trees.predict(np.ascontiguousarray(X[:50], dtype=np.float64))
booster = est.booster_.predict(X[:50])
print(json.dumps({"uid": os.getuid(), "backend": meta["backend"],
                  "max_diff": float(np.max(np.abs(np.ravel(raw) - booster)))}))
"""


@pytest.fixture(scope="module")
def workbench_image(docker_client, base_image) -> str:
    return build_image("workbench", base_image=base_image).tag


def test_the_workbench_image_compiles_lightgbm_trees_as_its_user(docker_client, workbench_image):
    out = docker_client.containers.run(
        workbench_image, ["python3", "-c", INSIDE], remove=True
    ).decode()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["uid"] == 10001
    assert result["backend"] == "lleaves"
    assert result["max_diff"] < 1e-9
