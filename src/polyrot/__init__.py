"""polyrot: a preregistered reproduction pipeline for "Polymorphism Is Rotation"."""

__version__ = "0.1.0"
