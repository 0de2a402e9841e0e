"""botocore's model of a service (`../shared/aws-models/<svc>.json`), with Strongroom's own
operations of that service (`scripts/extensions/<svc>.json`, same format) merged in."""
import json
import os

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
EXTENSIONS = os.path.join(ROOT, "scripts", "extensions")


def load(models_dir, service):
    model = json.load(open(os.path.join(models_dir, f"{service}.json")))
    path = os.path.join(EXTENSIONS, f"{service}.json")
    if os.path.exists(path):
        ext = json.load(open(path))
        for kind in ("operations", "shapes"):
            clash = set(ext[kind]) & set(model[kind])
            assert not clash, f"{path}: {kind} already in AWS's model: {sorted(clash)}"
            model[kind].update(ext[kind])
    return model
