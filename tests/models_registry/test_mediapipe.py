"""The bundled MediaPipe models pre-label a real photograph (skimage.data.astronaut()) on a real worker.

Reference positions were measured by hand on a 4x enlarged crop of the
image (with a 10 px grid): pupils, nose tip, mouth corners and chin of the
512x512 portrait. The face is ~90 px wide and the pupils are 43 px apart.

Tolerance, face mesh: 8 px (~0.19 of the interocular distance): a hand click
at this zoom is good to ~3 px, and a 68-point definition (e.g. dlib's nose
tip, a mouth corner) differs from the visual feature by a few pixels; 8 px
still puts each point on its feature, never on the neighbouring one.
Tolerance, pose: 12 px for nose and eyes: BlazePose is a body model whose
eye points are coarse (it puts them ~9 px below the pupils here), yet 12 px
is well inside the face.

skimage.data.camera() (a man in profile behind a camera, grayscale): nose
tip (252.5, 166) and his visible right eye (236, 146), measured the same
way; same 12 px pose tolerance.
"""

import numpy as np
import pytest

pytest.importorskip("mediapipe", reason="the mediapipe extra is installed by scripts/setup.sh")
skimage_data = pytest.importorskip("skimage.data")

from annotation.models import Annotation, Skeleton  # noqa: E402
from annotation.services.presets import load_presets  # noqa: E402
from jointly.jobs.models import JobRun  # noqa: E402
from models_registry.services.registry import register_model_version  # noqa: E402
from tests.annotation.factories import Role, client_for, grant, make_project, make_user  # noqa: E402

from .models_fixtures import store_image  # noqa: E402

# Measured by hand, (x, y) in image pixels.
RIGHT_PUPIL, LEFT_PUPIL = (203, 102), (246, 103)  # the subject's right eye is on the image's left
NOSE_TIP, MOUTH_RIGHT, MOUTH_LEFT, CHIN = (224, 127.5), (204, 142), (244, 141), (222.5, 172.5)


def prelabel_photo(run_worker, skeleton_name: str, preset: str, pixels=None) -> np.ndarray:
    load_presets()
    skeleton = Skeleton.objects.filter(name=skeleton_name).order_by("-version").first()
    project = make_project(skeleton=skeleton)
    image = store_image(project, skimage_data.astronaut() if pixels is None else pixels, "photo.png")
    manager = make_user()
    grant(manager, Role.PROJECT_MANAGER, organization=project.organization)
    version = register_model_version({"name": f"mediapipe-{preset}", "version": "0.10.14", "skeleton": skeleton,
                                      "runtime": "mediapipe", "preset": preset, "score_threshold": 0.5})
    response = client_for(manager).post(f"/api/v1/models/{version.pk}/prelabel/",
                                        {"project": project.pk, "options": {"boxes": "detector"}}, format="json")
    assert response.status_code == 202, response.data
    worker = run_worker("gpu", timeout=300)
    job = JobRun.objects.get(pk=response.data["job"])
    assert job.state == "finished", (job.error, worker.stderr[-2000:])
    instances = Annotation.objects.get(image=image, source="model", pose_model=version).instances
    assert len(instances) == 1  # one face / one person in the picture
    return np.asarray(instances[0]["keypoints"], dtype=float).reshape(-1, 3)


def assert_near(point, reference, tolerance):
    distance = float(np.hypot(*(np.asarray(point[:2]) - reference)))
    assert distance < tolerance, f"{point[:2]} is {distance:.1f} px from {reference}"


def test_face_mesh_puts_face68_points_on_the_face(transactional_db, run_worker):
    kps = prelabel_photo(run_worker, "face-68", "face")
    assert (kps[:, 2] == 2).all()
    assert_near(kps[36:42, :2].mean(axis=0), RIGHT_PUPIL, 8)  # iBUG 36-41: the subject's right eye
    assert_near(kps[42:48, :2].mean(axis=0), LEFT_PUPIL, 8)
    assert_near(kps[30], NOSE_TIP, 8)
    assert_near(kps[48], MOUTH_RIGHT, 8)
    assert_near(kps[54], MOUTH_LEFT, 8)
    assert_near(kps[8], CHIN, 8)


def test_blazepose_maps_onto_coco17(transactional_db, run_worker):
    kps = prelabel_photo(run_worker, "coco-17-person", "pose")
    assert_near(kps[0], NOSE_TIP, 12)
    assert_near(kps[1], LEFT_PUPIL, 12)  # COCO left_eye: the subject's left
    assert_near(kps[2], RIGHT_PUPIL, 12)
    # The shoulders are in the picture below the face; the legs are not: they must not be v=2.
    assert (kps[5:7, 2] == 2).all() and kps[5, 1] > CHIN[1] and kps[5, 0] > kps[6, 0]
    assert (kps[13:, 2] < 2).all()



def test_blazepose_finds_the_cameraman_in_a_grayscale_photo(transactional_db, run_worker):
    kps = prelabel_photo(run_worker, "coco-17-person", "pose", skimage_data.camera())
    assert_near(kps[0], (252.5, 166), 12)
    assert_near(kps[2], (236, 146), 12)  # COCO right_eye: the eye facing the viewer
    assert kps[0, 2] == 2 and kps[2, 2] == 2
