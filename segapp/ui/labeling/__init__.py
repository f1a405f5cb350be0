"""Labeling: the session (documents, proposals, autosave, prefetch), the image list, class and
model panels."""
