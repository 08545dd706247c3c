// The editor's label actions by name (the action ids of frontend/keymap.py): the one table that the
// annotator workspace and the QA review workspace's edit mode both dispatch keys and buttons on.
// Each takes the Labels being edited and returns false when nothing changed.

import { NOT_LABELED, OCCLUDED, VISIBLE } from "./model.js";

export const LABEL_EDITS = {
  visible: (labels) => labels.setVisibility(VISIBLE),
  occluded: (labels) => labels.setVisibility(OCCLUDED),
  unlabel: (labels) => labels.setVisibility(NOT_LABELED),
  skip_keypoint: (labels) => labels.skip(),
  next_keypoint: (labels) => labels.cycleKeypoint(1),
  prev_keypoint: (labels) => labels.cycleKeypoint(-1),
  next_instance: (labels) => labels.cycleInstance(1),
  prev_instance: (labels) => labels.cycleInstance(-1),
  flip: (labels) => labels.flip(),
  new_instance: (labels) => labels.newInstance(),
  delete_instance: (labels) => labels.deleteInstance(),
  bbox_derive: (labels) => labels.deriveBox(),
  undo: (labels) => labels.undo(),
  redo: (labels) => labels.redo(),
};
