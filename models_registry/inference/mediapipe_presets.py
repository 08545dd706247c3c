"""How MediaPipe's landmarks map onto Jointly's preset skeletons.

BlazePose's 33 landmarks -> COCO-17 (pose_landmark_full.tflite). BlazePose's
"left" is the subject's left, as in COCO. Indices from the landmark list of
the MediaPipe Pose documentation (0 nose, 2 left eye, 5 right eye, 7 left
ear, 8 right ear, 11/12 shoulders, 13/14 elbows, 15/16 wrists, 23/24 hips,
25/26 knees, 27/28 ankles), https://ai.google.dev/edge/mediapipe/solutions/vision/pose_landmarker

MediaPipe Hands' 21 landmarks are already the order of the hand-21 preset
(wrist, then thumb CMC/MCP/IP/TIP, index, middle, ring, pinky, base to tip),
https://ai.google.dev/edge/mediapipe/solutions/vision/hand_landmarker

The 468-point face mesh -> the 68 iBUG 300-W points of face-68: the
correspondence of Peizhi Yan's Mediapipe_2_Dlib_Landmarks
(https://github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks, mp2dlib.py), where
a 68-point landmark with two mesh indices is the mean of the two.
"""

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

HAND21 = (
    "wrist", "thumb1", "thumb2", "thumb3", "thumb4", "forefinger1", "forefinger2", "forefinger3", "forefinger4",
    "middle_finger1", "middle_finger2", "middle_finger3", "middle_finger4", "ring_finger1", "ring_finger2",
    "ring_finger3", "ring_finger4", "pinky_finger1", "pinky_finger2", "pinky_finger3", "pinky_finger4",
)

FACE68 = tuple(f"face-{i}" for i in range(68))
#: Mesh indices per face-68 point (0-based iBUG order): jaw 0-16, right brow 17-21, left brow 22-26,
#: nose 27-35, right eye 36-41, left eye 42-47, outer lips 48-59, inner lips 60-67.
FACEMESH_TO_FACE68 = (
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,), (379,), (365,),
    (397, 288), (361,), (323,), (454,), (356,),
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    (168, 6), (197, 195), (5,), (4,), (75,), (97,), (2,), (326,), (305,),
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)

#: preset name -> (output keypoint names, the tflite model inside the wheel, what it finds)
PRESETS = {
    "pose": (COCO17, "mediapipe/modules/pose_landmark/pose_landmark_full.tflite", "one person per image or box"),
    "hand": (HAND21, "mediapipe/modules/hand_landmark/hand_landmark_full.tflite", "up to max_instances hands"),
    "face": (FACE68, "mediapipe/modules/face_landmark/face_landmark.tflite", "up to max_instances faces"),
}
