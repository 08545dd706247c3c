"""The embedded default (SQLite, in-process jobs) runs the first-run path end to end.

The suite itself runs on PostgreSQL; this test starts `manage.py` in
subprocesses on a fresh SQLite file, as a new user's first run does, so the
PostgreSQL-only fast paths (COPY, unnest) are proven to have working
fallbacks.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from pycocotools.coco import COCO

ROOT = Path(__file__).resolve().parent.parent


def manage(env, *args, stdin=None):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        input=stdin, timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_first_run_on_sqlite_loads_presets_imports_and_exports_coco(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'first-run.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
    }
    manage(env, "migrate", "--noinput")
    presets = manage(env, "load_skeleton_presets")
    assert presets.count("created") == 4
    project_id = manage(env, "shell", "--no-imports", "-c", (
        "from annotation.models import Organization, Project, Skeleton\n"
        "org = Organization.objects.create(name='first')\n"
        "p = Project.objects.create(organization=org, name='first', "
        "skeleton=Skeleton.objects.get(name='coco-17-person'))\n"
        "print(p.pk)"
    )).strip()
    names = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
             "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
             "right_knee", "left_ankle", "right_ankle"]
    keypoints = [[10.0 + i, 20.0 + i, 2] for i in range(17)]
    coco = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 100},
                   {"id": 8, "file_name": "b.jpg", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "person", "keypoints": names, "skeleton": [[1, 2]]}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "bbox": [5.0, 5.0, 50.0, 60.0], "area": 3000.0,
             "keypoints": [c for kp in keypoints for c in kp], "num_keypoints": 17, "iscrowd": 0},
            {"id": 2, "image_id": 8, "category_id": 1, "bbox": [1.0, 2.0, 30.0, 40.0], "area": 1200.0,
             "keypoints": [0, 0, 0] * 16 + [40.0, 50.0, 1], "num_keypoints": 1, "iscrowd": 0},
        ],
    }
    source = tmp_path / "in.json"
    source.write_text(json.dumps(coco))
    manage(env, "import_coco", project_id, str(source), "--create-missing-images")
    manage(env, "import_coco", project_id, str(source), "--create-missing-images")  # idempotent
    exported = tmp_path / "out.json"
    manage(env, "export_coco", project_id, str(exported), "--source", "import")
    result = COCO(str(exported))
    anns = sorted(result.dataset["annotations"], key=lambda a: a["bbox"][0], reverse=True)
    assert len(anns) == 2
    assert anns[0]["keypoints"] == coco["annotations"][0]["keypoints"]
    assert anns[1]["keypoints"] == coco["annotations"][1]["keypoints"]
    assert [a["bbox"] for a in anns] == [coco["annotations"][0]["bbox"], coco["annotations"][1]["bbox"]]


def test_debug_is_off_unless_asked_for_and_then_a_secret_key_is_required():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    probe = "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)"
    refused = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", probe], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "SECRET_KEY must be set when DEBUG is off" in refused.stderr
    assert manage({**env, "SECRET_KEY": "x" * 50}, "shell", "--no-imports", "-c", probe).strip() == "False []"
    assert manage({**env, "DEBUG": "1"}, "shell", "--no-imports", "-c", probe).strip().startswith("True ")
    assert "export DEBUG=${DEBUG:-1}" in (ROOT / "scripts" / "quickstart.sh").read_text()
