"""Training: the Train panel (form, plots, process, estimate), versions, compare, promotion."""
