"""The editor's keyboard shortcuts: the one table the page, its shortcut sheet and the README follow.

Each row: action id (what the editor's code dispatches on), default keys
(lower-case `KeyboardEvent.key` names, modifiers first: "ctrl+shift+z"; a
symbol such as "?" or "+" is written without the shift it needs), what it
does, and CVAT's key for the same action (for people coming from CVAT).
A person can rebind any action in the shortcut sheet; the choice is kept in
their browser (localStorage), per user.
"""

KEYMAP = [
    # action, keys, label, CVAT's key for the same thing
    {"action": "visible", "keys": ["v"], "label": "Mark the selected keypoint visible (v=2)", "cvat": "-"},
    {"action": "occluded", "keys": ["q"], "label": "Mark the selected keypoint occluded (v=1)", "cvat": "Q (switch occluded)"},
    {"action": "unlabel", "keys": ["o"], "label": "Mark the selected keypoint not labeled (v=0)", "cvat": "O (switch outside)"},
    {"action": "skip_keypoint", "keys": ["s"], "label": "Skip the next keypoint (leave it not labeled)", "cvat": "-"},
    {"action": "next_keypoint", "keys": ["tab"], "label": "Select the next keypoint", "cvat": "Tab (next object)"},
    {"action": "prev_keypoint", "keys": ["shift+tab"], "label": "Select the previous keypoint", "cvat": "Shift+Tab (previous object)"},
    {"action": "next_instance", "keys": ["]"], "label": "Select the next instance", "cvat": "Tab"},
    {"action": "prev_instance", "keys": ["["], "label": "Select the previous instance", "cvat": "Shift+Tab"},
    {"action": "flip", "keys": ["f"], "label": "Flip the instance left/right (the skeleton's flip pairs)", "cvat": "-"},
    {"action": "new_instance", "keys": ["n"], "label": "Start a new instance", "cvat": "N (draw a new shape)"},
    {"action": "delete_instance", "keys": ["delete"], "label": "Delete the selected instance", "cvat": "Del"},
    {"action": "bbox_draw", "keys": ["b"], "label": "Draw the instance's box (then drag)", "cvat": "N with the rectangle tool"},
    {"action": "bbox_derive", "keys": ["shift+b"], "label": "Box from the keypoints, with padding", "cvat": "-"},
    {"action": "undo", "keys": ["ctrl+z"], "label": "Undo", "cvat": "Ctrl+Z"},
    {"action": "redo", "keys": ["ctrl+shift+z", "ctrl+y"], "label": "Redo", "cvat": "Ctrl+Shift+Z, Ctrl+Y"},
    {"action": "zoom_in", "keys": ["+", "="], "label": "Zoom in (or the mouse wheel)", "cvat": "mouse wheel"},
    {"action": "zoom_out", "keys": ["-"], "label": "Zoom out (or the mouse wheel)", "cvat": "mouse wheel"},
    {"action": "fit", "keys": ["0"], "label": "Fit the image to the screen", "cvat": "double-click the canvas / fit button"},
    {"action": "accept_prelabels", "keys": ["a"], "label": "Start from the model's pre-labels", "cvat": "-"},
    {"action": "save_draft", "keys": ["ctrl+s"], "label": "Save the draft now (it also saves every few seconds)", "cvat": "Ctrl+S"},
    {"action": "submit", "keys": ["enter"], "label": "Submit and go to the next image", "cvat": "Ctrl+S, then F (next frame)"},
    {"action": "skip_task", "keys": ["shift+s"], "label": "Skip this image (give it back) and take the next", "cvat": "-"},
    {"action": "release", "keys": ["shift+r"], "label": "Give this image back and stop", "cvat": "-"},
    {"action": "instructions", "keys": ["i"], "label": "Show the instructions", "cvat": "-"},
    {"action": "shortcuts", "keys": ["?"], "label": "Show this shortcut sheet", "cvat": "F1"},
    {"action": "close", "keys": ["escape"], "label": "Close a sheet; cancel box drawing", "cvat": "Esc"},
]

#: Mouse gestures: not rebindable, listed beside the keys.
GESTURES = [
    {"gesture": "click", "label": "Place the next unlabeled keypoint (skeleton order)", "cvat": "click (points tool)"},
    {"gesture": "drag a point", "label": "Move a keypoint", "cvat": "drag"},
    {"gesture": "space + drag, or middle button drag", "label": "Pan", "cvat": "drag the empty canvas"},
    {"gesture": "wheel", "label": "Zoom around the pointer", "cvat": "wheel"},
]


#: The QA review workspace's keys (frontend/static/frontend/review/review.js dispatches on `action`).
#: Digits address annotators in the order the legend lists them (1 = the first).
REVIEW_KEYMAP = [
    {"action": "toggle_annotator", "keys": ["1-9"], "label": "Show or hide annotator N's skeletons"},
    {"action": "toggle_consensus", "keys": ["c"], "label": "Show or hide the consensus"},
    {"action": "toggle_spread", "keys": ["s"], "label": "Show or hide the spread ellipses"},
    {"action": "accept_consensus", "keys": ["a"], "label": "Accept the consensus"},
    {"action": "accept_annotator", "keys": ["shift+1-9"], "label": "Accept annotator N's labels"},
    {"action": "edit", "keys": ["e"],
     "label": "Edit a copy of the consensus with the editor's tools and keys (Enter saves, Esc leaves)"},
    {"action": "reject", "keys": ["r"], "label": "Reject: click a keypoint to pin a comment, then Send back"},
    {"action": "release", "keys": ["x"], "label": "Give the task back to the queue"},
    {"action": "zoom_in", "keys": ["+", "="], "label": "Zoom in (or the mouse wheel)"},
    {"action": "zoom_out", "keys": ["-"], "label": "Zoom out (or the mouse wheel)"},
    {"action": "fit", "keys": ["0"], "label": "Fit the image to the screen"},
]
