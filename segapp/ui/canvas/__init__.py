"""The image canvas: the ``QGraphicsView``, its items, navigation and polygon/lasso input."""
