"""Data in, data out: other tools' annotation formats to and from a segapp project.

One module per format (``labelme``, ``coco``, ``voc``, ``yolo``, ``folders``), each with an
``import_*`` that feeds a :class:`~segapp.interop.sink.ProjectSink` and an ``export_*`` that
writes a new folder; ``onnx`` exports a trained model. Arrows point one way: this package
uses ``core`` (and ``ml`` in ``onnx`` only); nothing in ``core`` or ``ml`` imports it.
"""

IMPORT_FORMATS = ("labelme", "coco", "voc", "yolo", "folders")
EXPORT_FORMATS = ("coco", "voc", "labelme", "yolo", "folders", "onnx")
